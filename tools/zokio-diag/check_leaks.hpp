#pragma once

// --check-leaks: proves that what the runtime takes it gives back. A battery of everyday work
// (tasks that yield, channel traffic across workers, a loopback TCP exchange, file reads,
// blocking jobs, a timeout that expires, mutex contention) runs many rounds in one runtime, and
// runtimes are created and shut down many times over; after every round the process's resident
// memory, open descriptors and threads, and the runtime's active libuv handles and live tasks are
// sampled. After a warm-up, each series must stay flat: a resource leaks when both its growth
// (the median of the last quarter of the rounds over the median of the first quarter) and its
// least-squares slope per round pass the tolerances below (README). A leak fails the check (exit
// 1) naming the resource that grows. --inject leak plants one: every round a task that listens
// on a TCP socket forever (a descriptor, a handle and a task) and 1 MiB of memory kept.

#include "check.hpp"
#include "watchdog.hpp"

#include <functional>
#include <string>
#include <vector>

namespace zokio::diag_tool {

struct leak_check_options {
  /// Scenario names to run, in the battery's order; empty runs them all.
  std::vector<std::string> only;
  /// --inject leak: every round of every scenario leaks a socket, a task and 1 MiB.
  bool inject_leak = false;
};

/// Every scenario of the check.
const std::vector<std::string>& leak_scenario_names();

/// The scenarios a run with `options` runs, in the order they run.
std::vector<std::string> planned_leak_scenarios(const leak_check_options& options);

/// Runs the planned scenarios one after another, each under `wd`.
check_result run_check_leaks(const leak_check_options& options, watchdog& wd,
                             const std::function<void(const scenario_result&)>& on_result);

} // namespace zokio::diag_tool
