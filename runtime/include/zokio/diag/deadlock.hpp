#pragma once

// Partial-deadlock detection: cycles in the wait-for graph among suspended tasks, found on demand
// while the rest of the runtime keeps running (Go's goroutine-leak profile, but asked for).

#include <zokio/diag/task_dump.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace zokio {

class runtime;

namespace diag {

/// Tasks that wait on each other in a ring: `tasks[i]` waits for `tasks[i + 1]`, the last for the
/// first. Each record is the task as `task_dump` shows it: id, name, worker, spawn site, wait kind
/// ("join" or "mutex"), `co_await` site and `waits_for_task`. The ring starts at its lowest id.
struct deadlock_cycle {
  std::vector<task_info> tasks;
};

struct deadlock_options {
  /// A cycle is reported only if every member was suspended on the same edge (same wait kind,
  /// same `co_await` site, same task waited for, and no resume in between) at two reads of the
  /// graph this far apart. A cycle that is about to resolve (a mutex handed over, a joined task
  /// finishing) has a member resumed within that interval and is not reported. 0 reads the
  /// graph once and reports every cycle it sees, transient ones included.
  std::chrono::milliseconds stable_for{100};
};

/// The deadlocked cycles of `rt` now, by lowest member id. Empty when there is none.
///
/// Edges: a task joining another (`co_await handle`) waits for it; a task waiting in
/// `mutex::lock()` waits for the holder (the first waiter) or for the waiter ahead of it (the
/// others, FIFO). Only these waits name a task, so only these cycles are found, also while other
/// tasks keep running, timers fire and sockets stay open (a partial deadlock, which whole-runtime
/// quiescence cannot see). Not found here: cycles through a semaphore (a permit records no
/// holder: it may be moved or released by any task or thread), a channel, a oneshot or an event;
/// `block_on` reports those with `deadlock_error` once the whole runtime is stuck. A mutex guard
/// moved to another task still names the task that locked it: a cycle through such a guard may
/// be missed, or reported although the task now holding the guard could still unlock it. A join
/// written `co_await handle` has no known `co_await` site (line 0); `co_await handle.join()`
/// records it.
///
/// Counting: each distinct cycle (its set of task ids) adds one to
/// `runtime_stats::deadlocks_detected` the first time any call reports it; later calls that see
/// it again do not count it again.
///
/// Thread-safety: callable from any thread while the runtime runs (each task record is read with
/// relaxed atomics under its worker's live-list lock, as `task_dump` does). With `stable_for` above
/// zero the call sleeps that long between the two reads: calling it so from one of `rt`'s worker
/// threads would stall that worker and throws `std::logic_error`.
std::vector<deadlock_cycle> find_deadlocks(const runtime& rt, deadlock_options options = {});

/// The cycles as text: "deadlock: N task(s) in a cycle" then one line per member (id, name, wait
/// kind, `co_await` site, spawn site, the task it waits for).
std::string format_deadlocks(const std::vector<deadlock_cycle>& cycles);

} // namespace diag
} // namespace zokio
