#pragma once

#include <zokio/detail/duration.hpp>
#include <zokio/detail/worker_core.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace zokio::detail {

/// One deadline in a worker's timer heap. The entry lives in the awaiter that armed it (inside a
/// suspended frame), so arming a timer allocates nothing; the awaiter removes it before it dies.
/// Owner thread only.
struct timer_entry {
  static constexpr std::size_t not_armed = std::numeric_limits<std::size_t>::max();
  std::int64_t m_deadline_ns = 0; // steady_clock
  std::uint64_t m_seq = 0;        // FIFO among equal deadlines
  std::size_t m_heap_index = not_armed;
  void (*m_on_fire)(timer_entry*) noexcept = nullptr;

  bool armed() const noexcept { return m_heap_index != not_armed; }
};

void timer_add(worker_core* w, timer_entry* e);
void timer_remove(worker_core* w, timer_entry* e) noexcept;

inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// The deadline `d` from now, in steady_clock nanoseconds. A negative `d` is now; one too long to
/// represent is never (the maximum), not a wrapped-around moment in the past.
template <typename Rep, typename Period>
std::int64_t deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  std::int64_t ns = saturating_ns(d);
  if (ns < 0) {
    ns = 0;
  }
  return saturating_add(now_ns(), ns);
}

/// A steady_clock time point of any unit as a deadline in nanoseconds, saturated; one before the
/// clock's epoch (`time_point::min()`) is the epoch: long past either way.
template <typename Duration>
std::int64_t deadline_at(std::chrono::time_point<std::chrono::steady_clock, Duration> t) noexcept {
  const std::int64_t ns = saturating_ns(t.time_since_epoch());
  return ns < 0 ? 0 : ns;
}

} // namespace zokio::detail
