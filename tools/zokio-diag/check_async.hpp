#pragma once

// --check-async: proves that Zokio's awaits really suspend and are resumed by the loop. Each
// scenario runs in a fresh runtime with `force_async` on, under the watchdog, and is judged on
// its own behaviour and on the runtime's counters (every await suspended, none inline, no sync
// fallback, every suspension resumed exactly once, a clean shutdown).

#include "check.hpp"
#include "watchdog.hpp"

#include <functional>
#include <string>
#include <vector>

namespace zokio::diag_tool {

struct async_check_options {
  /// Scenario names to run, in the battery's order; empty runs them all.
  std::vector<std::string> only;
  /// `runtime_options::testing.inline_awaits` of every scenario's runtime (--inject
  /// sync-fallback): the check must then fail with a sync fallback.
  unsigned inject_inline_awaits = 0;
  /// --inject hang: the first runtime blocks on a task that never finishes, so the watchdog
  /// must fire.
  bool inject_hang = false;
  /// --inject deadlock: the first runtime blocks on a task that waits for an event nobody sets,
  /// so the runtime's deadlock detector must fire (exit 4).
  bool inject_deadlock = false;
  /// --inject unclean-shutdown: the first runtime gets a task stuck in a blocking job past a
  /// short shutdown grace, so the clean-shutdown check must fail (exit 1).
  bool inject_unclean_shutdown = false;
};

/// The scenarios of the battery, in the order they run.
const std::vector<std::string>& async_scenario_names();

/// The scenarios a run with `only` runs, in the order they run.
std::vector<std::string> planned_scenarios(const std::vector<std::string>& only);

/// Runs the scenarios one after another, each under `wd`. `on_result` sees each result as soon
/// as it is known (the watchdog's report of a hang lists those that finished).
check_result run_check_async(const async_check_options& options, watchdog& wd,
                             const std::function<void(const scenario_result&)>& on_result);

} // namespace zokio::diag_tool
