// zokio-diag: checks that prove the Zokio runtime's claims, as a human table or a JSON document,
// and an exit code (DESIGN.md, "Tools: the shared contract"):
//   0 passed; 1 a check failed; 2 usage or environment error; 3 hang (the watchdog fired);
//   4 deadlock or an error of the tool itself; 5 sync fallback.
// With several failures the code is the first of 3, 4, 5, 1 that applies.

#include "check_async.hpp"
#include "report.hpp"
#include "watchdog.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#ifndef ZOKIO_DIAG_VERSION
#define ZOKIO_DIAG_VERSION "0.0.0"
#endif
#ifndef ZOKIO_DIAG_GIT_COMMIT
#define ZOKIO_DIAG_GIT_COMMIT "unknown"
#endif

namespace {

using namespace zokio::diag_tool;

constexpr int exit_usage = 2;
constexpr int exit_tool_error = 4;

/// The kinds of --inject, each making one check fail on purpose.
const std::vector<std::string> inject_kinds = {"sync-fallback", "hang"};

int usage_error(const std::string& why) {
  std::string line = why;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::fprintf(stderr, "zokio-diag: %s (see --help)\n", line.c_str());
  return exit_usage;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) {
    s += (s.empty() ? "" : ", ") + x;
  }
  return s;
}

/// `text` as a whole number of seconds from 1 to a week, or nothing.
std::optional<long long> positive_seconds(const std::string& text) {
  constexpr long long week = 7 * 24 * 3600;
  if (text.empty() || text.size() > 7 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const long long v = std::stoll(text);
  return v >= 1 && v <= week ? std::optional<long long>(v) : std::nullopt;
}

/// The results so far, for the report the watchdog writes when a scenario hangs.
struct progress {
  std::mutex m_mutex;
  std::vector<scenario_result> m_done;
};

int run(int argc, char** argv) {
  CLI::App app{"zokio-diag: checks that prove the Zokio runtime's claims.\n"
               "Exit codes: 0 pass, 1 a check failed, 2 usage error, 3 hang (watchdog), "
               "4 deadlock or tool error, 5 sync fallback.",
               "zokio-diag"};
  app.set_version_flag("--version",
                       std::string("zokio-diag ") + ZOKIO_DIAG_VERSION + " (" +
                           ZOKIO_DIAG_GIT_COMMIT + ")",
                       "Print the version and git commit, then exit");

  bool check_async = false;
  std::string json_path;
  std::vector<std::string> only;
  std::string inject;
  app.add_flag("--check-async", check_async,
               "Prove that every await suspends and is resumed by the loop (force_async)");
  app.add_option("--json", json_path, "Write a JSON report to FILE ('-' for standard output)")
      ->type_name("FILE");
  app.add_option("--only", only, "Run only these scenarios: " + joined(async_scenario_names()))
      ->delimiter(',')
      ->type_name("NAME[,NAME...]");
  app.add_option("--inject", inject,
                 "Make a check fail on purpose: sync-fallback (exit 5) or hang (exit 3)")
      ->type_name("KIND");
  std::string scenario_timeout = "30";
  app.add_option("--scenario-timeout", scenario_timeout,
                 "Watchdog deadline per scenario; past it, print a task dump and exit 3 "
                 "(default 30)")
      ->type_name("SECONDS");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      return app.exit(e); // --help, --version
    }
    return usage_error(e.what());
  }

  const std::optional<long long> scenario_timeout_s = positive_seconds(scenario_timeout);
  if (!scenario_timeout_s) {
    return usage_error("--scenario-timeout: '" + scenario_timeout +
                       "' is not a whole number of seconds from 1 to 604800 (a week)");
  }
  if (!check_async) {
    return usage_error("nothing to check: pass --check-async");
  }
  if (app.count("--json") != 0 && json_path.empty()) {
    return usage_error("--json needs a file name, or '-' for standard output");
  }
  if (app.count("--only") != 0 && only.empty()) {
    return usage_error("--only needs scenario names: " + joined(async_scenario_names()));
  }
  const std::vector<std::string>& names = async_scenario_names();
  for (const std::string& n : only) {
    if (std::find(names.begin(), names.end(), n) == names.end()) {
      return usage_error("unknown scenario '" + n + "' in --only (known: " + joined(names) + ")");
    }
  }
  if (app.count("--inject") != 0 &&
      std::find(inject_kinds.begin(), inject_kinds.end(), inject) == inject_kinds.end()) {
    return usage_error("unknown --inject kind '" + inject + "' (known: " + joined(inject_kinds) +
                       ")");
  }

  run_info info;
  info.version = ZOKIO_DIAG_VERSION;
  info.git_commit = ZOKIO_DIAG_GIT_COMMIT;
  info.host = probe_host();
  info.timestamp = utc_timestamp_now();
  if (app.count("--inject") != 0) {
    info.inject = inject;
  }
  info.only = only;
  info.scenario_timeout_s = *scenario_timeout_s;

  const bool json_to_stdout = json_path == "-";
  // With the JSON on standard output, the table goes to standard error.
  std::FILE* const table_out = json_to_stdout ? stderr : stdout;

  progress done;
  watchdog wd(
      std::chrono::seconds(*scenario_timeout_s),
      [&](const std::string& name, const zokio::runtime* rt, std::chrono::nanoseconds elapsed) {
        check_result partial;
        partial.check = "async";
        {
          std::lock_guard<std::mutex> lock(done.m_mutex);
          partial.scenarios = done.m_done;
        }
        scenario_result hung;
        hung.name = name;
        hung.outcome = verdict::hang;
        hung.reason = "did not finish within " + std::to_string(*scenario_timeout_s) +
                      " s (watchdog); task dump on standard error";
        hung.wall_ms = static_cast<double>(elapsed.count()) / 1e6;
        if (rt != nullptr) {
          hung.counters = rt->stats();
        }
        partial.scenarios.push_back(std::move(hung));
        partial.outcome = verdict::hang;
        print_table(table_out, partial);
        if (!json_path.empty()) {
          write_report(json_path, render_json(info, {partial}, exit_code(verdict::hang)));
        }
      });

  async_check_options options;
  options.only = only;
  options.inject_inline_awaits = inject == "sync-fallback" ? 1 : 0;
  options.inject_hang = inject == "hang";
  const check_result result = run_check_async(options, wd, [&done](const scenario_result& r) {
    std::lock_guard<std::mutex> lock(done.m_mutex);
    done.m_done.push_back(r);
  });

  int code = exit_code(result.outcome);
  print_table(table_out, result);
  if (!json_path.empty()) {
    try {
      write_report(json_path, render_json(info, {result}, code));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "zokio-diag: %s\n", e.what());
      // The verdict stays visible; a passing run whose report is lost is an environment error.
      if (code == 0) {
        code = exit_usage;
      }
    }
  }
  return code;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zokio-diag: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "zokio-diag: internal error\n");
  }
  return exit_tool_error;
}
