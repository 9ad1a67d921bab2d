#include "huge_pages.hpp"

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace zokio::detail {

void* map_huge(std::size_t bytes) noexcept {
#if defined(__linux__)
  // Mapped with a huge page's room to align it, then trimmed on both sides.
  const std::size_t len = bytes + huge_page_bytes;
  void* raw = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    return nullptr;
  }
  const auto addr = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned =
      (addr + huge_page_bytes - 1) & ~(std::uintptr_t{huge_page_bytes} - 1);
  if (aligned > addr) {
    ::munmap(raw, aligned - addr);
  }
  const std::uintptr_t end = addr + len;
  if (end > aligned + bytes) {
    ::munmap(reinterpret_cast<void*>(aligned + bytes), end - (aligned + bytes));
  }
  auto* p = reinterpret_cast<void*>(aligned);
#if defined(MADV_HUGEPAGE)
  (void)::madvise(p, bytes, MADV_HUGEPAGE);
#endif
#if !defined(MADV_POPULATE_WRITE)
#define MADV_POPULATE_WRITE 23 // Linux 5.14; older kernels refuse it and pages fault in as used
#endif
  (void)::madvise(p, bytes, MADV_POPULATE_WRITE);
  return p;
#else
  (void)bytes;
  return nullptr;
#endif
}

void unmap_huge(void* p, std::size_t bytes) noexcept {
#if defined(__linux__)
  ::munmap(p, bytes);
#else
  (void)p;
  (void)bytes;
#endif
}

} // namespace zokio::detail
