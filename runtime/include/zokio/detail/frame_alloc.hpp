#pragma once

#include <cstddef>

namespace zokio::detail {

// Coroutine frames come from per-thread free lists sorted by size class, refilled from slabs
// (huge-page backed once a thread has used a MiB), so spawning and finishing a task costs no trip
// to the global allocator and a storm of spawns few page faults. A block freed on another thread
// joins that thread's list; lists past their cap hand half to a shared depot. Builds with
// ZOKIO_FRAME_POOL=OFF (the sanitizer presets) use plain operator new so that ASan sees every
// frame. runtime/src/runtime/frame_alloc.cpp has the details.
void* frame_alloc(std::size_t size);
void frame_free(void* p, std::size_t size) noexcept;
/// Bytes of slab the pool has taken from the system so far (0 without the pool). The pool keeps
/// them for reuse; this grows only when more frames are live at once than ever before.
std::size_t frame_pool_reserved_bytes() noexcept;

/// Mixed into every promise type of the runtime.
struct pooled_frame {
  static void* operator new(std::size_t size) { return frame_alloc(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_free(p, size); }
};

} // namespace zokio::detail
