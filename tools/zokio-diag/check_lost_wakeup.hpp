#pragma once

// --check-lost-wakeup: proves that a suspension nothing can resume is found, with its task and
// last co_await site (tokio-console's lost-waker lint), and that wake-ups that are delivered are
// never taken for lost. The clean battery runs joins, channel traffic across workers and a
// contended mutex while a thread calls diag::find_lost_wakeups over and over: any finding fails
// the check (exit 1). --inject lost-wakeup plants a task whose coroutine handle is taken by an
// awaiter that drops it without resuming: it must be found within a second (exit 4).

#include "check.hpp"
#include "watchdog.hpp"

#include <functional>
#include <string>
#include <vector>

namespace zokio::diag_tool {

struct lost_wakeup_check_options {
  /// Scenario names to run, in the battery's order; empty runs them all.
  std::vector<std::string> only;
  /// --inject lost-wakeup: run the planted scenario too.
  bool inject_lost_wakeup = false;
};

const std::vector<std::string>& lost_wakeup_scenario_names();

std::vector<std::string> planned_lost_wakeup_scenarios(const lost_wakeup_check_options& options);

check_result run_check_lost_wakeup(const lost_wakeup_check_options& options, watchdog& wd,
                                   const std::function<void(const scenario_result&)>& on_result);

} // namespace zokio::diag_tool
