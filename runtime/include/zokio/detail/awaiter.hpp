#pragma once

#include <zokio/detail/worker_core.hpp>
#include <zokio/runtime/errors.hpp>
#include <zokio/util/result.hpp>

#include <atomic>
#include <cerrno>
#include <coroutine>
#include <system_error>
#include <type_traits>

// Every await of a runtime operation goes through counted_awaiter: it counts the await, decides
// between completing inline and suspending (always suspending under force_async), records what
// the task waits on and where, and makes cancellation and wake-up one protocol for all
// operations.
//
// The wake protocol: whoever completes the operation (a libuv callback, another task, another
// thread, or a cancellation) first claims the awaiter; only the winner wakes the task. So a
// suspension is resumed exactly once, and the awaiter (which lives in the suspended frame) stays
// valid until then.

namespace zokio::detail {

struct awaiter_base {
  task_record* m_task = nullptr;
  std::atomic<bool> m_claimed{false};
  bool m_cancelled = false;
  /// For an awaiter kept in an intrusive list of waiters (waiter_list, a channel's): whether it
  /// is linked, under the list's lock. Here, in the padding after the two flags, it adds no byte
  /// to the awaiter (eight to each before: docs/decisions.md, "An awaiter's list flag").
  bool m_linked = false;
  /// The line of the `co_await` (counted_awaiter): in the padding after the flags, with the file
  /// in counted_awaiter, the only parts of a site a wait publishes (note_suspend).
  std::uint32_t m_wait_line = 0;
  /// Called on the owner thread when the task is cancelled while suspended here. Returns true
  /// when the pending operation was withdrawn, so that nobody else will complete it.
  bool (*m_withdraw)(awaiter_base*) noexcept = nullptr;

  bool claim() noexcept { return !m_claimed.exchange(true, std::memory_order_acq_rel); }

  /// Completes the await from any thread; the first caller wakes the task.
  void fire() noexcept {
    task_record* t = m_task;
    if (claim()) {
      wake(t);
    }
  }

  /// Claims the await for the one completer that can reach it: the operation's own state
  /// already chose it over every other (a oneshot's state word or a task's joiner word, changed
  /// by one atomic exchange that withdraw()'s compare-exchange loses; a waiter list under its
  /// lock, which withdraw() takes too; the worker's timer heap, on the owner thread only). No
  /// second arbiter is needed, so no locked exchange (8.4 ns on the team's Xeon VM:
  /// `zokio-bench-clocks`, BM_locked_exchange).
  void claim_exclusive() noexcept { m_claimed.store(true, std::memory_order_relaxed); }

  /// claim_exclusive() and the wake. Any thread.
  void fire_exclusive() noexcept {
    task_record* t = m_task;
    claim_exclusive();
    wake(t);
  }
};
static_assert(sizeof(awaiter_base) == 3 * sizeof(void*),
              "awaiter_base's flags and line must fit in the padding before m_withdraw");

inline void note_suspend(task_record* t, wait_kind kind, const char* file,
                         std::uint32_t line) noexcept {
  worker_core* w = t->m_worker;
  w->charge_busy(t);
  t->m_wait_kind.store(kind, std::memory_order_relaxed);
  t->m_wait_file.store(file, std::memory_order_relaxed);
  t->m_wait_line.store(line, std::memory_order_relaxed);
  t->m_state.store(task_state::suspended, std::memory_order_relaxed);
}

inline void note_running(task_record* t) noexcept {
  t->m_wait_kind.store(wait_kind::none, std::memory_order_relaxed);
  t->m_state.store(task_state::running, std::memory_order_relaxed);
}

/// The current task, or no_runtime_error: an await outside a runtime never runs synchronously.
inline task_record* current_task(const char* what) {
  task_record* t = t_current;
  if (t == nullptr) [[unlikely]] {
    throw_no_runtime(what);
  }
  return t;
}

/// True when the running task has been asked to cancel.
inline bool current_task_cancelled() noexcept {
  task_record* t = t_current;
  return t != nullptr && t->m_cancel_requested.load(std::memory_order_relaxed);
}

/// An awaiter that cancellation does not interrupt: it declares `static constexpr bool
/// ignores_cancel = true` and its `withdraw()` returns false. Only the runtime's own structured
/// waits use it (waiting for a cancelled child to unwind, so that what it produced is not lost).
template <typename D>
concept ignores_cancel = requires {
  requires D::ignores_cancel;
};

/// CRTP base of every runtime awaiter. `Derived` provides:
/// - `static constexpr wait_kind kind`;
/// - `bool ready()`: the result is already there;
/// - `bool arm()`: register for completion; false if it completed meanwhile;
/// - `bool withdraw()`: cancel the registration (owner thread); false if completion is under way;
/// - `take()`: the result (it checks `m_cancelled`);
/// - optionally `bool can_complete_inline()` (defaults to ready()).
template <typename Derived>
class counted_awaiter : public awaiter_base {
public:
  explicit counted_awaiter(const site& where) noexcept : counted_awaiter(where.file, where.line) {}
  /// The parts of the `co_await`'s site a wait publishes (note_suspend): file and line.
  counted_awaiter(const char* file, std::uint32_t line) noexcept : m_wait_file(file) {
    m_wait_line = line;
    m_withdraw = [](awaiter_base* a) noexcept { return static_cast<Derived*>(a)->withdraw(); };
  }
  counted_awaiter(const counted_awaiter& o) noexcept : awaiter_base(), m_wait_file(o.m_wait_file) {
    m_wait_line = o.m_wait_line;
    m_withdraw = o.m_withdraw;
  }

