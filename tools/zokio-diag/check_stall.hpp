#pragma once

// --check-stall: proves that the runtime's stall watchdog reports a resume that blocks its worker
// past `stall_threshold`, once, with the task's name, spawn site and a backtrace of the stuck
// thread, and that nothing else is reported. The clean battery runs a busy but well-behaved
// workload (yields, sleeps longer than the threshold, a blocking job longer than the threshold on
// the blocking pool, cross-worker channel traffic) with the detector armed: any stall fails the
// check (exit 1), unless the report shows the thread was waiting for a CPU most of the time (an
// overloaded machine; noted, not failed). With --inject stall the planted battery runs too: a task
// that busy-loops 300 ms, and one that sleeps 300 ms on its worker's thread, each to be reported
// with its name, spawn site and a backtrace naming the injected function. With --inject
// callback-stall: a libuv timer callback and an I/O callback of the poll phase (no task running)
// each busy-loop 300 ms, to be reported once as a stall in a libuv callback with a backtrace
// naming the injected function. The threshold is --stall-threshold (default 25 ms).

#include "check.hpp"
#include "watchdog.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace zokio::diag_tool {

struct stall_check_options {
  /// Scenario names to run, in the battery's order; empty runs them all.
  std::vector<std::string> only;
  /// --inject stall: run the planted task scenarios too; each must be reported (and so fails).
  bool inject_stall = false;
  /// --inject callback-stall: run the planted callback scenarios too (a libuv callback, no task,
  /// busy for 300 ms); each must be reported.
  bool inject_callback_stall = false;
  /// --stall-threshold MS: the runtimes' stall_threshold (default 25 ms, Seastar's).
  std::chrono::milliseconds threshold{25};
};

/// Every scenario of the check, the clean one first; the planted ones run only with --inject
/// stall.
const std::vector<std::string>& stall_scenario_names();

/// The scenarios a run with `options` runs, in the order they run.
std::vector<std::string> planned_stall_scenarios(const stall_check_options& options);

/// Runs the planned scenarios one after another, each under `wd`.
check_result run_check_stall(const stall_check_options& options, watchdog& wd,
                             const std::function<void(const scenario_result&)>& on_result);

} // namespace zokio::diag_tool
