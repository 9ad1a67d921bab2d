#pragma once

// --check-deadlock: proves that deadlocks are found, and only real ones. The clean battery runs
// workloads that wait on each other and resolve (join chains, mutex contention across workers,
// locks taken in one order) while a plain thread calls `diag::find_deadlocks` in a loop: any
// cycle reported fails the check. With --inject deadlock the planted battery runs too: tasks
// joining each other, an AB/BA lock-order cycle, the same beside a ticking timer and an open
// socket (a partial deadlock), each to be found as a cycle within a second; and a receive on a
// channel whose only sender its receiver holds, and a cycle through two semaphores, which name no
// task to wait for and are found by block_on's whole-runtime quiescence.

#include "check.hpp"
#include "watchdog.hpp"

#include <functional>
#include <string>
#include <vector>

namespace zokio::diag_tool {

struct deadlock_check_options {
  /// Scenario names to run, in the battery's order; empty runs them all.
  std::vector<std::string> only;
  /// --inject deadlock: run the planted scenarios too; each must end with a deadlock verdict.
  bool inject_deadlock = false;
};

/// Every scenario of the check, the clean ones first; the planted ones run only with
/// --inject deadlock.
const std::vector<std::string>& deadlock_scenario_names();

/// The scenarios a run with `options` runs, in the order they run.
std::vector<std::string> planned_deadlock_scenarios(const deadlock_check_options& options);

/// Runs the planned scenarios one after another, each under `wd`.
check_result run_check_deadlock(const deadlock_check_options& options, watchdog& wd,
                                const std::function<void(const scenario_result&)>& on_result);

} // namespace zokio::diag_tool
