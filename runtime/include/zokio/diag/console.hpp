#pragma once

// The live console's snapshot: the runtime's stats, task dump, open handles and detector
// findings as one JSON document (schema "zokio.console/1",
// docs/schema/zokio.console-1.schema.json). `runtime_options::console` (or ZOKIO_CONSOLE=PATH)
// serves it over a Unix socket; `ZOKIO_DUMP=json` prints it on SIGQUIT; `zokio-diag dump` and
// `zokio-diag top` read it.

#include <chrono>
#include <cstdint>
#include <string>

namespace zokio {

class runtime;

namespace diag {

struct snapshot_options {
  /// Run `find_deadlocks` and `find_lost_wakeups` (each reads the tasks twice, `stable_for`
  /// apart, so a snapshot with detectors takes about twice `stable_for`).
  bool detectors = true;
  std::chrono::milliseconds stable_for{100};
  /// Ask each worker for its open libuv handles (a short task on each worker walks its own loop)
  /// and wait this long for the answers. A worker that does not answer in time (stalled, or
  /// worker 0 while no thread is in `block_on`) is listed as not answering. 0: no handles.
  std::chrono::milliseconds handles_wait{200};
  /// The long-wait lint: a task seen suspended on the same wait (same kind, same `co_await`
  /// site, no resume in between) for longer than this. Only a console, which sees the runtime
  /// over time, can tell how long a task has waited; a one-off snapshot reports no wait times.
  std::chrono::milliseconds long_wait{60000};
  /// The woken_without_progress lint (tokio-console's self-wake lint): a task whose self-wakes
  /// (wakes it issued for itself while it ran, as `yield_now` does) are more than
  /// `self_wake_percent` of its wakes, once it has been woken at least `self_wake_min_wakes`
  /// times (a task that yielded once is not flagged).
  unsigned self_wake_percent = 50;
  std::uint64_t self_wake_min_wakes = 100;
};

/// One snapshot of `rt` as one line of JSON (no newline inside). Callable from any thread that
/// is not one of `rt`'s workers (it sleeps while the detectors look twice); throws
/// `std::logic_error` on a worker thread.
std::string snapshot_json(const runtime& rt, const snapshot_options& options = {});

} // namespace diag
} // namespace zokio
