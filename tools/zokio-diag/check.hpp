#pragma once

// What every check of zokio-diag produces: a verdict per scenario and per check, and the exit
// code a verdict maps to (DESIGN.md, "Tools: the shared contract").

#include <zokio/diag/deadlock.hpp>
#include <zokio/diag/lost_wakeup.hpp>
#include <zokio/diag/stall.hpp>
#include <zokio/runtime/stats.hpp>

#include <optional>
#include <string>
#include <vector>

namespace zokio::diag_tool {

/// How a scenario (or a whole check) ended, from least to most severe.
enum class verdict {
  pass,
  fail,          ///< a behaviour or counter check failed (exit 1)
  sync_fallback, ///< an await completed inline although force_async forbids it (exit 5)
  deadlock,      ///< the runtime reported a deadlock (exit 4)
  lost_wakeup,   ///< a suspended task that nothing can resume was found (exit 4)
  crash,         ///< the check's process died of a signal while this scenario ran (exit 4)
  not_run,       ///< the run was interrupted before this scenario started (exit 3)
  interrupted,   ///< SIGINT or SIGTERM arrived while this scenario ran (exit 3)
  hang,          ///< the watchdog fired (exit 3)
};

/// The spelling used in tables and JSON: "pass", "fail", "sync-fallback", "deadlock",
/// "lost-wakeup", "crash", "not-run", "interrupted", "hang".
const char* to_string(verdict v) noexcept;

/// The verdict spelled `name`, or nothing.
std::optional<verdict> verdict_named(const std::string& name) noexcept;

/// The process exit code of a verdict, from the one table of zokio_tools/exit_codes.hpp:
/// 0, 1, 5, 4, 4, 4, 3, 3, 3.
int exit_code(verdict v) noexcept;

/// The more severe of two verdicts: exit codes rank 3, 4, 5, 1, then 0.
verdict worst(verdict a, verdict b) noexcept;

/// One resource sampled after every round of a --check-leaks scenario, and the judgement of its
/// trend: the median of the first quarter of the rounds (after the warm-up) is the baseline, the
/// median of the last quarter the final level; it leaks when both its growth and its least-squares
/// slope per round pass their tolerances.
struct resource_trend {
  std::string name; ///< "rss", "fds", "threads", "handles" or "tasks"
  std::string unit; ///< "KiB" or "count"
  std::vector<double> samples;
  double baseline = 0;
  double final_level = 0;
  double growth = 0;
  double slope_per_round = 0;
  double max_growth = 0; ///< the tolerances
  double max_slope_per_round = 0;
  bool leaking = false;
};

struct scenario_result {
  std::string name;
  verdict outcome = verdict::pass;
  /// Why it failed, or on a pass what was measured (one line).
  std::string reason;
  double wall_ms = 0;
  /// The runtime's counters after shutdown; empty for a scenario that runs no runtime.
  std::optional<zokio::runtime_stats> counters;
  /// The deadlocked cycles found (--check-deadlock), the evidence of a deadlock or of a false
  /// positive; empty otherwise.
  std::vector<zokio::diag::deadlock_cycle> cycles;
  /// The stall reports of the scenario's runtime (--check-stall): the evidence of a planted stall
  /// found, or of a stall in a workload that should have none.
  std::vector<zokio::diag::stall_report> stalls;
  /// The resources sampled round after round (--check-leaks), each with its trend.
  std::vector<resource_trend> resources;
  /// The lost wake-ups found (--check-lost-wakeup).
  std::vector<zokio::diag::lost_wakeup> lost_wakeups;
  /// The evidence as text, when the result was read back from a check's process (isolation)
  /// rather than made here; empty otherwise.
  std::string evidence;
};

struct check_result {
  std::string check; ///< "async", "deadlock", "stall" or "lifecycle", as in the JSON report
  verdict outcome = verdict::pass;
  std::vector<scenario_result> scenarios;
};

} // namespace zokio::diag_tool
