#pragma once

// Lost wake-ups: suspended tasks that nothing can resume any more (tokio-console's lost-waker
// lint), found on demand while the runtime runs.

#include <zokio/diag/task_dump.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace zokio {

class runtime;

namespace diag {

/// A task that waits for a wake-up that cannot come.
struct lost_wakeup {
  /// The task as `task_dump` shows it; `await_file`/`await_line` are the last `co_await` of a
  /// runtime operation it made (for a foreign awaiter, the one before it).
  task_info task;
  /// Why nothing can resume it, one line.
  std::string why;
};

struct lost_wakeup_options {
  /// A task is reported only if it was seen the same way, not resumed in between, at two reads
  /// this far apart.
  std::chrono::milliseconds stable_for{100};
};

/// The lost wake-ups of `rt` now, by worker and id. Two kinds are found:
///
/// - A task whose coroutine suspended on an awaiter that is not the runtime's (its record still
///   says it runs, but its worker runs something else or nothing): the runtime holds no waker for
///   it, so no timer, I/O, channel or join can resume it; only whoever took its coroutine handle
///   could, and a handle dropped without resuming (the classic lost wake-up) never does.
/// - A task waiting to join a task that is no longer live: the joined task ended, and the wake-up
///   it owed never arrived.
///
/// Thread-safety: callable from any thread while the runtime runs (records are read with relaxed
/// atomics under each worker's live-list lock, as `task_dump` does). The call sleeps `stable_for`
/// between its two reads; calling it from one of `rt`'s worker threads throws `std::logic_error`.
/// Nothing is counted in `runtime_stats::lost_wakeups` (that counts wake-ups the runtime itself
/// dropped at shutdown).
std::vector<lost_wakeup> find_lost_wakeups(const runtime& rt, lost_wakeup_options options = {});

/// The findings as text: "lost wake-up: N task(s)" then one line per task (id, name, worker, why,
/// last `co_await` site, spawn site).
std::string format_lost_wakeups(const std::vector<lost_wakeup>& found);

} // namespace diag
} // namespace zokio
