#include <zokio/sync/channel.hpp>

#include "../runtime/huge_pages.hpp"

#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace zokio::detail {

void* map_queue_block(std::size_t bytes) {
#if defined(__linux__)
  if (bytes % huge_page_bytes == 0) {
    if (void* p = map_huge(bytes)) {
      return p;
    }
    throw std::bad_alloc();
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) {
    throw std::bad_alloc();
  }
  return p;
#else
  return ::operator new (bytes, std::align_val_t{4096});
#endif
}

void unmap_queue_block(void* p, std::size_t bytes) noexcept {
#if defined(__linux__)
  if (bytes % huge_page_bytes == 0) {
    unmap_huge(p, bytes); // map_queue_block's pair: the same test picks the same mapper
    return;
  }
  ::munmap(p, bytes);
#else
  (void)bytes;
  ::operator delete (p, std::align_val_t{4096});
#endif
}

} // namespace zokio::detail
