#pragma once

#include <zokio/diag/stall.hpp>
#include <zokio/util/site.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>

namespace zokio {

/// What the runtime hands to `runtime_options::on_task_error` when a detached task fails: the
/// task's id, name and spawn site, and its exception.
struct task_failure {
  std::uint64_t id = 0;
  std::string_view name;
  site spawn_site;
  std::exception_ptr error;
};

/// Faults a runtime injects on purpose, so that the checks that must catch them can be shown to
/// fire (`zokio-diag --inject`, the test suite). Never set in a program.
struct runtime_testing_options {
  /// Under `force_async`, this many awaits complete inline anyway, as the original Zokio's sync
  /// fallback did. `zokio-diag --check-async --inject sync-fallback` uses it.
  unsigned inline_awaits = 0;
  /// Busy time is read at every transition (a suspension or a finish) even with a stall
  /// watchdog, as it is without one, instead of sampled by the watchdog's millisecond tick.
  /// tools/zokio-diag/detector_cost/detector-cost.sh uses it to measure what the detectors
  /// themselves cost, apart from what sampling saves.
  bool exact_busy_time = false;
};

/// Options of a runtime. The members' order is part of the API (designated initializers depend
/// on it); new members go at the end.
struct runtime_options {
  /// Worker threads, each with its own libuv loop. 0 means one per core.
  unsigned workers = 0;
  /// Every await suspends and is resumed by the loop on a later turn, even when its result is
  /// already there. `zokio-diag --check-async` runs with it to prove the asynchronous path.
  bool force_async = false;
  /// A resume of a task running longer than this is a stall, counted once in
  /// `runtime_stats::stalls` (on the worker it ran on). Zero turns counting off. Time a task
  /// spends suspended never counts.
  std::chrono::milliseconds stall_threshold{100};
  /// Called with every failure of a task nobody will join (detached, or its handle dropped
  /// without awaiting). The default prints one line to standard error.
  std::function<void(const task_failure&)> on_task_error{};
  /// Shown in diagnostics, and the worker threads are named "<name>-<index>" (cut to 15
  /// characters, the limit of Linux thread names).
  std::string name = "zokio";
  /// `block_on` raises `deadlock_error` once the runtime has been provably stuck this long.
  /// Zero turns detection off (for programs that wake tasks from threads the runtime does not
  /// know about).
  std::chrono::milliseconds deadlock_grace{1000};

  // Additions after the contract's members.

  /// How long `shutdown()` waits for cancelled tasks to unwind before it reports them as left.
  /// Every duration here may be as long as `milliseconds::max()`: deadlines saturate.
  std::chrono::milliseconds shutdown_grace{5000};
  /// Tasks resumed per loop turn before the loop polls for I/O again (Tokio's coop budget).
  unsigned ready_budget = 128;
  /// Threads of the `spawn_blocking` pool, started on demand. Jobs beyond this many wait for a
  /// thread. The pool is apart from libuv's (file system and DNS requests), so blocking jobs
  /// never hold file I/O back.
  unsigned max_blocking_threads = 64;
  /// Fault injection for testing the runtime's own checks: `{.testing = {.inline_awaits = 1}}`.
  runtime_testing_options testing{};
  /// Called once per stall (a resume past `stall_threshold`), from the runtime's stall watchdog
  /// thread, while the stall goes on. Keep it short: the watchdog watches no other worker while
  /// it runs. Unset, a stall is only counted and kept for `diag::recent_stalls`. An exception it
  /// throws is dropped.
  std::function<void(const diag::stall_report&)> on_stall{};
  /// Take a backtrace of the stalled thread while it is stuck: the watchdog sends it a signal
  /// (SIGRTMIN+6, installed once per process unless the program already handles it) and the
  /// handler records the stack into a buffer set aside beforehand. Off: reports carry no stack.
  bool stall_backtrace = true;
  /// A path: serve the live console there, a Unix socket (owner-only, mode 0600) answering
  /// `snapshot` with one JSON document a line (stats, task dump, open handles, detector
  /// findings, lints; docs/schema/zokio.console-1.schema.json), from a thread of its own. Empty:
  /// the environment variable ZOKIO_CONSOLE, if set, names it. A socket file left by a program
  /// that has ended is replaced; a path in use or not usable is reported in one line on standard
  /// error and the runtime runs without a console. `shutdown()` stops it and removes the file.
  /// `zokio-diag top --socket PATH` and `zokio-diag dump --socket PATH` read it.
  std::string console{};
};

} // namespace zokio
