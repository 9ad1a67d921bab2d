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
struct value_slot {
  using type = std::optional<T>;
};
template <>
struct value_slot<void> {
  struct type {};
};

/// The record of a spawned task that produces a `T`: its task_record, its body (the frame of
/// the task<T> that was spawned) until the body finishes, then the outcome until the join_handle
/// takes it. One block from the frame pool; the body needs no wrapper frame around it.
template <typename T>
class root_promise final : public task_record, public pooled_frame {
public:
  explicit root_promise(task<T>&& t) {
    if (!t.m_coro) {
      throw std::invalid_argument("zokio: spawn of an empty task");
    }
    m_body = std::exchange(t.m_coro, {});
    m_resume = m_body;
    m_ops = &s_ops;
  }
  root_promise(const root_promise&) = delete;
  root_promise& operator=(const root_promise&) = delete;

  /// The outcome, once: the value, or the task's exception, or operation_cancelled.
  T take() {
    if (m_outcome == task_outcome::error) {
      std::rethrow_exception(m_error);
    }
    if (m_outcome != task_outcome::value) {
      throw operation_cancelled{};
    }
    if constexpr (!std::is_void_v<T>) {
      return std::move(*m_value);
    }
  }

private:
  using body_handle = std::coroutine_handle<task_promise<T>>;

  ~root_promise() {
    if (m_body) {
      m_body.destroy(); // a task left behind, or never started: its frame goes with it
    }
  }

  static void complete(task_record* r) noexcept {
    auto* self = static_cast<root_promise*>(r);
    body_handle body = body_handle::from_address(self->m_body.address());
    self->m_body = {};
    if (body.done()) {
      try {
        if constexpr (std::is_void_v<T>) {
          std::move(body.promise()).result();
        } else {
          self->m_value.emplace(std::move(body.promise()).result());
        }
        self->m_outcome = task_outcome::value;
      } catch (const operation_cancelled&) {
        self->m_outcome = task_outcome::cancelled;
      } catch (...) {
        self->set_error(std::current_exception());
      }
    }
    body.destroy();
  }
  static void destroy(task_record* r) noexcept { delete static_cast<root_promise*>(r); }

  static constexpr task_ops s_ops{&complete, &destroy};

  [[no_unique_address]] typename value_slot<T>::type m_value;
};

/// Makes the record of `t`, not started yet.
template <typename T>
root_promise<T>* make_root(task<T> t) {
  return new root_promise<T>(std::move(t));
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
      // finish_task's exchange of the joiner word took it: clear_joiner() (withdraw) has lost.
      static_cast<join_awaiter*>(w)->fire_exclusive();
    };
  }

  bool ready() const noexcept { return m_target->done(); }
  bool arm() {
    this->m_task->m_wait_target.store(m_target->m_id, std::memory_order_relaxed);
    if (m_target->set_joiner(this, on_targets_worker())) {
      return true;
    }
    if (!m_target->done()) {
      throw std::logic_error("zokio: a join_handle is awaited by two tasks at once");
    }
    return false;
  }
  bool withdraw() noexcept { return m_target->clear_joiner(this, on_targets_worker()); }
  T take() {
    this->throw_if_cancelled();
    *m_observed = true;
    return m_target->take();
  }

private:
  /// The joining task runs on the joined task's worker: the join is registered and withdrawn
  /// with plain stores (task_record::set_joiner).
  bool on_targets_worker() const noexcept { return m_target->same_worker_as(this->m_task); }

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
      static_cast<settle_awaiter*>(w)->fire_exclusive(); // nothing else completes it
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
  detail::join_awaiter<T> join(const char* file = __builtin_FILE(),
                               std::uint32_t line = __builtin_LINE()) {
    return join(site{file, "", line});
  }
  /// As above, recording `where` as the await's site.
  detail::join_awaiter<T> join(const site& where) {
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
