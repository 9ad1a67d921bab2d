#include <zokio/detail/frame_alloc.hpp>

#include <new>

#ifndef ZOKIO_FRAME_POOL
#define ZOKIO_FRAME_POOL 1
#endif

namespace zokio::detail {

#if ZOKIO_FRAME_POOL

namespace {

// Size classes of 64 bytes up to 2 KiB; larger frames go to operator new. Each thread keeps at
// most 4 MiB per class, so a burst of spawns does not pin memory for ever.
constexpr std::size_t granule = 64;
constexpr std::size_t classes = 32;
// Each class may cache up to 4 MiB per thread: 64 Ki frames of 64 bytes, 2 Ki of 2 KiB. Enough
// for 100,000 concurrent tasks of a typical size without a trip to malloc in steady state.
constexpr std::size_t cache_bytes_per_class = std::size_t{4} << 20;

struct free_block {
  free_block* next;
};

// Set once this thread's pool is destroyed: frames freed later (by other thread-local or static
// destructors) go straight back to operator delete.
thread_local bool t_pool_gone = false;

struct pool {
  free_block* heads[classes] = {};
  std::size_t counts[classes] = {};

  ~pool() {
    t_pool_gone = true;
    for (std::size_t c = 0; c < classes; ++c) {
      while (heads[c] != nullptr) {
        free_block* b = heads[c];
        heads[c] = b->next;
        ::operator delete(b);
      }
    }
  }
};

thread_local pool t_pool;

std::size_t class_of(std::size_t size) noexcept {
  return (size + granule - 1) / granule - 1;
}

} // namespace

void* frame_alloc(std::size_t size) {
  const std::size_t c = class_of(size);
  if (c >= classes) {
    return ::operator new(size);
  }
  pool& p = t_pool;
  if (free_block* b = p.heads[c]; b != nullptr) {
    p.heads[c] = b->next;
    --p.counts[c];
    return b;
  }
  return ::operator new((c + 1) * granule);
}

void frame_free(void* ptr, std::size_t size) noexcept {
  const std::size_t c = class_of(size);
  if (c >= classes) {
    ::operator delete(ptr);
    return;
  }
  if (t_pool_gone) {
    ::operator delete(ptr);
    return;
  }
  pool& p = t_pool;
  if (p.counts[c] >= cache_bytes_per_class / ((c + 1) * granule)) {
    ::operator delete(ptr);
    return;
  }
  auto* b = static_cast<free_block*>(ptr);
  b->next = p.heads[c];
  p.heads[c] = b;
  ++p.counts[c];
}

#else

void* frame_alloc(std::size_t size) {
  return ::operator new(size);
}
void frame_free(void* p, std::size_t) noexcept {
  ::operator delete(p);
}

#endif

} // namespace zokio::detail
