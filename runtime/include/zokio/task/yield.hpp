#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/util/site.hpp>

namespace zokio {

namespace detail {

class yield_awaiter final : public counted_awaiter<yield_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::yield;

  explicit yield_awaiter(const site& where) noexcept : counted_awaiter<yield_awaiter>(where) {}

  bool ready() const noexcept { return false; } // a yield always gives the worker up
  bool can_complete_inline() const noexcept { return true; }
  bool arm() noexcept {
    m_claimed.store(true, std::memory_order_relaxed);
    m_task->m_worker->local_wake(m_task);
    return true;
  }
  bool withdraw() const noexcept { return false; } // already queued: it resumes soon
  void take() const { throw_if_cancel_requested(); }
};

} // namespace detail

/// Puts the task at the back of its worker's ready queue, so other tasks and I/O run first. An
/// awaitable: no coroutine frame is allocated.
/// Cancellation: throws `operation_cancelled` when the task was cancelled.
inline detail::yield_awaiter yield_now(const char* file = __builtin_FILE(),
                                       std::uint32_t line = __builtin_LINE()) noexcept {
  return detail::yield_awaiter(site{file, "", line});
}
/// As above, recording `where` as the await's site.
inline detail::yield_awaiter yield_now(const site& where) noexcept {
  return detail::yield_awaiter(where);
}

} // namespace zokio
