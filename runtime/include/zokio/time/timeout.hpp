#pragma once

#include <zokio/detail/awaitable.hpp>
#include <zokio/detail/awaiter.hpp>
#include <zokio/detail/timer_entry.hpp>
#include <zokio/task/spawn.hpp>
#include <zokio/util/error.hpp>
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
    if (!m_target->set_joiner(this, same_worker())) {
      return false;
    }
    timer_add(this->m_task->m_worker, this);
    return true;
  }
  bool withdraw() noexcept {
    timer_remove(this->m_task->m_worker, this);
    return m_target->clear_joiner(this, same_worker());
  }
  timeout_outcome take() noexcept {
    // Whichever side lost is still registered: take it back.
    timer_remove(this->m_task->m_worker, this);
    m_target->clear_joiner(this, same_worker());
    if (this->m_cancelled) {
      return timeout_outcome::cancelled;
    }
    return m_timed_out ? timeout_outcome::timed_out : timeout_outcome::finished;
  }

private:
  /// The operation runs on this task's worker (timeout_impl spawns it there): its completion is
  /// registered and withdrawn without a locked instruction (task_record::set_joiner).
  bool same_worker() const noexcept { return m_target->same_worker_as(this->m_task); }

  root_promise<T>* m_target;
  bool m_timed_out = false;
};

/// What a `timeout` over an operation producing `T` gives: `result<T>`, and for an operation
/// that already produces a `result<U>`, that same `result<U>` (never a result of a result).
template <typename T>
struct timeout_value {
  using type = result<T>;
};
template <typename U>
struct timeout_value<result<U>> {
  using type = result<U>;
};
template <typename T>
using timeout_value_t = typename timeout_value<T>::type;

/// A deadline that is either absolute (steady_clock nanoseconds) or a duration counted from the
/// moment the timeout task starts.
struct timeout_deadline {
  std::int64_t ns = 0;
  bool relative = false;

  std::int64_t resolve() const noexcept {
    return relative ? saturating_add(now_ns(), ns < 0 ? 0 : ns) : ns;
  }
};

template <typename T>
task<timeout_value_t<T>> timeout_impl(timeout_deadline when, task<T> t, site where) {
  const std::int64_t deadline = when.resolve();
  worker_core* w = t_worker; // this task's: the operation runs on its worker
  if (w == nullptr) [[unlikely]] {
    throw_no_runtime("zokio::timeout");
  }
  join_handle<T> h = spawn_on_worker(w, std::move(t), timeout_name, where);
  root_promise<T>* rec = record_of(h);
  const timeout_outcome how = co_await timeout_awaiter<T>(rec, deadline, where);
  bool cancelled = false;
  if (how != timeout_outcome::finished) {
    h.cancel();
    co_await settle_awaiter<T>(rec, where);
    // Completion wins over the deadline: only an inner task that saw the cancellation (an await
    // of it failed as cancelled) was stopped; whatever it then returned or threw follows from
    // that. One that did not see it had completed its operation, and its outcome stands.
    cancelled = rec->m_cancel_seen || rec->m_outcome == task_outcome::cancelled;
  } else {
    cancelled = rec->m_outcome == task_outcome::cancelled;
  }
  if (cancelled) {
    try {
      (void)h.take_finished(); // observed: the handle releases instead of detaching
    } catch (...) {
      // What a cancelled task threw is the cancellation's consequence, not a failure to report.
    }
    if (how == timeout_outcome::timed_out) {
      co_return zokio::errc::timed_out;
    }
    co_return std::errc::operation_canceled;
  }
  if constexpr (std::is_void_v<T>) {
    h.take_finished(); // rethrows the inner task's exception
    co_return result<void>{};
  } else {
    co_return h.take_finished(); // a T, or the inner result<U> as it is
  }
}

} // namespace detail

/// Waits at most `d` for `x`: a task, a `join_handle` (lvalue: the handle stays yours, and the
/// task it joins keeps running if the wait times out, as with Tokio) or any runtime awaitable
/// (`s.read_some(buf)`, `rx.recv()`, `tx.send(v)`, `m.lock()`, `sem.acquire()`, `ev.wait()`,
/// `sleep_for`, a `join_set`'s `next()`). `x` runs as a task of its own on this worker.
///
/// The result is `result<T>` for an operation producing `T`; for one producing `result<U>`
/// (network operations, a `task<result<U>>`) it is that `result<U>`, not nested:
/// `co_await timeout(2s, s.read_some(buf))` is a `result<std::size_t>`.
///
/// - `x` finished first: its value (or its exception, rethrown).
/// - The deadline passed first: `x` is cancelled and has unwound before this returns, and the
///   error is `zokio::errc::timed_out` (equal to `std::errc::timed_out`; its message is "timed
///   out"). If `x` completed anyway (its operation finished in the same loop turn as the
///   deadline, before the cancellation could reach it), that outcome wins and is returned: a
///   value the operation produced is never dropped, and an operation that took effect is never
///   reported as timed out.
/// - The awaiting task is cancelled: `x` is cancelled too and has unwound before this returns;
///   as above its outcome wins if it completed, else `std::errc::operation_canceled`.
///
/// A duration too long to represent saturates (no deadline), it never wraps into the past. The
/// duration counts from when the returned task starts: at once for `co_await timeout(...)`,
/// when it first runs for a spawned one. Whatever `x` refers to (a buffer, a stream) must
/// live until the returned task has been awaited, as for awaiting `x` itself. Waiting for the
/// unwinding is as prompt as `x`'s cancellation (a running `spawn_blocking` job is waited for).
template <typename Rep, typename Period, detail::operand X>
auto timeout(std::chrono::duration<Rep, Period> d, X&& x, site where = site::current()) {
  return detail::timeout_impl(detail::timeout_deadline{detail::saturating_ns(d), true},
                              detail::as_task(std::forward<X>(x)), where);
}

/// As `timeout`, with a deadline on `std::chrono::steady_clock` instead of a duration (Tokio's
/// `timeout_at`): several operations can share one deadline. With a deadline already past, `x`
/// is cancelled at once; an outcome it completed before the cancellation reached it still wins.
template <typename Duration, detail::operand X>
auto timeout_at(std::chrono::time_point<std::chrono::steady_clock, Duration> deadline, X&& x,
                site where = site::current()) {
  return detail::timeout_impl(detail::timeout_deadline{detail::deadline_at(deadline), false},
                              detail::as_task(std::forward<X>(x)), where);
}

} // namespace zokio
