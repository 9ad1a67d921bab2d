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

/// Runs `t` as a task of its own on this worker and waits at most `d` for it. Returns its value,
/// or `std::errc::timed_out` when the deadline passes first (the inner task is then cancelled
/// and has unwound before this returns), or `std::errc::operation_canceled` when the awaiting
/// task is cancelled (the inner task is cancelled too). An exception of `t` is rethrown.
template <typename T, typename Rep, typename Period>
task<result<T>> timeout(std::chrono::duration<Rep, Period> d, task<T> t,
                        site where = site::current()) {
  const std::int64_t deadline = detail::deadline_after(d);
  join_handle<T> h = spawn(std::move(t), {.name = "timeout"}, where);
  detail::root_promise<T>* rec = detail::record_of(h);
  const detail::timeout_outcome how = co_await detail::timeout_awaiter<T>(rec, deadline, where);
  if (how != detail::timeout_outcome::finished) {
    h.cancel();
    if (how == detail::timeout_outcome::cancelled) {
      co_return std::errc::operation_canceled;
    }
    try {
      (void)co_await h; // let the cancelled task unwind before reporting the timeout
    } catch (...) {
    }
    co_return std::errc::timed_out;
  }
  if constexpr (std::is_void_v<T>) {
    h.take_finished();
    co_return result<void>{};
  } else {
    co_return h.take_finished();
  }
}

} // namespace zokio
