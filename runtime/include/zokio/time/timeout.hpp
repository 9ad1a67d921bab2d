#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/detail/timer_entry.hpp>
#include <zokio/task/spawn.hpp>
#include <zokio/util/result.hpp>

#include <chrono>
#include <system_error>

namespace zokio {

namespace detail {

enum class timeout_outcome { finished, timed_out, cancelled };

/// Waits for a task to finish or a deadline to pass, whichever comes first. Both registrations
/// are on the owner thread (the inner task runs on the same worker).
template <typename T>
class timeout_awaiter final : public counted_awaiter<timeout_awaiter<T>>,
                              public completion_waiter,
                              public timer_entry {
public:
  static constexpr wait_kind kind = wait_kind::timer;

  timeout_awaiter(root_promise<T>* target, std::int64_t deadline_ns, const site& where)
      : counted_awaiter<timeout_awaiter<T>>(where), m_target(target) {
    this->m_deadline_ns = deadline_ns;
    this->m_notify = [](completion_waiter* w, task_record*) noexcept {
      static_cast<timeout_awaiter*>(w)->fire();
    };
    this->m_on_fire = [](timer_entry* e) noexcept {
      auto* self = static_cast<timeout_awaiter*>(e);
      if (self->claim()) {
        self->m_timed_out = true;
        wake(self->m_task);
      }
    };
  }

  bool ready() const noexcept { return m_target->done(); }
  bool arm() {
    this->m_task->m_wait_target.store(m_target->m_id, std::memory_order_relaxed);
    if (!m_target->set_joiner(this)) {
      return false;
    }
    timer_add(this->m_task->m_worker, this);
    return true;
  }
  bool withdraw() noexcept {
    timer_remove(this->m_task->m_worker, this);
    return m_target->clear_joiner(this);
  }
  timeout_outcome take() noexcept {
    // Whichever side lost is still registered: take it back.
    timer_remove(this->m_task->m_worker, this);
    m_target->clear_joiner(this);
    if (this->m_cancelled) {
      return timeout_outcome::cancelled;
    }
    return m_timed_out ? timeout_outcome::timed_out : timeout_outcome::finished;
  }

private:
  root_promise<T>* m_target;
  bool m_timed_out = false;
};

} // namespace detail

/// Runs `t` as a task of its own on this worker and waits at most `d` for it.
///
/// - `t` finished first: its value (or its exception, rethrown).
/// - The deadline passed first: the inner task is cancelled and has unwound before this
///   returns. If it completed anyway (its operation finished in the same loop turn as the
///   deadline, before the cancellation could reach it), that outcome wins and is returned: a
///   value the operation produced is never dropped, and an operation that took effect is never
///   reported as timed out. Otherwise `std::errc::timed_out`.
/// - The awaiting task is cancelled: the inner task is cancelled too and has unwound before this
///   returns; as above its outcome wins if it completed, else `std::errc::operation_canceled`.
///
/// A duration too long to represent saturates (no deadline), it never wraps into the past.
/// Cancellation safety: whatever the inner task completed is returned, so `timeout(d, recv)`
/// never loses a message and `timeout(d, send)` never reports a delivered message as timed out.
/// Waiting for the unwinding is as prompt as the inner task's cancellation (a running
/// `spawn_blocking` job is waited for).
template <typename T, typename Rep, typename Period>
task<result<T>> timeout(std::chrono::duration<Rep, Period> d, task<T> t,
                        site where = site::current()) {
  const std::int64_t deadline = detail::deadline_after(d);
  join_handle<T> h = spawn(std::move(t), {.name = "timeout"}, where);
  detail::root_promise<T>* rec = detail::record_of(h);
  const detail::timeout_outcome how = co_await detail::timeout_awaiter<T>(rec, deadline, where);
  bool cancelled = false;
  if (how != detail::timeout_outcome::finished) {
    h.cancel();
    co_await detail::settle_awaiter<T>(rec, where);
    // Completion wins over the deadline: only an inner task that saw the cancellation (an await
    // of it failed as cancelled) was stopped; whatever it then returned or threw follows from
    // that. One that did not see it had completed its operation, and its outcome stands.
    cancelled = rec->m_cancel_seen || rec->m_outcome == detail::task_outcome::cancelled;
  } else {
    cancelled = rec->m_outcome == detail::task_outcome::cancelled;
  }
  if (cancelled) {
    try {
      (void)h.take_finished(); // observed: the handle releases instead of detaching
    } catch (...) {
      // What a cancelled task threw is the cancellation's consequence, not a failure to report.
    }
    co_return how == detail::timeout_outcome::timed_out ? std::errc::timed_out
                                                        : std::errc::operation_canceled;
  }
  if constexpr (std::is_void_v<T>) {
    h.take_finished(); // rethrows the inner task's exception
    co_return result<void>{};
  } else {
    co_return h.take_finished();
  }
}

} // namespace zokio
