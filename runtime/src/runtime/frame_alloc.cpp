#include <zokio/detail/frame_alloc.hpp>

#include "huge_pages.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>
#include <type_traits>

#ifndef ZOKIO_FRAME_POOL
#define ZOKIO_FRAME_POOL 1
#endif

// The frame pool (see docs/decisions.md, "Frames come from slabs"):
//
// - Size classes of 16 bytes from 32 bytes up to 2 KiB; larger frames go to operator new.
// - Each thread keeps a free list per class. Allocating and freeing are a pointer pop and push;
//   a block freed on another thread joins that thread's list.
// - An empty list is refilled from the depot (batches other threads gave up), then by carving
//   new blocks from the thread's current slab: up to 32 at once (8 KiB at most), so that a storm
//   of spawns takes the depot's lock once per batch, not once per frame. A thread's first MiB of
//   slabs comes in 64 KiB
//   pieces; after that a slab is 2 MiB, aligned and marked for transparent huge pages and
//   populated in one call, so a storm of 100,000 spawns takes a handful of page faults rather
//   than ten thousand (measured in docs/decisions.md).
// - A list that reaches its cap is set aside whole as the class's spare batch (the spare there
//   was goes to the depot), so blocks freed on one thread and allocated on another (spawn_on
//   storms) circulate instead of piling up: the memory the pool holds is bounded by the peak of
//   live frames plus two caps per class per thread. No path walks a list.
// - Slab memory is kept for reuse by the process and never returned to the system; a thread
//   that exits gives its lists and the rest of its slab to the depot.

namespace zokio::detail {

#if ZOKIO_FRAME_POOL

namespace {

constexpr std::size_t granule = 16;
constexpr std::size_t min_block = 32;
constexpr std::size_t max_block = 2048;
constexpr std::size_t classes = max_block / granule; // class c holds blocks of (c + 1) * 16 bytes
constexpr std::size_t small_slab = std::size_t{64} << 10;
constexpr std::size_t huge_slab = huge_page_bytes;
// A thread carves this much in small slabs before it moves to huge ones, so a program that
// spawns a few tasks does not pay 2 MiB per thread.
constexpr std::size_t small_slab_budget = std::size_t{1} << 20;
// Bytes a thread keeps on one class's list before it is set aside as a batch (and the batch set
// aside before goes to the depot).
constexpr std::size_t cache_bytes_per_class = std::size_t{512} << 10;
// An empty list with nothing in the depot is refilled with up to this many blocks from the slab,
// and no more bytes than carve_ahead_bytes (well under a list's cap of at least 64 blocks).
constexpr std::size_t carve_ahead = 32;
constexpr std::size_t carve_ahead_bytes = std::size_t{8} << 10;

std::size_t class_of(std::size_t size) noexcept {
  if (size < min_block) {
    size = min_block;
  }
  return (size + granule - 1) / granule - 1;
}

constexpr std::size_t block_size(std::size_t c) noexcept {
  return (c + 1) * granule;
}

// How many blocks a thread's list of each class may hold (at least 64).
constexpr auto cap_blocks = [] {
  std::array<std::uint32_t, classes> caps{};
  for (std::size_t c = 0; c < classes; ++c) {
    const std::size_t n = cache_bytes_per_class / block_size(c);
    caps[c] = static_cast<std::uint32_t>(n < 64 ? 64 : n);
  }
  return caps;
}();

struct free_block {
  free_block* next;
};

// The first block of a batch in the depot: the batch's own list, the next batch, its length.
struct batch_head {
  free_block* next; // the rest of this batch (same layout as free_block)
  batch_head* next_batch;
  std::size_t count;
};
static_assert(sizeof(batch_head) <= min_block);

// A slab's unused rest, given up by an exiting thread, carved by the next one that needs it.
struct spare_slab {
  spare_slab* next;
  std::size_t bytes;
};

std::atomic<std::size_t> g_reserved{0};

// Shared by every thread, touched only on the slow paths (a list past its cap, an empty list,
// a thread exit), under one lock.
struct depot {
  std::mutex lock;
  batch_head* batches[classes] = {};
  spare_slab* spares = nullptr;

  void put(std::size_t c, free_block* first, std::size_t count) noexcept {
    auto* b = reinterpret_cast<batch_head*>(first);
    b->count = count;
    std::lock_guard g(lock);
    b->next_batch = batches[c];
    batches[c] = b;
  }

