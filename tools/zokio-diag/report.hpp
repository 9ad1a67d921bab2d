#pragma once

// How zokio-diag reports: the human table, and the JSON document of the shared tool contract
// (schema "zokio.diag/1": tool, version, git commit and dirty flag, host facts, timestamp,
// checks, exit code). The document is written by zokio_tools/output_file.hpp.

#include "check.hpp"

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace zokio::diag_tool {

struct host_facts {
  std::string cpu_model; ///< /proc/cpuinfo's "model name", or "unknown"
  unsigned cores = 0;    ///< hardware threads
  std::string kernel;    ///< uname -r
};

host_facts probe_host();

/// What a report says about the run itself.
struct run_info {
  std::string version;
  std::string git_commit;
  bool git_dirty = false;
  host_facts host;
  std::string timestamp; ///< UTC, ISO 8601, e.g. 2024-05-01T12:00:00Z
  std::optional<std::string> inject;
  std::vector<std::string> only;
  long long scenario_timeout_s = 0;
  std::optional<long long> timeout_s; ///< --timeout: the bound on each check
};

/// The current time as UTC ISO 8601 with seconds: 2024-05-01T12:00:00Z.
std::string utc_timestamp_now();

/// One scenario as the document holds it, on one line.
std::string render_scenario_json(const scenario_result& s);

/// The whole JSON document.
std::string render_json(const run_info& run, const std::vector<check_result>& checks,
                        int exit_code);

/// The whole JUnit XML document: one <testsuite> per check, one <testcase> per scenario; a
/// failed scenario is a <failure>, a hang or interruption an <error>, a scenario not run
/// <skipped>, each with its reason and evidence.
std::string render_junit(const run_info& run, const std::vector<check_result>& checks);

/// The human table of one check: one row per scenario, the reasons of those that did not pass,
/// and a verdict line such as "check-async: PASS (7/7 scenarios)".
void print_table(std::FILE* out, const check_result& check);

} // namespace zokio::diag_tool
