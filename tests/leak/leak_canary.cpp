// leak_canary: leaks on purpose, so that tests/leak can prove LeakSanitizer runs and reports.
//
// The block is allocated through a volatile pointer and then forgotten, so the optimiser keeps
// the allocation and no live pointer to it is left when the process exits.

#include <cstdio>
#include <cstring>

namespace {

void* volatile g_sink = nullptr;

} // namespace

int main() {
  g_sink = new char[4096];
  std::memset(g_sink, 0x5a, 4096);
  g_sink = nullptr;
  std::puts("leak_canary: leaked 4096 bytes on purpose");
  return 0;
}
