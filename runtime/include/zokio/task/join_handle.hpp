#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/detail/frame_alloc.hpp>
#include <zokio/detail/task_record.hpp>
#include <zokio/runtime/errors.hpp>
#include <zokio/task/task.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace zokio {

template <typename T>
class join_handle;

namespace detail {
template <typename T>
class root_promise;
template <typename T>
root_promise<T>* record_of(join_handle<T>& h) noexcept;

template <typename T>
class root_promise;

template <typename T>
struct root_task {
  using promise_type = root_promise<T>;
  std::coroutine_handle<root_promise<T>> m_coro;
};

/// The first step of every spawned task: one cancelled before it started never runs its body.
struct start_check {
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  void await_resume() const {
    if (t_current->m_cancel_requested.load(std::memory_order_relaxed)) {
      t_current->m_cancel_seen = true;
      throw operation_cancelled{};
    }
  }
};

struct root_final_awaiter {
  bool await_ready() const noexcept { return false; }
  template <typename Promise>
  void await_suspend(std::coroutine_handle<Promise> h) const noexcept {
    finish_task(&h.promise()); // may destroy the frame: nothing may touch it afterwards
  }
  void await_resume() const noexcept {}
};

/// The promise of a spawned task's root frame, and its task record. It holds the outcome until
/// the join_handle takes it.
template <typename T>
class root_promise_base : public task_record, public pooled_frame {
public:
  std::suspend_always initial_suspend() const noexcept { return {}; }
  root_final_awaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept {
    try {
      throw;
    } catch (const operation_cancelled&) {
      m_outcome = task_outcome::cancelled;
    } catch (...) {
      m_outcome = task_outcome::error;
      m_error = std::current_exception();
    }
  }
};

template <typename T>
class root_promise final : public root_promise_base<T> {
public:
  root_promise() noexcept { this->m_destroy = &destroy; }
  root_task<T> get_return_object() noexcept {
    auto h = std::coroutine_handle<root_promise>::from_promise(*this);
    this->m_resume = h;
    return {h};
  }
  template <typename V>
  void return_value(V&& v) {
    m_value.emplace(std::forward<V>(v));
    this->m_outcome = task_outcome::value;
  }
  /// The outcome, once: the value, or the task's exception, or operation_cancelled.
  T take() {
    rethrow_failure();
    return std::move(*m_value);
  }

private:
  void rethrow_failure() {
    if (this->m_outcome == task_outcome::error) {
      std::rethrow_exception(this->m_error);
    }
    if (this->m_outcome != task_outcome::value) {
      throw operation_cancelled{};
    }
  }
  static void destroy(task_record* r) noexcept {
    std::coroutine_handle<root_promise>::from_promise(static_cast<root_promise&>(*r)).destroy();
  }
  std::optional<T> m_value;
};

template <>
class root_promise<void> final : public root_promise_base<void> {
public:
  root_promise() noexcept { this->m_destroy = &destroy; }
  root_task<void> get_return_object() noexcept {
    auto h = std::coroutine_handle<root_promise>::from_promise(*this);
    this->m_resume = h;
    return {h};
  }
  void return_void() noexcept { this->m_outcome = task_outcome::value; }
  void take() {
    if (this->m_outcome == task_outcome::error) {
      std::rethrow_exception(this->m_error);
    }
    if (this->m_outcome != task_outcome::value) {
      throw operation_cancelled{};
    }
  }

private:
  static void destroy(task_record* r) noexcept {
    std::coroutine_handle<root_promise>::from_promise(static_cast<root_promise&>(*r)).destroy();
  }
};

template <typename T>
root_task<T> root_body(task<T> t) {
  co_await start_check{};
  task<T> body = std::move(t); // destroyed at co_return, before the frame finishes
  co_return co_await std::move(body);
}

inline root_task<void> root_body(task<void> t) {
  co_await start_check{};
  task<void> body = std::move(t);
  co_await std::move(body);
}

/// Wraps `t` in a root frame that has not started yet.
template <typename T>
root_promise<T>* make_root(task<T> t) {
  return &root_body(std::move(t)).m_coro.promise();
}

template <typename T>
class join_awaiter final : public counted_awaiter<join_awaiter<T>>, public completion_waiter {
public:
  static constexpr wait_kind kind = wait_kind::join;

  join_awaiter(root_promise<T>* target, bool* observed, const site& where = site{})
      : counted_awaiter<join_awaiter<T>>(where), m_target(target), m_observed(observed) {
    if (m_target == nullptr || *m_observed) {
      throw std::logic_error("zokio: join_handle awaited twice, or after detach()");
    }
    this->m_notify = [](completion_waiter* w, task_record*) noexcept {
      static_cast<join_awaiter*>(w)->fire();
    };
  }

