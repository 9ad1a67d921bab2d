#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/detail/timer_entry.hpp>
#include <zokio/util/site.hpp>

#include <chrono>

namespace zokio {

namespace detail {

class sleep_awaiter final : public counted_awaiter<sleep_awaiter>, public timer_entry {
public:
  static constexpr wait_kind kind = wait_kind::timer;

  sleep_awaiter(std::int64_t deadline_ns, const site& where) noexcept
      : counted_awaiter<sleep_awaiter>(where) {
    m_deadline_ns = deadline_ns;
  }

  bool ready() const noexcept { return m_deadline_ns <= now_ns(); }
  bool arm() {
    // The heap fires an entry it has removed, on the owner thread, where withdraw() removes it:
    // one or the other.
    m_on_fire = [](timer_entry* e) noexcept { static_cast<sleep_awaiter*>(e)->fire_exclusive(); };
    timer_add(m_task->m_worker, this);
    return true;
  }
  bool withdraw() noexcept {
    timer_remove(m_task->m_worker, this);
    return true;
  }
  void take() const { throw_if_cancel_requested(); }
};

} // namespace detail

/// Suspends the task for at least `d` on the worker's timer (one libuv timer per worker drives
/// a heap of deadlines; no allocation per sleep). A zero or negative duration completes at once
/// (but still through the loop under `force_async`); one too long to represent in nanoseconds
/// (`seconds::max()`) saturates and never ends, rather than wrapping into the past.
///
/// Thread-safety: await it from a task. Cancellation: the timer is removed and the await throws
/// `operation_cancelled`.
template <typename Rep, typename Period>
detail::sleep_awaiter sleep_for(std::chrono::duration<Rep, Period> d,
                                const char* file = __builtin_FILE(),
                                std::uint32_t line = __builtin_LINE()) {
  return detail::sleep_awaiter(detail::deadline_after(d), site{file, "", line});
}
/// As above, recording `where` as the await's site.
template <typename Rep, typename Period>
detail::sleep_awaiter sleep_for(std::chrono::duration<Rep, Period> d, const site& where) {
  return detail::sleep_awaiter(detail::deadline_after(d), where);
}

/// Suspends the task until `deadline` (steady_clock). As `sleep_for`.
template <typename Duration>
detail::sleep_awaiter
sleep_until(std::chrono::time_point<std::chrono::steady_clock, Duration> deadline,
            const char* file = __builtin_FILE(), std::uint32_t line = __builtin_LINE()) {
  return detail::sleep_awaiter(detail::deadline_at(deadline), site{file, "", line});
}
/// As above, recording `where` as the await's site.
template <typename Duration>
detail::sleep_awaiter
sleep_until(std::chrono::time_point<std::chrono::steady_clock, Duration> deadline,
            const site& where) {
  return detail::sleep_awaiter(detail::deadline_at(deadline), where);
}

} // namespace zokio
