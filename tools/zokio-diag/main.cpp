// zokio-diag: checks that prove the Zokio runtime's claims, as a human table or a JSON document,
// and an exit code (DESIGN.md, "Tools: the shared contract"). The exit codes are the table of
// zokio_tools/exit_codes.hpp, which --help prints; the verdicts map onto it in check.cpp.

#include "check_async.hpp"
#include "check_blocking.hpp"
#include "check_deadlock.hpp"
#include "check_leaks.hpp"
#include "check_lifecycle.hpp"
#include "check_stall.hpp"
#include "report.hpp"
#include "watchdog.hpp"

#include <zokio_tools/exit_codes.hpp>
#include <zokio_tools/output_file.hpp>
#include <zokio_tools/provenance.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace zokio::diag_tool;

constexpr int exit_usage = zokio::tools::code(zokio::tools::exit_status::usage);
constexpr int exit_tool_error = zokio::tools::code(zokio::tools::exit_status::tool_error);

/// The checks, in the order they run: flag, name in the report, what a pass proves.
struct check_row {
  const char* flag;
  const char* name;
  const char* proves;
};

constexpr check_row check_rows[] = {
    {"--check-async", "async",
     "every await suspends and is resumed through the loop (force_async): no await completes "
     "inline, no sync fallback, resumes add up to suspensions"},
    {"--check-deadlock", "deadlock",
     "deadlocked wait-for cycles are found within a second, partial ones included, and waits "
     "that resolve are never reported"},
    {"--check-stall", "stall",
     "a resume that blocks its worker past stall_threshold is reported once, while it runs, with "
     "task name, spawn site and backtrace; a well-behaved workload has none"},
    {"--check-lifecycle", "lifecycle",
     "runtimes of 1 and 3 workers start and shut down clean, within a bound, with tasks, "
     "sockets, timers, signal watchers, blocking jobs and file reads in flight"},
    {"--check-leaks", "leaks",
     "rounds of everyday work in one runtime, and runtimes started and shut down, give back "
     "memory, descriptors, threads, libuv handles and tasks (flat trend after a warm-up)"},
    {"--check-blocking", "blocking",
     "a synchronous call blocking a loop thread is reported with its location as blocked "
     "(off-CPU), told apart from a busy loop (on-CPU); waits in the poller and the pools are not"},
};

/// The kinds of --inject, each making one check fail on purpose: the check(s) it targets, the
/// exit code it must give, and what it plants.
struct inject_row {
  const char* kind;
  std::vector<std::string> checks;
  int exit;
  const char* plants;
};

const std::vector<inject_row>& inject_rows() {
  static const std::vector<inject_row> rows = {
      {"sync-fallback", {"async"}, 5, "one await completes inline under force_async"},
      {"hang",
       {"async", "lifecycle"},
       3,
       "a task that never finishes (async) or a shutdown that never finishes (lifecycle): the "
       "scenario watchdog fires"},
      {"deadlock",
       {"async", "deadlock"},
       4,
       "tasks waiting on each other: join and lock-order cycles, a partial deadlock, a self-held "
       "channel, a semaphore cycle"},
      {"unclean-shutdown",
       {"async", "lifecycle"},
       1,
       "a task that ignores cancellation beyond shutdown_grace: the shutdown report is not "
       "clean (lifecycle names the task)"},
      {"handle-leak",
       {"lifecycle"},
       1,
       "a TCP listener kept open past shutdown: the report names its handle type (poll)"},
      {"stall",
       {"stall"},
       1,
       "a task that busy-loops 300 ms and one that sleeps 300 ms on its worker's thread"},
      {"leak",
       {"leaks"},
       1,
       "every round keeps 1 MiB and a listening TCP socket (a descriptor, a handle, a task)"},
      {"blocking",
       {"blocking"},
       1,
       "a task that sleeps 300 ms and one that blocks 300 ms in read(2) on its worker's thread"},
  };
  return rows;
}

