#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/detail/waiter_list.hpp>
#include <zokio/task/spawn.hpp>

#include <cstdint>
#include <stdexcept>
#include <unordered_set>

// task_scope: a set of fire-and-forget children and a way to wait for all of them.
//
// Ownership and threads:
// - The scope holds the join reference of each live child (the one a join_handle would hold)
//   and is the child's completion waiter. When a child finishes, its worker calls the scope's
//   notifier, which drops the child from `m_live` and lets go of the reference as a detached
//   handle would: the frame is freed at once, and a failure goes to `on_task_error`.
// - Everything (the live set, the counters, the closers' list) is touched only by the thread
//   that drives the scope's worker: the scope spawns its children on that worker, so their
//   notifications run there too.

namespace zokio {

/// A scope for tasks nobody joins one by one: a server's connection handlers, background jobs.
/// Anchors: cppcoro's `async_scope`, Seastar's `gate`, Tokio's `TaskTracker`.
///
/// ```
/// zokio::task_scope clients;
/// while (auto s = co_await listener.accept()) {
///   clients.spawn(serve(std::move(*s)));
/// }
/// co_await clients.close(); // waits for every client still connected
/// ```
///
/// - **Reaping.** A child that finishes is forgotten at once: its frame and result are freed
///   and `size()` drops, without anyone calling anything (unlike `join_set`, which keeps each
///   finished task until `next()` takes it). A value a child returns is discarded. Memory is
///   proportional to the children still running.
/// - **Failures** (Tokio's `TaskTracker` semantics). A child that throws fails alone: its
///   exception goes to `runtime_options::on_task_error`, exactly as a detached task's would,
///   and is never lost; the scope, its other children and `close()` are unaffected (`close()`
///   never rethrows a child's exception). A cancelled child is not a failure and is not
///   reported. To collect results or exceptions, use `join_set` or `join_handle`s.
/// - **Closing.** `close()` refuses new spawns from then on, except from the scope's own live
///   children (so that a child's fan-out is waited for too); `co_await scope.close()` returns
///   once every child, including those spawned by children meanwhile, has finished.
/// - **Cancelling.** `cancel()` requests cancellation of every live child, and of every child
///   spawned afterwards (they never run their body): the scope stays cancelled.
/// - **Destruction.** Destroying a scope with live children cancels them and lets them unwind
///   on their own, detached (as `join_set` does); their failures still go to `on_task_error`.
///   A task still awaiting `close()` of a destroyed scope is woken and returns normally. Close
///   the scope and await it before destroying it to know that every child has finished.
///
/// Thread-safety: a scope belongs to the worker of its first spawn. Use it only from tasks on
/// that worker; `spawn` from another worker throws `std::logic_error`. Its children run on
/// that worker for their whole life.
class task_scope {
public:
  task_scope() noexcept { m_notifier.m_owner = this; }
  task_scope(const task_scope&) = delete;
  task_scope& operator=(const task_scope&) = delete;
  ~task_scope() { abandon(); }

  /// Spawns `t` into the scope on the current worker; returns its task id (as in task dumps
  /// and `task_failure::id`). Its value, if any, is discarded.
  ///
  /// Throws `no_runtime_error` outside a runtime, and `std::logic_error` after `close()`
  /// (unless called from a live child of this scope) or from a task on another worker than the
  /// scope's. Then `t` never runs.
  template <typename T>
  std::uint64_t spawn(task<T> t, spawn_options opts = {}, site where = site::current()) {
    detail::worker_core* w = detail::t_worker;
    if (w == nullptr) [[unlikely]] {
      detail::throw_no_runtime("zokio::task_scope::spawn");
    }
    if (m_worker != nullptr && m_worker != w) [[unlikely]] {
      throw std::logic_error("zokio: task_scope::spawn from another worker than the scope's: a "
                             "scope and its children belong to the worker of its first spawn");
    }
    if (m_closed && !m_live.contains(detail::t_current)) [[unlikely]] {
      throw std::logic_error("zokio: task_scope::spawn after close(): a closed scope takes new "
                             "tasks only from its own live children");
    }
    detail::root_promise<T>* rec = detail::make_root(std::move(t));
    try {
      m_live.insert(rec);
    } catch (...) {
      rec->m_ops->destroy(rec); // never started: nothing but the frame to free
      throw;
    }
    rec->set_joiner(&m_notifier); // not scheduled yet: always succeeds
    try {
      detail::schedule_new(w, rec, opts.name, where);
    } catch (...) {
      m_live.erase(rec);
      rec->m_ops->destroy(rec);
      throw;
    }
    if (m_worker == nullptr) {
      m_worker = w;
    }
    ++m_spawned;
    if (m_cancelled) {
      detail::cancel_task(rec);
    }
    return rec->m_id;
  }

