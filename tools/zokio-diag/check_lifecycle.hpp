#pragma once

// --check-lifecycle: proves that runtimes start and shut down cleanly however much is in flight.
// The clean battery creates, runs and shuts down runtimes in a loop (1 worker, then 3), each time
// with tasks still pending at shutdown: sleeps, a channel receive, a loopback TCP connection with
// a read pending, an interval, a signal listener, a blocking job and file reads. Every
// `shutdown_report` must be clean (no task left, no handle left, every loop closed), no task may
// be live afterwards, and each shutdown must finish within a bound; a shutdown that never
// finishes is a hang (the scenario watchdog: exit 3). Injections: handle-leak (a TCP listener
// kept open past shutdown: exit 1 naming the handle type), unclean-shutdown (a task that ignores
// cancellation beyond shutdown_grace: exit 1 naming the task) and hang (a shutdown that never
// finishes: exit 3).

#include "check.hpp"
#include "watchdog.hpp"

#include <functional>
#include <string>
#include <vector>

namespace zokio::diag_tool {

struct lifecycle_check_options {
  /// Scenario names to run, in the battery's order; empty runs them all.
  std::vector<std::string> only;
  bool inject_handle_leak = false;
  bool inject_stuck_task = false; ///< --inject unclean-shutdown
  bool inject_hang = false;       ///< a shutdown that never finishes
};

/// Every scenario of the check, the clean ones first; each planted one runs only with its
/// injection.
const std::vector<std::string>& lifecycle_scenario_names();

/// The scenarios a run with `options` runs, in the order they run.
std::vector<std::string> planned_lifecycle_scenarios(const lifecycle_check_options& options);

/// Runs the planned scenarios one after another, each under `wd`.
check_result run_check_lifecycle(const lifecycle_check_options& options, watchdog& wd,
                                 const std::function<void(const scenario_result&)>& on_result);

} // namespace zokio::diag_tool