std::vector<std::string> inject_kinds() {
  std::vector<std::string> v;
  for (const inject_row& r : inject_rows()) {
    v.emplace_back(r.kind);
  }
  return v;
}

int usage_error(const std::string& why) {
  std::string line = why;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::fprintf(stderr, "zokio-diag: %s (see --help)\n", line.c_str());
  return exit_usage;
}

/// An environment error, such as an output path that cannot be written: one line, exit 2.
int environment_error(const std::string& why) {
  std::fprintf(stderr, "zokio-diag: %s\n", why.c_str());
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

/// The results so far, for the report written when a scenario hangs or a signal ends the run:
/// the checks finished, the one running (its name, planned scenarios and those done), and those
/// still to come (name and planned scenarios), which a cut-short report lists as not run.
struct progress {
  std::mutex m_mutex;
  std::vector<check_result> m_checks;
  std::vector<std::pair<std::string, std::vector<std::string>>> m_to_come;
  std::string m_check;
  std::vector<std::string> m_planned;
  std::vector<scenario_result> m_done;
};

/// The report of a run cut short: the scenarios done, the one in progress (`name`, empty for
/// none) with verdict `why`, and every other planned scenario as not run.
check_result cut_short(const std::string& check, const std::vector<std::string>& planned,
                       std::vector<scenario_result> done, const std::string& name,
                       const zokio::runtime* rt, std::chrono::nanoseconds elapsed, verdict why,
                       long long timeout_s) {
  check_result partial;
  partial.check = check;
  partial.scenarios = std::move(done);
  for (const scenario_result& r : partial.scenarios) {
    partial.outcome = worst(partial.outcome, r.outcome);
  }
  const auto has = [&partial](const std::string& n) {
    return std::any_of(partial.scenarios.begin(), partial.scenarios.end(),
                       [&n](const scenario_result& r) { return r.name == n; });
  };
  if (!name.empty() && !has(name)) {
    scenario_result current;
    current.name = name;
    current.outcome = why;
    current.reason = why == verdict::hang ? "did not finish within " + std::to_string(timeout_s) +
                                                " s (watchdog); task dump on standard error"
                                          : "interrupted by a signal while it ran";
    current.wall_ms = static_cast<double>(elapsed.count()) / 1e6;
    if (rt != nullptr) {
      current.counters = rt->stats();
    }
    partial.scenarios.push_back(std::move(current));
  }
  for (const std::string& p : planned) {
    if (!has(p)) {
      scenario_result skipped;
      skipped.name = p;
      skipped.outcome = verdict::not_run;
      skipped.reason = "not run: the run was cut short";
      partial.scenarios.push_back(std::move(skipped));
    }
  }
  partial.outcome = worst(partial.outcome, why);
  return partial;
}

/// The last line of every run: the exit code and what it means, from the one table.
void print_exit_line(std::FILE* out, int code) {
  std::fprintf(out, "zokio-diag: exit %d (%s)\n", code, zokio::tools::exit_meaning(code));
}

int run(int argc, char** argv) {
  CLI::App app{"zokio-diag: checks that prove the Zokio runtime's claims.", "zokio-diag"};
  app.footer(zokio::tools::exit_code_help());
  app.set_version_flag("--version", "zokio-diag " + zokio::tools::version_line(),
                       "Print the version and the git commit it was built from, then exit");

  bool check_async = false;
  bool check_deadlock = false;
  bool check_stall = false;
  bool check_lifecycle = false;
  bool check_leaks = false;
  bool check_blocking = false;
  bool check_all = false;
  bool list = false;
  std::string json_path;
  std::string junit_path;
  std::vector<std::string> only;
  std::string inject;
  app.add_flag("--check-async", check_async,
               "Prove that every await suspends and is resumed by the loop (force_async)");
  app.add_flag("--check-deadlock", check_deadlock,
               "Prove that deadlocked wait-for cycles are found, also partial ones, and that "
               "waits which resolve are never reported");
  app.add_flag(
      "--check-stall", check_stall,
      "Prove that a resume blocking its worker past stall_threshold is reported once, "
      "with task name, spawn site and backtrace, and that a well-behaved workload has none");
  app.add_flag("--check-lifecycle", check_lifecycle,
               "Prove that runtimes start and shut down clean, within a bound, with everything in "
               "flight; a hang exits 3, a leak exits 1 naming the handle or task");
  app.add_flag("--check-leaks", check_leaks,
               "Prove that many rounds of work and of runtime start and shutdown give back "
               "memory, descriptors, threads, libuv handles and tasks; a leak exits 1 naming the "
               "resource that grows");
  app.add_flag("--check-blocking", check_blocking,
               "Prove that a synchronous call blocking a loop thread (a sleep, a blocking read) "
               "is reported with its location as blocked (off-CPU), apart from a busy loop");
  app.add_flag("--all", check_all,
               "Run every check into one report; the exit code is the first of 3, 4, 5, 1 that "
               "applies");
  app.add_flag("--list", list,
               "Print every check and every --inject kind, one line each, and exit");
  app.add_option("--json", json_path, "Write a JSON report to FILE ('-' for standard output)")
      ->type_name("FILE");
  app.add_option("--junit", junit_path,
                 "Write a JUnit XML report to FILE ('-' for standard output): one test case per "
                 "scenario, failures with their evidence, scenarios not run as skipped")
      ->type_name("FILE");
  app.add_option("--only", only,
                 "Run only these scenarios: " + joined(async_scenario_names()) + " (async); " +
                     joined(deadlock_scenario_names()) + " (deadlock); " +
                     joined(stall_scenario_names()) + " (stall); " +
                     joined(lifecycle_scenario_names()) + " (lifecycle); " +
                     joined(leak_scenario_names()) + " (leaks); " +
                     joined(blocking_scenario_names()) + " (blocking)")
      ->delimiter(',')
      ->type_name("NAME[,NAME...]");
  app.add_option("--inject", inject,
                 "Make a check fail on purpose: sync-fallback (exit 5), hang (exit 3), "
                 "deadlock (exit 4; with --check-deadlock it plants join and lock cycles, a "
                 "partial deadlock and a self-held channel), unclean-shutdown (exit 1), stall "
                 "(exit 1, with --check-stall), handle-leak (exit 1, with --check-lifecycle), leak "
                 "(exit 1, with --check-leaks) or blocking (exit 1, with --check-blocking); "
                 "--list says what each plants")
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

  if (list) {
    for (const check_row& c : check_rows) {
      std::printf("check %-9s %-17s %s\n", c.name, c.flag, c.proves);
    }
    for (const inject_row& r : inject_rows()) {
      std::string targets;
      for (const std::string& c : r.checks) {
        targets += (targets.empty() ? "--check-" : ",") + c;
      }
      std::printf("inject %-16s exit %d with %s: %s\n", r.kind, r.exit, targets.c_str(), r.plants);
    }
    return 0;
  }
  if (check_all) {
    check_async = check_deadlock = check_stall = check_lifecycle = check_leaks = true;
    check_blocking = true;
  }
  const std::optional<long long> scenario_timeout_s = positive_seconds(scenario_timeout);
  if (!scenario_timeout_s) {
    return usage_error("--scenario-timeout: '" + scenario_timeout +
                       "' is not a whole number of seconds from 1 to 604800 (a week)");
  }
  if (!check_async && !check_deadlock && !check_stall && !check_lifecycle && !check_leaks &&
      !check_blocking) {
    return usage_error("nothing to check: pass --check-async, --check-deadlock, --check-stall, "
                       "--check-lifecycle, --check-leaks, --check-blocking or --all (--list "
                       "lists them)");
  }
  if (app.count("--json") != 0 && json_path.empty()) {
    return usage_error("--json needs a file name, or '-' for standard output");
  }
  if (app.count("--junit") != 0 && junit_path.empty()) {
    return usage_error("--junit needs a file name, or '-' for standard output");
  }
  // The scenarios --only may name: those of the checks asked for.
  std::vector<std::string> names;
  if (check_async) {
    names = async_scenario_names();
  }
  if (check_deadlock) {
    names.insert(names.end(), deadlock_scenario_names().begin(), deadlock_scenario_names().end());
  }
  if (check_stall) {
    names.insert(names.end(), stall_scenario_names().begin(), stall_scenario_names().end());
  }
  if (check_lifecycle) {
    names.insert(names.end(), lifecycle_scenario_names().begin(), lifecycle_scenario_names().end());
  }
  if (check_leaks) {
    names.insert(names.end(), leak_scenario_names().begin(), leak_scenario_names().end());
  }
  if (check_blocking) {
    names.insert(names.end(), blocking_scenario_names().begin(), blocking_scenario_names().end());
  }
  if (app.count("--only") != 0 && only.empty()) {
    return usage_error("--only needs scenario names: " + joined(names));
  }
  for (const std::string& n : only) {
    if (std::find(names.begin(), names.end(), n) == names.end()) {
      return usage_error("unknown scenario '" + n + "' in --only (known: " + joined(names) + ")");
    }
  }
  // Each check runs the --only names that are its own; a check left with none is skipped.
  const auto own = [&only](const std::vector<std::string>& mine) {
    std::vector<std::string> v;
    for (const std::string& n : only) {
      if (std::find(mine.begin(), mine.end(), n) != mine.end()) {
        v.push_back(n);
      }
    }
    return v;
  };
  const std::vector<std::string> async_only = own(async_scenario_names());
  const std::vector<std::string> deadlock_only = own(deadlock_scenario_names());
  const bool run_async = check_async && (only.empty() || !async_only.empty());
  const std::vector<std::string> stall_only = own(stall_scenario_names());
  const bool run_deadlock = check_deadlock && (only.empty() || !deadlock_only.empty());
  const bool run_stall = check_stall && (only.empty() || !stall_only.empty());
  const std::vector<std::string> lifecycle_only = own(lifecycle_scenario_names());
  const bool run_lifecycle = check_lifecycle && (only.empty() || !lifecycle_only.empty());
  const std::vector<std::string> leaks_only = own(leak_scenario_names());
  const bool run_leaks = check_leaks && (only.empty() || !leaks_only.empty());
  const std::vector<std::string> blocking_only = own(blocking_scenario_names());
  const bool run_blocking = check_blocking && (only.empty() || !blocking_only.empty());
  if (app.count("--inject") != 0) {
    const auto& rows = inject_rows();
    const auto row = std::find_if(rows.begin(), rows.end(),
                                  [&inject](const inject_row& r) { return r.kind == inject; });
    if (row == rows.end()) {
      return usage_error("unknown --inject kind '" + inject +
                         "' (known: " + joined(inject_kinds()) + ")");
    }
    const bool targeted = std::any_of(row->checks.begin(), row->checks.end(), [&](const auto& c) {
      return (c == "async" && check_async) || (c == "deadlock" && check_deadlock) ||
             (c == "stall" && check_stall) || (c == "lifecycle" && check_lifecycle) ||
             (c == "leaks" && check_leaks) || (c == "blocking" && check_blocking);
    });
    if (!targeted) {
      return usage_error("--inject " + inject + " makes --check-" + row->checks.front() +
                         " fail; pass --check-" + row->checks.front());
    }
  }
  deadlock_check_options deadlock_options;
  deadlock_options.only = deadlock_only;
  deadlock_options.inject_deadlock = inject == "deadlock";
  if (run_deadlock && planned_deadlock_scenarios(deadlock_options).empty()) {
    return usage_error("--only names only planted deadlock scenarios; they run with --inject "
                       "deadlock");
  }
  stall_check_options stall_options;
  stall_options.only = stall_only;
  stall_options.inject_stall = inject == "stall";
  if (run_stall && planned_stall_scenarios(stall_options).empty()) {
    return usage_error("--only names only planted stall scenarios; they run with --inject stall");
  }
  lifecycle_check_options lifecycle_options;
  lifecycle_options.only = lifecycle_only;
  lifecycle_options.inject_handle_leak = inject == "handle-leak";
  lifecycle_options.inject_stuck_task = inject == "unclean-shutdown";
  lifecycle_options.inject_hang = inject == "hang";
  if (run_lifecycle && planned_lifecycle_scenarios(lifecycle_options).empty()) {
    return usage_error("--only names only planted lifecycle scenarios; they run with their "
                       "--inject (handle-leak, unclean-shutdown, hang)");
  }
  leak_check_options leak_options;
  leak_options.only = leaks_only;
  leak_options.inject_leak = inject == "leak";
  blocking_check_options blocking_options;
  blocking_options.only = blocking_only;
  blocking_options.inject_blocking = inject == "blocking";
  if (run_blocking && planned_blocking_scenarios(blocking_options).empty()) {
    return usage_error("--only names only planted blocking scenarios; they run with --inject "
                       "blocking");
  }

  // Before any work: a path that cannot be written fails now, not after every scenario.
  std::optional<zokio::tools::output_file> json_out;
  if (!json_path.empty()) {
    try {
      json_out = zokio::tools::output_file::open(json_path);
    } catch (const zokio::tools::output_error& e) {
      return environment_error(std::string("--json ") + e.what());
    }
  }
  std::optional<zokio::tools::output_file> junit_out;
  if (!junit_path.empty()) {
    try {
      junit_out = zokio::tools::output_file::open(junit_path);
    } catch (const zokio::tools::output_error& e) {
      return environment_error(std::string("--junit ") + e.what());
    }
  }
  if (json_out && junit_out && json_out->is_stdout() && junit_out->is_stdout()) {
    return usage_error("--json and --junit cannot both go to standard output");
  }

  const zokio::tools::provenance& build = zokio::tools::build_provenance();
  run_info info;
  info.version = build.version;
  info.git_commit = build.git_commit;
  info.git_dirty = build.git_dirty;
  info.host = probe_host();
  info.timestamp = utc_timestamp_now();
  if (app.count("--inject") != 0) {
    info.inject = inject;
  }
  info.only = only;
  info.scenario_timeout_s = *scenario_timeout_s;

  // With the JSON on standard output, the table goes to standard error.
  std::FILE* const table_out =
      (json_out && json_out->is_stdout()) || (junit_out && junit_out->is_stdout()) ? stderr
                                                                                   : stdout;

  progress done;
  watchdog wd(std::chrono::seconds(*scenario_timeout_s),
              [&](const std::string& name, const zokio::runtime* rt,
                  std::chrono::nanoseconds elapsed, verdict why) {
                std::vector<check_result> checks;
                std::vector<std::pair<std::string, std::vector<std::string>>> to_come;
                std::string check;
                std::vector<std::string> planned;
                std::vector<scenario_result> so_far;
                {
                  std::lock_guard<std::mutex> lock(done.m_mutex);
                  checks = done.m_checks;
                  to_come = done.m_to_come;
                  check = done.m_check;
                  planned = done.m_planned;
                  so_far = done.m_done;
                }
                if (!check.empty()) {
                  checks.push_back(cut_short(check, planned, std::move(so_far), name, rt, elapsed,
                                             why, *scenario_timeout_s));
                }
                for (auto& [later, later_planned] : to_come) {
                  checks.push_back(cut_short(later, later_planned, {}, "", nullptr, {},
                                             verdict::not_run, *scenario_timeout_s));
                }
                verdict worst_verdict = why;
                for (const check_result& c : checks) {
                  worst_verdict = worst(worst_verdict, c.outcome);
                  print_table(table_out, c);
                }
                const int code = exit_code(worst_verdict);
                if (json_out) {
                  json_out->write(render_json(info, checks, code));
                }
                if (junit_out) {
                  try {
                    junit_out->write(render_junit(info, checks));
                  } catch (const zokio::tools::output_error& e) {
                    environment_error(std::string("--junit ") + e.what());
                  }
                }
                print_exit_line(table_out, code);
              });
  stop_signals signals(wd);

  const auto record = [&done](const scenario_result& r) {
    std::lock_guard<std::mutex> lock(done.m_mutex);
    done.m_done.push_back(r);
  };
  const auto begin_check = [&done](std::string check, std::vector<std::string> planned) {
    std::lock_guard<std::mutex> lock(done.m_mutex);
    if (!done.m_to_come.empty()) {
      done.m_to_come.erase(done.m_to_come.begin());
    }
    done.m_check = std::move(check);
    done.m_planned = std::move(planned);
    done.m_done.clear();
  };
  const auto end_check = [&done](const check_result& c) {
    std::lock_guard<std::mutex> lock(done.m_mutex);
    done.m_checks.push_back(c);
    done.m_check.clear();
    done.m_done.clear();
  };
  // The checks to run, in order: name, planned scenarios, and what runs them.
  struct planned_check {
    std::string name;
    std::vector<std::string> planned;
    std::function<check_result()> run;
  };
  std::vector<planned_check> plan;
  if (run_async) {
    async_check_options options;
    options.only = async_only;
    options.inject_inline_awaits = inject == "sync-fallback" ? 1 : 0;
    options.inject_hang = inject == "hang";
    options.inject_deadlock = inject == "deadlock";
    options.inject_unclean_shutdown = inject == "unclean-shutdown";
    plan.push_back({"async", planned_scenarios(async_only),
                    [&wd, &record, options] { return run_check_async(options, wd, record); }});
  }
  if (run_deadlock) {
    plan.push_back({"deadlock", planned_deadlock_scenarios(deadlock_options),
                    [&] { return run_check_deadlock(deadlock_options, wd, record); }});
  }
  if (run_stall) {
    plan.push_back({"stall", planned_stall_scenarios(stall_options),
                    [&] { return run_check_stall(stall_options, wd, record); }});
  }
  if (run_lifecycle) {
    plan.push_back({"lifecycle", planned_lifecycle_scenarios(lifecycle_options),
                    [&] { return run_check_lifecycle(lifecycle_options, wd, record); }});
  }
  if (run_leaks) {
    plan.push_back({"leaks", planned_leak_scenarios(leak_options),
                    [&] { return run_check_leaks(leak_options, wd, record); }});
  }
  if (run_blocking) {
    plan.push_back({"blocking", planned_blocking_scenarios(blocking_options),
                    [&] { return run_check_blocking(blocking_options, wd, record); }});
  }
  {
    std::lock_guard<std::mutex> lock(done.m_mutex);
    for (const planned_check& c : plan) {
      done.m_to_come.emplace_back(c.name, c.planned);
    }
  }
  std::vector<check_result> results;
  for (const planned_check& c : plan) {
    begin_check(c.name, c.planned);
    results.push_back(c.run());
    end_check(results.back());
  }
  // From here on the run is complete: a signal no longer cuts it short.
  signals.stop();

  verdict overall = verdict::pass;
  for (const check_result& c : results) {
    overall = worst(overall, c.outcome);
    print_table(table_out, c);
  }
  int code = exit_code(overall);
  if (json_out) {
    try {
      json_out->write(render_json(info, results, code));
    } catch (const zokio::tools::output_error& e) {
      environment_error(std::string("--json ") + e.what());
      // The verdict stays visible; a passing run whose report is lost is an environment error.
      if (code == 0) {
        code = exit_usage;
      }
    }
  }
  if (junit_out) {
    try {
      junit_out->write(render_junit(info, results));
    } catch (const zokio::tools::output_error& e) {
      environment_error(std::string("--junit ") + e.what());
      if (code == 0) {
        code = exit_usage;
      }
    }
  }
  print_exit_line(table_out, code);
  return code;
}

} // namespace

int main(int argc, char** argv) {
  // Before any thread starts, so that only stop_signals' thread ever takes SIGINT/SIGTERM.
  block_stop_signals();
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zokio-diag: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "zokio-diag: internal error\n");
  }
  return exit_tool_error;
}