  bool can_complete_inline() noexcept { return self().ready(); }

  bool await_ready() {
    task_record* t = current_task("co_await of a zokio operation");
    m_task = t;
    worker_core& w = *t->m_worker;
    w.m_stats.awaits.add();
    if (!ignores_cancel<Derived> && t->m_cancel_requested.load(std::memory_order_relaxed))
        [[unlikely]] {
      m_cancelled = true;
      w.m_stats.awaits_cancelled.add();
      return true;
    }
    if (w.m_force_async) [[unlikely]] {
      if (w.m_inject_inline > 0 && self().can_complete_inline()) {
        // The injected fault: complete inline although force_async forbids it.
        --w.m_inject_inline;
        w.m_stats.awaits_inline.add();
        w.m_stats.sync_fallbacks.add();
        return true;
      }
      return false;
    }
    bool done = false;
    if constexpr (noexcept(self().ready())) {
      done = self().ready();
    } else {
      try {
        done = self().ready();
      } catch (...) {
        // It completed (with that exception) without suspending: inline, as in await_suspend.
        w.m_stats.awaits_inline.add();
        throw;
      }
    }
    if (done) {
      w.m_stats.awaits_inline.add();
      return true;
    }
    return false;
  }

  bool await_suspend(std::coroutine_handle<> h) {
    task_record* t = m_task;
    worker_core& w = *t->m_worker;
    t->m_resume = h;
    t->m_awaiter = this;
    note_suspend(t, Derived::kind, m_wait_file, m_wait_line);
    w.m_stats.awaits_suspended.add();
    bool armed = false;
    try {
      armed = !(w.m_force_async && self().ready()) && self().arm();
    } catch (...) {
      // Registration failed: the task goes on running and gets the exception at its co_await.
      // The await completed (with that exception) without suspending: it counts as inline, so
      // that awaits = awaits_inline + awaits_suspended + awaits_cancelled keeps holding.
      undo_suspend(t, w);
      w.m_stats.awaits_inline.add();
      throw;
    }
    if (armed) {
      return true;
    }
    if (w.m_force_async) [[unlikely]] {
      // The result is already there: deliver it through the loop on a later turn anyway.
      m_claimed.store(true, std::memory_order_relaxed);
      w.defer_wake(t);
      return true;
    }
    // It completed while registering: carry on without suspending.
    undo_suspend(t, w);
    w.m_stats.awaits_inline.add();
    return false;
  }

  decltype(auto) await_resume() {
    using R = decltype(self().take());
    try {
      if constexpr (is_result_v<R>) {
        R r = self().take();
        if (!r.ok() && r.error() == std::errc::operation_canceled) [[unlikely]] {
          note_cancel_seen();
        }
        return r;
      } else if constexpr (std::is_integral_v<R> && std::is_signed_v<R>) {
        // The runtime's private awaiters return libuv statuses: UV_ECANCELED is -ECANCELED.
        R status = self().take();
        if (status == -ECANCELED) [[unlikely]] {
          note_cancel_seen();
        }
        return status;
      } else if constexpr (std::is_same_v<R, std::error_code>) {
        std::error_code e = self().take();
        if (e == std::errc::operation_canceled) [[unlikely]] {
          note_cancel_seen();
        }
        return e;
      } else {
        return self().take();
      }
    } catch (const operation_cancelled&) {
      note_cancel_seen();
      throw;
    }
  }

protected:
  void throw_if_cancelled() const {
    if (m_cancelled) [[unlikely]] {
      throw operation_cancelled{};
    }
  }
  /// For operations that lose nothing by failing after completing (sleep, yield): fail as soon
  /// as cancellation was requested.
  void throw_if_cancel_requested() const {
    if (m_cancelled || m_task->m_cancel_requested.load(std::memory_order_relaxed)) [[unlikely]] {
      throw operation_cancelled{};
    }
  }

  const char* m_wait_file; // with awaiter_base::m_wait_line: where the task awaits

private:
  Derived& self() noexcept { return *static_cast<Derived*>(this); }
  /// The await failed as cancelled: if that was asked for, record that the task saw it (an
  /// operation closed under it, or a joined task that was cancelled, is not that).
  void note_cancel_seen() noexcept {
    if (m_task->m_cancel_requested.load(std::memory_order_relaxed)) {
      m_task->m_cancel_seen = true;
    }
  }
  static void undo_suspend(task_record* t, worker_core& w) noexcept {
    t->m_awaiter = nullptr;
    note_running(t);
    w.m_stats.awaits_suspended.sub();
  }
};

} // namespace zokio::detail
