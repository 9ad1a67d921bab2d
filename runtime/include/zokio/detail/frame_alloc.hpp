#pragma once

#include <cstddef>

namespace zokio::detail {

// Coroutine frames come from per-thread free lists sorted by size class, so spawning and
// finishing a task costs no trip to the global allocator once the lists are warm. A block freed
// on another thread joins that thread's list. Builds with ZOKIO_FRAME_POOL=OFF (the sanitizer
// presets) use plain operator new so that ASan sees every frame.
void* frame_alloc(std::size_t size);
void frame_free(void* p, std::size_t size) noexcept;

/// Mixed into every promise type of the runtime.
struct pooled_frame {
  static void* operator new(std::size_t size) { return frame_alloc(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_free(p, size); }
};

} // namespace zokio::detail