  bool ready() const noexcept { return m_target->done(); }
  bool arm() {
    this->m_task->m_wait_target.store(m_target->m_id, std::memory_order_relaxed);
    if (m_target->set_joiner(this)) {
      return true;
    }
    if (!m_target->done()) {
      throw std::logic_error("zokio: a join_handle is awaited by two tasks at once");
    }
    return false;
  }
  bool withdraw() noexcept { return m_target->clear_joiner(this); }
  T take() {
    this->throw_if_cancelled();
    *m_observed = true;
    return m_target->take();
  }

private:
  root_promise<T>* m_target;
  bool* m_observed;
};

/// Waits until `target` has finished, whatever happens to the waiting task meanwhile: a
/// cancellation of the waiter does not interrupt it (DESIGN.md, Cancellation). The runtime's
/// structured waits (timeout, when_any) use it after cancelling a child, so that a value the
/// child completed with in the same loop turn is seen rather than lost. The child is cancelled
/// too, so the wait is as prompt as its unwinding.
template <typename T>
class settle_awaiter final : public counted_awaiter<settle_awaiter<T>>, public completion_waiter {
public:
  static constexpr wait_kind kind = wait_kind::join;
  static constexpr bool ignores_cancel = true;

  settle_awaiter(root_promise<T>* target, const site& where) noexcept
      : counted_awaiter<settle_awaiter<T>>(where), m_target(target) {
    this->m_notify = [](completion_waiter* w, task_record*) noexcept {
      static_cast<settle_awaiter*>(w)->fire();
    };
  }

  bool ready() const noexcept { return m_target->done(); }
  bool arm() noexcept {
    this->m_task->m_wait_target.store(m_target->m_id, std::memory_order_relaxed);
    return m_target->set_joiner(this);
  }
  bool withdraw() noexcept { return false; }
  void take() const noexcept {}

private:
  root_promise<T>* m_target;
};

} // namespace detail

/// The handle of a spawned task.
///
/// `co_await h` (once; or `co_await h.join()`, which also records where) gives the task's value,
/// rethrows its exception, or throws `operation_cancelled` if it was cancelled. `cancel()` requests
/// cancellation from any thread; it is prompt, not forced (DESIGN.md, Cancellation). Dropping the
/// handle, or `detach()`, lets the task run on; its failure then goes to
/// `runtime_options::on_task_error`.
///
/// Thread-safety: one handle is used by one task at a time; the task it names may run on any
/// worker. Cancelling the awaiting task while it joins stops the join, not the joined task.
template <typename T>
class [[nodiscard]] join_handle {
public:
  join_handle() noexcept = default;
  explicit join_handle(detail::root_promise<T>* rec) noexcept : m_rec(rec) {}
  join_handle(join_handle&& o) noexcept
      : m_rec(std::exchange(o.m_rec, nullptr)), m_observed(o.m_observed) {}
  join_handle& operator=(join_handle&& o) noexcept {
    if (this != &o) {
      reset();
      m_rec = std::exchange(o.m_rec, nullptr);
      m_observed = o.m_observed;
    }
    return *this;
  }
  join_handle(const join_handle&) = delete;
  join_handle& operator=(const join_handle&) = delete;
  ~join_handle() { reset(); }

  /// The task's id (as in task dumps), 0 for an empty handle.
  std::uint64_t id() const noexcept { return m_rec != nullptr ? m_rec->m_id : 0; }
  bool valid() const noexcept { return m_rec != nullptr; }
  /// True once the task has finished (any outcome).
  bool is_finished() const noexcept { return m_rec != nullptr && m_rec->done(); }

  /// Requests cancellation. Thread-safe. No effect on a finished task.
  void cancel() noexcept {
    if (m_rec != nullptr) {
      detail::cancel_task(m_rec);
    }
  }
  /// Lets the task run on without a handle.
  void detach() noexcept { reset(); }

  auto operator co_await() & { return detail::join_awaiter<T>(m_rec, &m_observed); }
  auto operator co_await() && { return detail::join_awaiter<T>(m_rec, &m_observed); }
  /// The same as `co_await h`, but the join records its `co_await` site for task dumps and
  /// deadlock reports (`co_await h` cannot know it: an operator takes no default argument).
  detail::join_awaiter<T> join(site where = site::current()) {
    return detail::join_awaiter<T>(m_rec, &m_observed, where);
  }

  /// For runtime::block_on and the like: the outcome of a finished task.
  T take_finished() {
    m_observed = true;
    return m_rec->take();
  }

private:
  friend detail::root_promise<T>* detail::record_of<T>(join_handle<T>&) noexcept;

  void reset() noexcept {
    if (m_rec != nullptr) {
      if (m_observed) {
        m_rec->release();
      } else {
        detail::detach_task(m_rec);
      }
      m_rec = nullptr;
    }
  }

  detail::root_promise<T>* m_rec = nullptr;
  bool m_observed = false;
};

namespace detail {
template <typename T>
root_promise<T>* record_of(join_handle<T>& h) noexcept {
  return h.m_rec;
}
} // namespace detail

} // namespace zokio
