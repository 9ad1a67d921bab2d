// Fuzz target: `zokio-bench compare`'s reader of zokio.bench/1 documents
// (tools/zokio-bench/driver/compare_input.cpp) and the comparison after it (compare.cpp,
// stats.cpp). The input is one document, or two separated by a NUL byte (BASE, then HEAD). Each
// document must either be read or refused with a compare_input_error of one line that names it
// (`zokio-bench compare` prints it and exits 2): never another exception, never a crash. Two
// documents that were read are compared as the tool would (the table goes to /dev/null), which
// must give 0, 1 or 2; every Mann-Whitney p-value must be within [0, 1]; and a document compared
// with itself never regresses.
//
// Built with libFuzzer in the sanitizer tree (tests/fuzz/CMakeLists.txt); every tree also builds
// a replay of the committed corpus (tests/fuzz/corpus/bench_compare).

#include "compare_input.hpp"

#include "compare.hpp"
#include "stats.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace {

using zokio::bench::compare_entry;
using report = std::map<std::string, compare_entry>;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "bench_compare_fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

std::optional<report> read(std::string_view text, const std::string& name) {
  try {
    return zokio::bench::parse_compare_input(text, name);
  } catch (const zokio::bench::compare_input_error& e) {
    const std::string line = e.what();
    if (line.rfind(name + ": ", 0) != 0) {
      fail("an error that does not start with the input's name", line);
    }
    if (line.find('\n') != std::string::npos || line.size() > 4096) {
      fail("an error that is not one line", line);
    }
    return std::nullopt;
  } catch (const std::bad_alloc&) {
    return std::nullopt;
  } catch (const std::exception& e) {
    fail("an exception other than compare_input_error", e.what());
  } catch (...) {
    fail("an exception other than compare_input_error", "(not a std::exception)");
  }
}

std::FILE* sink() {
  static std::FILE* const f = std::fopen("/dev/null", "w");
  if (f == nullptr) {
    fail("cannot open /dev/null", "");
  }
  return f;
}

void check_p(const compare_entry& a, const compare_entry& b) {
  const double p = zokio::bench::mann_whitney_p(a.samples, b.samples);
  if (!(p >= 0 && p <= 1)) {
    fail("a p-value outside [0, 1]", std::to_string(p));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256 * 1024) {
    return 0;
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = text.find('\0');
  const std::optional<report> base = read(text.substr(0, nul), "base.json");
  const std::optional<report> head =
      nul == std::string_view::npos ? base : read(text.substr(nul + 1), "head.json");
  if (!base || !head) {
    return 0;
  }
  std::size_t pairs = 0;
  for (const auto& [name, b] : *base) {
    if (const auto h = head->find(name); h != head->end() && ++pairs <= 64) {
      check_p(b, h->second);
    }
  }
  const int code =
      zokio::bench::compare_reports(*base, *head, 0.05, sink(), sink(), "base.json", "head.json");
  if (code < 0 || code > 2) {
    fail("compare gave an exit code other than 0, 1 or 2", std::to_string(code));
  }
  const int self =
      zokio::bench::compare_reports(*base, *base, 0.05, sink(), sink(), "base.json", "base.json");
  if (self == 1) {
    fail("a report compared with itself regressed", std::string(text.substr(0, nul)));
  }
  return 0;
}
