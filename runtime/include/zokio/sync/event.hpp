#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/detail/waiter_list.hpp>
#include <zokio/util/site.hpp>

#include <atomic>
#include <mutex>

// A manual-reset event shared by tasks on any worker and by outside threads.
//
// Shared state: `m_mutex` guards the waiter list and the flag's transitions; `m_set` is also an
// atomic so that a set event is seen without the lock. Waiters live in their suspended frames
// and are unlinked under the lock either by `set()` (which then wakes them) or by cancellation.

namespace zokio {

class event;

namespace detail {

class event_awaiter final : public counted_awaiter<event_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::event;

  event_awaiter(event& e, const site& where) noexcept
      : counted_awaiter<event_awaiter>(where), m_event(e) {}

  bool ready() const noexcept;
  bool arm();
  bool withdraw() noexcept;
  void take() const { throw_if_cancelled(); }

  event_awaiter* m_prev = nullptr;
  event_awaiter* m_next = nullptr;

private:
  event& m_event;
};

} // namespace detail

/// An event tasks can wait for. `set()` wakes every waiter and lets later waits pass until
/// `reset()`. Thread-safe: `set()` and `reset()` may be called from any thread.
class event {
public:
  explicit event(bool initially_set = false) noexcept : m_set(initially_set) {}
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  void set() noexcept;
  void reset() noexcept;
  /// Whether the event is set. Read under the event's lock, so that once it says true, set() is
  /// done with the event: a task may then destroy it (also after a wait() that completed at once).
  bool is_set() const noexcept;

  /// Waits until the event is set. Cancellation: the waiter is removed and the await throws
  /// `operation_cancelled`. The event must outlive its waiters.
  detail::event_awaiter wait(const char* file = __builtin_FILE(),
                             std::uint32_t line = __builtin_LINE()) noexcept {
    return wait(site{file, "", line});
  }
  /// As above, recording `where` as the await's site.
  detail::event_awaiter wait(const site& where) noexcept {
    return detail::event_awaiter(*this, where);
  }

private:
  friend class detail::event_awaiter;

  mutable std::mutex m_mutex;
  bool m_set; // under m_mutex
  detail::waiter_list<detail::event_awaiter> m_waiters;
};

} // namespace zokio
