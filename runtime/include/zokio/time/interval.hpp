#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/detail/timer_entry.hpp>
#include <zokio/util/site.hpp>

#include <chrono>
#include <cstdint>
#include <stdexcept>

namespace zokio {

class interval;

namespace detail {

class interval_awaiter final : public counted_awaiter<interval_awaiter>, public timer_entry {
public:
  static constexpr wait_kind kind = wait_kind::timer;

  interval_awaiter(interval& iv, std::int64_t deadline_ns, const site& where) noexcept
      : counted_awaiter<interval_awaiter>(where), m_interval(iv) {
    m_deadline_ns = deadline_ns;
  }

  bool ready() const noexcept { return m_deadline_ns <= now_ns(); }
  bool arm() {
    m_on_fire = [](timer_entry* e) noexcept { static_cast<interval_awaiter*>(e)->fire(); };
    timer_add(m_task->m_worker, this);
    return true;
  }
  bool withdraw() noexcept {
    timer_remove(m_task->m_worker, this);
    return true;
  }
  inline std::chrono::steady_clock::time_point take();

private:
  interval& m_interval;
};

} // namespace detail

/// A periodic timer: `auto iv = zokio::interval(10ms); for (;;) { co_await iv.tick(); ... }`.
/// The first tick completes at once; each later one a period after the one before.
///
/// Missed ticks are not bunched up (Tokio's `MissedTickBehavior::Delay`): a tick awaited late
/// completes at once, and the next deadline is then one period from now, never a burst of
/// immediate ticks to catch up. (A tick counts as late 5 ms, or one period if that is shorter,
/// after its deadline; below that the schedule is kept, so timer jitter does not make it drift.)
/// Ticks never come early.
///
/// Each tick is a deadline in the worker's timer heap, like `sleep_for`: no allocation per tick.
/// Thread-safety: one task ticks an interval at a time, on the worker it runs on.
class interval {
public:
  /// Throws `std::invalid_argument` for a period that is not positive. A period too long to
  /// represent in nanoseconds saturates: the ticks after the first never come.
  template <typename Rep, typename Period>
  explicit interval(std::chrono::duration<Rep, Period> period)
      : m_period_ns(detail::saturating_ns(period)), m_next_ns(detail::now_ns()) {
    if (m_period_ns <= 0) {
      throw std::invalid_argument("zokio::interval: the period must be positive");
    }
  }

  /// Waits for the next tick and returns the time it was due. Cancellation: the timer is
  /// removed, the schedule is unchanged, and the await throws `operation_cancelled`.
  detail::interval_awaiter tick(const char* file = __builtin_FILE(),
                                std::uint32_t line = __builtin_LINE()) noexcept {
    return tick(site{file, "", line});
  }
  /// As above, recording `where` as the await's site.
  detail::interval_awaiter tick(const site& where) noexcept {
    return detail::interval_awaiter(*this, m_next_ns, where);
  }

  /// The next tick is due one period from now.
  void reset() noexcept { m_next_ns = detail::saturating_add(detail::now_ns(), m_period_ns); }

  std::chrono::nanoseconds period() const noexcept { return std::chrono::nanoseconds(m_period_ns); }

private:
  friend class detail::interval_awaiter;

  /// A tick completing later than this after its deadline was missed (Tokio's threshold).
  /// Timers fire up to a millisecond late (libuv counts whole milliseconds), which must not
  /// shift the schedule.
  static constexpr std::int64_t late_ns = 5'000'000;

  /// Called when the tick due at `due_ns` completes: schedule the next one. On time, it is a
  /// period after `due_ns` (no drift); late, a period from now (no burst).
  void advance(std::int64_t due_ns) noexcept {
    const std::int64_t now = detail::now_ns();
    // Late by more than the tolerance: restart from now. Within it, the next deadline is still
    // ahead (the tolerance is at most a period), so keeping the schedule never fires at once.
    const std::int64_t tolerance = late_ns < m_period_ns ? late_ns : m_period_ns;
    const std::int64_t from = detail::saturating_sub(now, due_ns) > tolerance ? now : due_ns;
    m_next_ns = detail::saturating_add(from, m_period_ns);
  }

  std::int64_t m_period_ns;
  std::int64_t m_next_ns;
};

namespace detail {

inline std::chrono::steady_clock::time_point interval_awaiter::take() {
  throw_if_cancel_requested();
  m_interval.advance(m_deadline_ns);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::nanoseconds(m_deadline_ns)));
}

} // namespace detail

} // namespace zokio