  /// A batch of class c, or null; `count` is set to its length.
  free_block* take(std::size_t c, std::size_t& count) noexcept {
    std::lock_guard g(lock);
    batch_head* b = batches[c];
    if (b == nullptr) {
      return nullptr;
    }
    batches[c] = b->next_batch;
    count = b->count;
    return reinterpret_cast<free_block*>(b);
  }

  void put_spare(char* p, std::size_t bytes) noexcept {
    if (bytes < max_block) {
      return; // too small to be worth keeping
    }
    auto* s = reinterpret_cast<spare_slab*>(p);
    s->bytes = bytes;
    std::lock_guard g(lock);
    s->next = spares;
    spares = s;
  }

  spare_slab* take_spare() noexcept {
    std::lock_guard g(lock);
    spare_slab* s = spares;
    if (s != nullptr) {
      spares = s->next;
    }
    return s;
  }
};

depot& the_depot() noexcept {
  // Never destroyed: threads exit, and hand their blocks over, after static destructors run.
  static depot* d = new depot;
  return *d;
}

// Whether a thread's pool may be used (see t_pool below).
enum class pool_state : unsigned char { fresh, ready, gone };

struct pool {
  pool_state state = pool_state::fresh;
  free_block* heads[classes] = {};
  std::uint32_t counts[classes] = {};
  // A full batch set aside when a list reached its cap: taken back whole when the list runs
  // dry, handed to the depot when the list fills up again. Neither needs a walk of the list.
  free_block* spare_heads[classes] = {};
  std::uint32_t spare_counts[classes] = {};
  char* slab = nullptr;
  char* slab_end = nullptr;
  std::size_t carved = 0; // slab bytes this thread has taken

  void give_back() noexcept;

  void* refill(std::size_t c) {
    if (free_block* b = spare_heads[c]; b != nullptr) {
      heads[c] = b->next;
      counts[c] = spare_counts[c] - 1;
      spare_heads[c] = nullptr;
      spare_counts[c] = 0;
      return b;
    }
    std::size_t count = 0;
    if (free_block* b = the_depot().take(c, count); b != nullptr) {
      heads[c] = b->next;
      counts[c] = static_cast<std::uint32_t>(count - 1);
      return b;
    }
    return carve_batch(c);
  }

  /// Carves a block of class c, and up to carve_ahead - 1 more (within carve_ahead_bytes and the
  /// current slab) onto its empty list, lowest address first.
  void* carve_batch(std::size_t c) {
    const std::size_t bytes = block_size(c);
    void* first = carve(bytes);
    std::size_t n = std::min<std::size_t>(carve_ahead - 1, carve_ahead_bytes / bytes);
    n = std::min<std::size_t>(n, static_cast<std::size_t>(slab_end - slab) / bytes);
    char* base = slab;
    slab += n * bytes;
    free_block* head = heads[c];
    for (std::size_t i = n; i-- > 0;) {
      auto* b = reinterpret_cast<free_block*>(base + i * bytes);
      b->next = head;
      head = b;
    }
    heads[c] = head;
    counts[c] += static_cast<std::uint32_t>(n);
    return first;
  }

  void* carve(std::size_t bytes) {
    if (static_cast<std::size_t>(slab_end - slab) < bytes) {
      new_slab();
    }
    void* p = slab;
    slab += bytes;
    return p;
  }

  void new_slab() {
    the_depot().put_spare(slab, static_cast<std::size_t>(slab_end - slab));
    if (spare_slab* s = the_depot().take_spare(); s != nullptr) {
      slab = reinterpret_cast<char*>(s);
      slab_end = slab + s->bytes;
      return;
    }
    std::size_t bytes = small_slab;
    char* p = nullptr;
    if (carved >= small_slab_budget) {
      p = static_cast<char*>(map_huge(huge_slab)); // aligned, huge pages, populated
      bytes = huge_slab;
    }
    if (p == nullptr) {
      bytes = small_slab;
      p = static_cast<char*>(::operator new(bytes)); // kept by the pool for the process's life
    }
    carved += bytes;
    g_reserved.fetch_add(bytes, std::memory_order_relaxed);
    slab = p;
    slab_end = p + bytes;
  }

