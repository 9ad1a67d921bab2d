#pragma once

#include <zokio/detail/task_record.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

// The part of a worker that inlined hot paths (awaits, wakes, spawns) touch. The rest of the
// worker (its libuv loop, inbox, timers and thread) lives in src/runtime/worker.hpp and is never
// visible to users.
//
// Threads: every field here is written only by the thread driving this worker (the owner).
// Counters are single-writer atomics so that `runtime::stats()` may read them from anywhere.

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace zokio::detail {

class runtime_impl;

/// A counter with one writer (the owner) and any number of relaxed readers. The increment is a
/// plain load and store, not a locked instruction.
struct counter {
  std::atomic<std::uint64_t> m_v{0};
  void add(std::uint64_t n = 1) noexcept {
    m_v.store(m_v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(std::uint64_t n = 1) noexcept {
    m_v.store(m_v.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return m_v.load(std::memory_order_relaxed); }
};

/// Intrusive FIFO of task records, linked through `task_record::m_next`.
struct ready_queue {
  task_record* m_head = nullptr;
  task_record* m_tail = nullptr;

  bool empty() const noexcept { return m_head == nullptr; }
  void push(task_record* t) noexcept {
    t->m_next = nullptr;
    if (m_tail != nullptr) {
      m_tail->m_next = t;
    } else {
      m_head = t;
    }
    m_tail = t;
  }
  task_record* pop() noexcept {
    task_record* t = m_head;
    if (t != nullptr) {
      m_head = t->m_next;
      if (m_head == nullptr) {
        m_tail = nullptr;
      }
      t->m_next = nullptr;
    }
    return t;
  }
  /// Moves all of `o` to the back of this queue; returns how many moved.
  std::size_t splice(ready_queue& o) noexcept {
    std::size_t n = 0;
    for (task_record* t = o.m_head; t != nullptr; t = t->m_next) {
      ++n;
    }
    if (o.m_head == nullptr) {
      return 0;
    }
    if (m_tail != nullptr) {
      m_tail->m_next = o.m_head;
    } else {
      m_head = o.m_head;
    }
    m_tail = o.m_tail;
    o.m_head = o.m_tail = nullptr;
    return n;
  }
};

/// A cheap monotonic tick: the TSC on x86-64, nanoseconds elsewhere. Converted to time only
/// when a dump is made.
inline std::uint64_t ticks() noexcept {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

/// The busy-time clock of a runtime with a stall watchdog. The watchdog bumps `tick` each time
/// it wakes: every millisecond while a worker runs tasks (`fast`), otherwise at its looks. A
/// worker then reads the time-stamp counter only at a transition (a suspension or a finish)
/// that sees the tick moved, instead of at every one: on a virtual machine `rdtsc` costs tens of
/// nanoseconds, a cached load one. Its own cache line: the workers only read it.
struct alignas(64) busy_clock {
  std::atomic<std::uint64_t> tick{0};
  std::atomic<bool> fast{false};
};

struct worker_stats_core {
  counter tasks_spawned, tasks_completed, tasks_failed, tasks_cancelled, tasks_live;
  counter awaits, awaits_inline, awaits_suspended, awaits_cancelled;
  counter resumes_from_loop, resumes_from_task, resumes_cross_thread;
  counter sync_fallbacks, loop_iterations, stalls, deadlocks_detected, lost_wakeups;
  counter timers_pending, blocking_in_flight;
};

struct worker_core {
  unsigned m_index = 0;
  runtime_impl* m_rt = nullptr;
  bool m_force_async = false;
  bool m_in_task = false; // true while a task runs: wakes made now come from a task
  unsigned m_inject_inline = 0;
  ready_queue m_ready;
  ready_queue m_deferred; // wakes delivered after the next loop turn (force_async)
  /// When the running resume (or, between resumes, the last one) started, in ticks. Written by
  /// the owner only; the stall watchdog reads it (relaxed: a plain load and store on x86-64).
  std::atomic<std::uint64_t> m_resume_start{0};
  worker_stats_core m_stats;
  /// Bumped at every resume and callback batch; a watchdog thread compares it over time.
  std::atomic<std::uint64_t> m_progress{0};
  /// Odd while the loop is in libuv's poll phase (from its uv_prepare to its uv_check callback:
  /// waiting in the poller or running I/O callbacks), even outside it. Bumped twice a loop turn
  /// by the owner, only while stall watching is on; the stall watchdog tells a stuck callback
  /// from an idle poller by it.
  std::atomic<std::uint64_t> m_polls{0};
  /// The task being resumed now, null between resumes (the stall watchdog reads it; it only
  /// dereferences a record it finds in the live list, under the live-list lock).
  std::atomic<task_record*> m_running{nullptr};

  /// The runtime's busy clock when it has a stall watchdog (busy time is then sampled, below);
  /// null without one: every transition reads the time-stamp counter.
  busy_clock* m_clock = nullptr;
  /// The clock's tick at this worker's last counter read, and whether it ticked fast then
  /// (owner only).
  std::uint64_t m_seen_tick = 0;
  bool m_clock_fast = false;
  /// Counter reads made while the clock was slow since it was last seen fast (owner only).
  std::uint32_t m_slow_reads = 0;
  /// After this many, the worker wakes the watchdog (wake_busy_clock), which would otherwise
  /// see the burst only at its next look, up to half the stall threshold later (50 ms by
  /// default): a short burst (a benchmark, a batch of requests) ran with a counter read at every
  /// transition throughout.
  static constexpr std::uint32_t slow_reads_before_wake = 256;

  /// Records the busy clock's tick `tick` (loaded with acquire) and its mode, as of a counter read.
  void see_busy_clock(std::uint64_t tick) noexcept {
    m_seen_tick = tick;
    m_clock_fast = m_clock->fast.load(std::memory_order_relaxed);
    if (m_clock_fast) {
      m_slow_reads = 0;
    }
  }

  /// Wakes the stall watchdog, so that it ticks the busy clock fast now (worker.cpp).
  void wake_busy_clock() noexcept;

  /// Adds the time since the last counter read to `t`'s busy time, and moves m_resume_start to
  /// now. While the clock ticks fast, only at a transition that sees the tick moved (each batch
  /// of resumes starts with a read): a resume that spans a tick is charged from the read before
  /// it, in full (plus the short resumes since that read, less than a tick); one that does not
  /// is charged nothing, and its time goes to whichever task runs when the tick comes, as in a
  /// sampling profiler. So each task's share is right over many resumes, and a resume of a
  /// millisecond or more is right at once. While the clock is slow (the watchdog has not seen
  /// this burst of work yet), every transition reads, as without a watchdog.
  void charge_busy(task_record* t) noexcept {
    if (m_clock != nullptr) {
      const std::uint64_t tick = m_clock->tick.load(std::memory_order_acquire);
      if (tick == m_seen_tick) {
        if (m_clock_fast) [[likely]] {
          return;
        }
      } else {
        see_busy_clock(tick);
      }
      if (!m_clock_fast && ++m_slow_reads == slow_reads_before_wake) [[unlikely]] {
        wake_busy_clock();
      }
    }
    const std::uint64_t now = ticks();
    t->m_busy_ticks.store(t->m_busy_ticks.load(std::memory_order_relaxed) +
                              (now - m_resume_start.load(std::memory_order_relaxed)),
                          std::memory_order_relaxed);
    m_resume_start.store(now, std::memory_order_relaxed);
  }

  /// Wakes `t` from the owner thread.
  void local_wake(task_record* t) noexcept {
    t->m_state.store(task_state::scheduled, std::memory_order_relaxed);
    if (m_in_task) {
      m_stats.resumes_from_task.add();
      if (m_running.load(std::memory_order_relaxed) == t) {
        // The running task wakes itself (yield_now): single writer, no locked instruction.
        t->m_self_wakes.store(t->m_self_wakes.load(std::memory_order_relaxed) + 1,
                              std::memory_order_relaxed);
      }
      (m_force_async ? m_deferred : m_ready).push(t);
    } else {
      m_stats.resumes_from_loop.add();
      m_ready.push(t);
    }
  }

  /// Delivers `t`'s wake on the next loop turn (force_async: a result that is already there).
  void defer_wake(task_record* t) noexcept {
    t->m_state.store(task_state::scheduled, std::memory_order_relaxed);
    m_stats.resumes_from_loop.add();
    m_deferred.push(t);
  }

  /// Wakes `t` from another thread: through the inbox and the worker's uv_async_t.
  void remote_wake(task_record* t) noexcept;
};

/// The worker driven by this thread, and the task it runs now.
inline thread_local worker_core* t_worker = nullptr;
inline thread_local task_record* t_current = nullptr;

/// Wakes a suspended task from any thread. Each suspension is woken exactly once: callers
/// claim the awaiter first (awaiter_base::fire).
inline void wake(task_record* t) noexcept {
  worker_core* w = t->m_worker;
  if (t_worker == w) {
    w->local_wake(t);
  } else {
    w->remote_wake(t);
  }
}

[[noreturn]] void throw_no_runtime(const char* what);

} // namespace zokio::detail
