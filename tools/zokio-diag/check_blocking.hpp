#pragma once

// --check-blocking: proves that a synchronous call blocking a loop thread (a sleep, a blocking
// read inside a task) is reported with its location, as Node's --trace-sync-io does, and told
// apart from a task that computes for long. The runtime's stall watchdog sees a resume that runs
// past `stall_threshold` (50 ms here) and samples the stuck thread: its backtrace, its CPU time
// and run-queue wait over the watched part (/proc/self/task/TID/schedstat) and its scheduler
// state, wchan and system call. A resume long in wall time whose thread was neither on a CPU nor
// waiting for one is blocked (off-CPU); one that was on a CPU is a stall (--check-stall's
// business). The clean battery waits in the poller and on the blocking pool (never reported) and
// runs a 200 ms busy loop that must be reported as on-CPU, not blocked. --inject blocking plants
// a 300 ms sleep and a 300 ms blocking read on a worker's thread: each must be reported as
// "blocked (off-CPU)" with a backtrace naming the injected function (exit 1).

#include "check.hpp"
#include "watchdog.hpp"

#include <functional>
#include <string>
#include <vector>

namespace zokio::diag_tool {

struct blocking_check_options {
  /// Scenario names to run, in the battery's order; empty runs them all.
  std::vector<std::string> only;
  /// --inject blocking: run the planted scenarios too; each must be reported (and so fails).
  bool inject_blocking = false;
};

/// Every scenario of the check, the clean ones first; the planted ones run only with --inject
/// blocking.
const std::vector<std::string>& blocking_scenario_names();

/// The scenarios a run with `options` runs, in the order they run.
std::vector<std::string> planned_blocking_scenarios(const blocking_check_options& options);

/// Runs the planned scenarios one after another, each under `wd`.
check_result run_check_blocking(const blocking_check_options& options, watchdog& wd,
                                const std::function<void(const scenario_result&)>& on_result);

} // namespace zokio::diag_tool
