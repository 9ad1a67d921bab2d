#pragma once

#include <cstdint>
#include <vector>

namespace zokio {

/// Counters of one worker (or, summed, of a runtime). Monotonic except the gauges marked so.
struct worker_counters {
  std::uint64_t tasks_spawned = 0;
  std::uint64_t tasks_completed = 0; ///< Finished with a value.
  std::uint64_t tasks_failed = 0;    ///< Finished with an exception.
  std::uint64_t tasks_cancelled = 0; ///< Finished by cancellation.
  std::uint64_t tasks_live = 0;      ///< Gauge: spawned and not finished.
  /// Awaits of runtime operations (timers, I/O, sync primitives, joins, yields). Awaiting a child
  /// `task<T>` is a call and is not counted. awaits = inline + suspended + cancelled.
  std::uint64_t awaits = 0;
  std::uint64_t awaits_inline = 0;        ///< Completed without suspending (result already there).
  std::uint64_t awaits_suspended = 0;     ///< Suspended and resumed later by the loop.
  std::uint64_t awaits_cancelled = 0;     ///< Failed at once because the task was cancelled.
  std::uint64_t resumes_from_loop = 0;    ///< Woken by a libuv callback or a deferred turn.
  std::uint64_t resumes_from_task = 0;    ///< Woken by another task on the same worker.
  std::uint64_t resumes_cross_thread = 0; ///< Woken from another thread through the inbox.
  /// Awaits that completed inline although `force_async` promised they would suspend. Zokio has
  /// no synchronous fallback: this stays 0 unless injected on purpose.
  std::uint64_t sync_fallbacks = 0;
  std::uint64_t loop_iterations = 0;
  std::uint64_t stalls = 0; ///< Resumes that ran past `runtime_options::stall_threshold`.
  /// Deadlocks found: each `deadlock_error` that `block_on` raised (whole-runtime quiescence), and
  /// each distinct wait-for cycle that `diag::find_deadlocks` reported (once per cycle, however
  /// often it is reported; counted on worker 0). One deadlock seen by both is counted by both.
  std::uint64_t deadlocks_detected = 0;
  /// Wakes that could not be delivered: posted to a worker already torn down by shutdown (its
  /// task was reported as left); and tasks suspended outside the runtime, counted when the
  /// resume that suspended them returned (an awaitable that is not Zokio's: nothing will wake
  /// them; README, "Compilers").
  std::uint64_t lost_wakeups = 0;
  std::uint64_t timers_pending = 0;     ///< Gauge: sleeps and timeouts armed.
  std::uint64_t blocking_in_flight = 0; ///< Gauge: `spawn_blocking` jobs not finished.
  std::uint64_t handles_active = 0; ///< Gauge: active libuv handles, the runtime's own excluded.

  worker_counters& operator+=(const worker_counters& o) noexcept;
};

/// A snapshot of a runtime's counters: the sum over workers, and each worker's own.
struct runtime_stats : worker_counters {
  std::vector<worker_counters> workers;
};

} // namespace zokio