  /// Class c's list is full: it becomes the spare batch, and the spare batch there was goes to
  /// the depot.
  void spill(std::size_t c) noexcept {
    if (spare_heads[c] != nullptr) {
      the_depot().put(c, spare_heads[c], spare_counts[c]);
    }
    spare_heads[c] = heads[c];
    spare_counts[c] = counts[c];
    heads[c] = nullptr;
    counts[c] = 0;
  }
};

// The pool is trivially destructible and constant-initialized, so the fast paths reach it at a
// fixed offset from the thread pointer with no guard. Its state says whether it may be used:
// `fresh` until the thread's first allocation or free, which arms the exit hook (a thread_local
// with a destructor, whose first use registers it with the C++ runtime) on the slow path; `ready`
// after that; `gone` once the hook has run: frames freed or allocated later on this thread (by
// other thread-local or static destructors) go through the depot and operator new. With the
// registration (a call) off the fast paths, each is a dozen instructions (docs/decisions.md has
// the callgrind counts before and after).
static_assert(std::is_trivially_destructible_v<pool>);
thread_local pool t_pool;

struct pool_exit_hook {
  bool armed = false;
  ~pool_exit_hook() {
    t_pool.state = pool_state::gone; // first: nothing below may arm the hook again
    t_pool.give_back();
  }
};
thread_local pool_exit_hook t_pool_exit;

void pool::give_back() noexcept {
  for (std::size_t c = 0; c < classes; ++c) {
    if (heads[c] != nullptr) {
      the_depot().put(c, heads[c], counts[c]);
      heads[c] = nullptr;
      counts[c] = 0;
    }
    if (spare_heads[c] != nullptr) {
      the_depot().put(c, spare_heads[c], spare_counts[c]);
      spare_heads[c] = nullptr;
      spare_counts[c] = 0;
    }
  }
  the_depot().put_spare(slab, static_cast<std::size_t>(slab_end - slab));
  slab = slab_end = nullptr;
}

/// False when the pool is gone (the thread is exiting); arms the exit hook on first use.
bool pool_usable() noexcept {
  if (t_pool.state == pool_state::gone) {
    return false;
  }
  t_pool_exit.armed = true; // registers the hook's destructor
  t_pool.state = pool_state::ready;
  return true;
}

[[gnu::noinline]] void* alloc_slow(std::size_t c) {
  if (t_pool.state != pool_state::ready && !pool_usable()) {
    return ::operator new(block_size(c)); // joins the pool when it is freed
  }
  pool& p = t_pool;
  if (free_block* b = p.heads[c]; b != nullptr) {
    p.heads[c] = b->next;
    --p.counts[c];
    return b;
  }
  return p.refill(c);
}

[[gnu::noinline]] void free_slow(free_block* b, std::size_t c) noexcept {
  if (t_pool.state != pool_state::ready && !pool_usable()) {
    b->next = nullptr;
    the_depot().put(c, b, 1);
    return;
  }
  pool& p = t_pool;
  b->next = p.heads[c];
  p.heads[c] = b;
  if (++p.counts[c] >= cap_blocks[c]) {
    p.spill(c);
  }
}

} // namespace

void* frame_alloc(std::size_t size) {
  const std::size_t c = class_of(size);
  if (c >= classes) {
    return ::operator new(size);
  }
  pool& p = t_pool;
  free_block* b = p.heads[c];
  if (p.state != pool_state::ready || b == nullptr) [[unlikely]] {
    return alloc_slow(c);
  }
  p.heads[c] = b->next;
  --p.counts[c];
  return b;
}

void frame_free(void* ptr, std::size_t size) noexcept {
  const std::size_t c = class_of(size);
  if (c >= classes) {
    ::operator delete(ptr);
    return;
  }
  auto* b = static_cast<free_block*>(ptr);
  pool& p = t_pool;
  if (p.state != pool_state::ready || p.counts[c] + 1 >= cap_blocks[c]) [[unlikely]] {
    free_slow(b, c);
    return;
  }
  b->next = p.heads[c];
  p.heads[c] = b;
  ++p.counts[c];
}

std::size_t frame_pool_reserved_bytes() noexcept {
  return g_reserved.load(std::memory_order_relaxed);
}

#else

void* frame_alloc(std::size_t size) {
  return ::operator new(size);
}
void frame_free(void* p, std::size_t) noexcept {
  ::operator delete(p);
}
std::size_t frame_pool_reserved_bytes() noexcept {
  return 0;
}

#endif

} // namespace zokio::detail