  /// Children still running (spawned and not finished).
  std::size_t size() const noexcept { return m_live.size(); }
  bool empty() const noexcept { return m_live.empty(); }
  /// Children spawned over the scope's life.
  std::uint64_t spawned() const noexcept { return m_spawned; }
  /// True once `close()` has been called.
  bool is_closed() const noexcept { return m_closed; }
  /// True once `cancel()` has been called (or a task awaiting `close()` was cancelled).
  bool is_cancelled() const noexcept { return m_cancelled; }

  /// Requests cancellation of every live child, and of every child spawned from now on. It only
  /// requests: the children unwind at their next await; `close()` waits for them.
  void cancel() noexcept {
    m_cancelled = true;
    if (m_cancelling) {
      return; // a child awaiting this scope's close() is being cancelled: already under way
    }
    m_cancelling = true;
    for (detail::task_record* rec : m_live) {
      detail::cancel_task(rec); // wakes at most: no child finishes, so m_live stays as it is
    }
    m_cancelling = false;
  }

  /// The awaiter of `close()`.
  class close_awaiter final : public detail::counted_awaiter<close_awaiter> {
  public:
    static constexpr detail::wait_kind kind = detail::wait_kind::join;
    static constexpr bool ignores_cancel = true;

    close_awaiter(task_scope& s, const site& where) noexcept
        : detail::counted_awaiter<close_awaiter>(where), m_scope(&s) {}

    bool ready() const noexcept { return m_scope->m_live.empty(); }
    bool arm() noexcept {
      this->m_task->m_wait_target.store(0, std::memory_order_relaxed); // no single task
      m_scope->m_closers.push_back(this);
      if (this->m_task->m_cancel_requested.load(std::memory_order_relaxed)) {
        m_scope->cancel();
      }
      return true;
    }
    /// The awaiting task is cancelled: cancel the children and keep waiting for them.
    bool withdraw() noexcept {
      if (m_scope != nullptr) {
        m_scope->cancel();
      }
      return false;
    }
    void take() const {
      if (this->m_task->m_cancel_requested.load(std::memory_order_relaxed)) {
        throw operation_cancelled{};
      }
    }

  private:
    friend class task_scope;
    friend struct detail::waiter_list<close_awaiter>;
    task_scope* m_scope; // null once the scope is destroyed
    close_awaiter* m_prev = nullptr;
    close_awaiter* m_next = nullptr;
  };

  /// Closes the scope at once (no new spawns but from its live children), and the awaitable
  /// waits until every child has finished. Any number of tasks may await it; once the scope is
  /// empty, awaiting it again returns at once. Thread-safety: the scope's worker only.
  ///
  /// Cancellation: cancelling the awaiting task cancels every child (as `cancel()`) and still
  /// waits until all have unwound, as `when_any` does with its children; then it throws
  /// `operation_cancelled`. The same holds for a task already cancelled when it awaits. Either
  /// way, when the await ends (by returning or by throwing) no child is running and the scope
  /// may be destroyed.
  [[nodiscard]] close_awaiter close(site where = site::current()) noexcept {
    m_closed = true;
    return close_awaiter(*this, where);
  }

private:
  struct notifier : detail::completion_waiter {
    notifier() noexcept { m_notify = &child_done; }
    task_scope* m_owner = nullptr;
  };

  // On the worker, from finish_task: the child is done, its outcome set.
  static void child_done(detail::completion_waiter* w, detail::task_record* done) noexcept {
    task_scope* self = static_cast<notifier*>(w)->m_owner;
    self->m_live.erase(done);
    detail::detach_task(done); // reports a failure; the worker's release then frees the frame
    if (self->m_live.empty()) {
      self->wake_closers(false);
    }
  }

  void wake_closers(bool scope_gone) noexcept {
    close_awaiter* a = m_closers.take_all();
    while (a != nullptr) {
      close_awaiter* next = a->m_next;
      if (scope_gone) {
        a->m_scope = nullptr;
      }
      a->fire();
      a = next;
    }
  }

  void abandon() noexcept {
    for (detail::task_record* rec : m_live) {
      rec->clear_joiner(&m_notifier);
      detail::cancel_task(rec);
      detail::detach_task(rec);
    }
    m_live.clear();
    wake_closers(true);
  }

  notifier m_notifier;
  std::unordered_set<detail::task_record*> m_live;
  detail::waiter_list<close_awaiter> m_closers;
  detail::worker_core* m_worker = nullptr;
  std::uint64_t m_spawned = 0;
  bool m_closed = false;
  bool m_cancelled = false;
  bool m_cancelling = false;
};

} // namespace zokio
