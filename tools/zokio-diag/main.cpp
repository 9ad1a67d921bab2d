// zokio-diag: checks that prove the Zokio runtime's claims, as a human table or a JSON document,
// and an exit code (DESIGN.md, "Tools: the shared contract"). The exit codes are the table of
// zokio_tools/exit_codes.hpp, which --help prints; the verdicts map onto it in check.cpp.

#include "check_async.hpp"
#include "check_blocking.hpp"
#include "check_deadlock.hpp"
#include "check_leaks.hpp"
#include "check_lifecycle.hpp"
#include "check_lost_wakeup.hpp"
#include "check_stall.hpp"
#include "console_client.hpp"
#include "report.hpp"
#include "watchdog.hpp"

#include <zokio_tools/exit_codes.hpp>
#include <zokio_tools/output_file.hpp>
#include <zokio_tools/provenance.hpp>
#include <zokio_tools/watchdog.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
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
     "a resume or a libuv callback that blocks its worker past the stall threshold (default 25 "
     "ms) is reported once, while it runs, with task name, spawn site and backtrace; a "
     "well-behaved workload has none"},
    {"--check-lifecycle", "lifecycle",
     "runtimes of 1 and 3 workers start and shut down clean, within a bound, with tasks, "
     "sockets, timers, signal watchers, blocking jobs and file reads in flight"},
    {"--check-leaks", "leaks",
     "rounds of everyday work in one runtime, and runtimes started and shut down, give back "
     "memory, descriptors, threads, libuv handles and tasks (flat trend after a warm-up)"},
    {"--check-blocking", "blocking",
     "a synchronous call blocking a loop thread is reported with its location as blocked "
     "(off-CPU), told apart from a busy loop (on-CPU); waits in the poller and the pools are not"},
    {"--check-lost-wakeup", "lost-wakeup",
     "a suspended task that nothing can resume (its waker dropped, its join target gone) is found "
     "within a second with its co_await site; delivered wake-ups never are"},
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
      {"callback-stall",
       {"stall"},
       1,
       "a libuv callback (no task) that busy-loops 300 ms: a timer callback, and an I/O callback "
       "of the poll phase"},
      {"leak",
       {"leaks"},
       1,
       "every round keeps 1 MiB and a listening TCP socket (a descriptor, a handle, a task)"},
      {"blocking",
       {"blocking"},
       1,
       "a task that sleeps 300 ms and one that blocks 300 ms in read(2) on its worker's thread"},
      {"lost-wakeup",
       {"lost-wakeup"},
       4,
       "a task whose coroutine handle an awaiter takes and drops without resuming it"},
      {"crash",
       {"async"},
       4,
       "the check's process dies of SIGSEGV as its second scenario begins: the parent names the "
       "signal and the scenario, and the other checks still run"},
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

using on_result_fn = std::function<void(const scenario_result&)>;

/// A check to run: its name, its planned scenarios, and what runs them.
struct planned_check {
  std::string name;
  std::vector<std::string> planned;
  std::function<check_result(watchdog&, const on_result_fn&)> run;
};

/// Appends the check `name` to `plan`: its planned scenarios, and `run` with `options`.
template <typename Options>
void add_check(std::vector<planned_check>& plan, const char* name, std::vector<std::string> planned,
               Options options,
               check_result (*run)(const Options&, watchdog&, const on_result_fn&)) {
  plan.push_back({name, std::move(planned),
                  [options = std::move(options), run](watchdog& wd, const on_result_fn& record) {
                    return run(options, wd, record);
                  }});
}

/// --inject crash: the process dies of SIGSEGV, as a bug in the runtime would make it.
[[noreturn]] void injected_crash() {
  std::signal(SIGSEGV, SIG_DFL);
  std::raise(SIGSEGV);
  std::abort();
}

/// Writes the JSON report (`json_text`) and the JUnit report of `results`, when asked for, and
/// returns the exit code: `code`, or 2 when a passing run's report could not be written (the
/// verdict stays visible; a passing run whose report is lost is an environment error).
int write_reports(std::optional<zokio::tools::output_file>& json_out,
                  std::optional<zokio::tools::output_file>& junit_out, const run_info& info,
                  const std::vector<check_result>& results, int code,
                  const std::function<std::string()>& json_text) {
  const auto write = [&code](std::optional<zokio::tools::output_file>& out, const char* flag,
                             const std::function<std::string()>& text) {
    if (!out) {
      return;
    }
    try {
      out->write(text());
    } catch (const zokio::tools::output_error& e) {
      environment_error(std::string(flag) + " " + e.what());
      if (code == 0) {
        code = exit_usage;
      }
    }
  };
  write(json_out, "--json", json_text);
  write(junit_out, "--junit", [&] { return render_junit(info, results); });
  return code;
}

/// A scenario read back from a child's JSON: what the parent's table and JUnit report need.
scenario_result scenario_from_json(const nlohmann::json& j) {
  scenario_result r;
  r.name = j.value("name", "");
  r.outcome = verdict_named(j.value("verdict", "")).value_or(verdict::fail);
  r.reason = j.value("reason", "");
  r.wall_ms = j.value("wall_ms", 0.0);
  r.evidence = j.value("evidence", "");
  return r;
}

/// The check's part of the report, and the same as a check_result, from what a child wrote:
/// its report if it wrote one, else its progress log (the scenarios done and the one it began
/// last), the child having died (`how`).
std::pair<nlohmann::ordered_json, check_result> read_child(const planned_check& c,
                                                           const std::string& dir,
                                                           const zokio::tools::watched_exit& how,
                                                           int child_code, long long timeout_s) {
  try {
    std::ifstream in(dir + "/report.json");
    const auto doc = nlohmann::ordered_json::parse(in);
    const auto& checks = doc.at("checks");
    if (checks.size() == 1 && checks[0].at("check") == c.name) {
      check_result r;
      r.check = c.name;
      r.outcome = verdict_named(checks[0].at("verdict").get<std::string>()).value_or(verdict::fail);
      for (const auto& sj : checks[0].at("scenarios")) {
        r.scenarios.push_back(scenario_from_json(sj));
      }
      return {checks[0], r};
    }
  } catch (const std::exception&) {
    // No report (the child died before it could write one): its progress log tells.
  }
  std::vector<scenario_result> done;
  std::vector<nlohmann::ordered_json> done_json;
  std::string current;
  std::ifstream log(dir + "/progress.jsonl");
  for (std::string line; std::getline(log, line);) {
    try {
      const auto j = nlohmann::ordered_json::parse(line);
      if (j.contains("begin")) {
        current = j["begin"].get<std::string>();
      } else if (j.contains("result")) {
        done.push_back(scenario_from_json(j["result"]));
        done_json.push_back(j["result"]);
        current.clear();
      }
    } catch (const std::exception&) {
      break; // a line cut short by the death
    }
  }
  const verdict why = how.hang ? verdict::hang : verdict::crash;
  check_result r = cut_short(c.name, c.planned, done, current, nullptr, {}, why, timeout_s);
  std::string what;
  if (how.signal != 0) {
    what = "the check's process died of signal " + std::to_string(how.signal) + " (" +
           strsignal(how.signal) + ")";
  } else if (how.hang) {
    what = "the check's process did not answer its parent's watchdog and was killed";
  } else {
    what =
        "the check's process exited with code " + std::to_string(child_code) + " without a report";
  }
  nlohmann::ordered_json scenarios = nlohmann::ordered_json::array();
  for (scenario_result& s : r.scenarios) {
    if (s.name == current && !current.empty()) {
      s.outcome = why;
      s.reason = what + " while this scenario ran";
    }
    const auto it = std::find_if(done.begin(), done.end(),
                                 [&s](const scenario_result& d) { return d.name == s.name; });
    scenarios.push_back(it != done.end() ? done_json[static_cast<std::size_t>(it - done.begin())]
                                         : nlohmann::ordered_json::parse(render_scenario_json(s)));
  }
  if (current.empty()) {
    std::fprintf(stderr, "zokio-diag: %s: %s between scenarios\n", c.name.c_str(), what.c_str());
  }
  r.outcome = worst(r.outcome, why);
  nlohmann::ordered_json j = {
      {"check", c.name}, {"verdict", to_string(r.outcome)}, {"scenarios", std::move(scenarios)}};
  return {j, r};
}

/// Runs each check of `plan` in a child process of its own (the tool re-executed with the hidden
/// flag --child-check, under the shared watchdog of tools/common: no heartbeat for
/// --scenario-timeout is a hang, the child then dumps and reports, or is killed), merges the
/// children's reports into the user's --json and --junit, and returns the exit code. A check
/// that hangs or is interrupted ends the run (the checks after it are not run); one whose
/// process crashes is reported with its signal and the others still run.
int run_isolated(int argc, char** argv, const std::vector<planned_check>& plan,
                 const run_info& info, std::optional<zokio::tools::output_file>& json_out,
                 std::optional<zokio::tools::output_file>& junit_out, std::FILE* table_out,
                 long long timeout_s) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/zokio-diag.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return environment_error("cannot make a temporary directory in " +
                             pattern.substr(0, pattern.rfind('/')) + ": " + std::strerror(errno));
  }
  const std::string dir = pattern;
  nlohmann::ordered_json checks = nlohmann::ordered_json::array();
  std::vector<check_result> results;
  verdict overall = verdict::pass;
  bool stop = false;
  for (const planned_check& c : plan) {
    if (stop) {
      check_result r =
          cut_short(c.name, c.planned, {}, "", nullptr, {}, verdict::not_run, timeout_s);
      print_table(table_out, r);
      checks.push_back(nlohmann::ordered_json::parse(render_json(info, {r}, 0))["checks"][0]);
      results.push_back(std::move(r));
      continue;
    }
    const std::string child_dir = dir + "/" + c.name;
    std::filesystem::create_directory(child_dir);
    std::vector<std::string> args(argv, argv + argc);
    args.insert(args.end(), {"--child-check", c.name, "--child-dir", child_dir});
    if (table_out == stderr) {
      args.emplace_back("--child-table-stderr");
    }
    std::vector<char*> cargs;
    for (std::string& a : args) {
      cargs.push_back(a.data());
    }
    cargs.push_back(nullptr);
    zokio::tools::watchdog_options o;
    o.tool = "zokio-diag";
    o.child_flag = "--watchdog-child";
    o.silence_limit = std::chrono::seconds(timeout_s);
    o.kill_grace = std::chrono::seconds(10);
    o.dump_signal = SIGUSR2;
    zokio::tools::watched_exit how;
    std::fflush(nullptr); // what this process printed comes before what the child prints
    const int code =
        zokio::tools::run_watched(static_cast<int>(args.size()), cargs.data(), o, &how);
    const bool reported = std::filesystem::exists(child_dir + "/report.json");
    auto [j, r] = read_child(c, child_dir, how, code, timeout_s);
    if (!reported) {
      print_table(table_out, r); // the child could not print its own
    }
    overall = worst(overall, r.outcome);
    stop = r.outcome == verdict::hang || r.outcome == verdict::interrupted;
    checks.push_back(std::move(j));
    results.push_back(std::move(r));
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  int code = exit_code(overall);
  code = write_reports(json_out, junit_out, info, results, code, [&] {
    auto doc = nlohmann::ordered_json::parse(render_json(info, {}, code));
    doc["checks"] = std::move(checks);
    return doc.dump(2) + "\n";
  });
  print_exit_line(table_out, code);
  return code;
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
  bool check_lost_wakeup = false;
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
  app.add_flag("--check-lost-wakeup", check_lost_wakeup,
               "Prove that a suspended task nothing can resume is found with its co_await site, "
               "and that delivered wake-ups never are");
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
  app.add_option(
         "--only", only,
         "Run only these scenarios: " + joined(async_scenario_names()) + " (async); " +
             joined(deadlock_scenario_names()) + " (deadlock); " + joined(stall_scenario_names()) +
             " (stall); " + joined(lifecycle_scenario_names()) + " (lifecycle); " +
             joined(leak_scenario_names()) + " (leaks); " + joined(blocking_scenario_names()) +
             " (blocking); " + joined(lost_wakeup_scenario_names()) + " (lost-wakeup)")
      ->delimiter(',')
      ->type_name("NAME[,NAME...]");
  app.add_option("--inject", inject,
                 "Make a check fail on purpose: sync-fallback (exit 5), hang (exit 3), "
                 "deadlock (exit 4; with --check-deadlock it plants join and lock cycles, a "
                 "partial deadlock and a self-held channel), unclean-shutdown (exit 1), stall "
                 "(exit 1, with --check-stall), handle-leak (exit 1, with --check-lifecycle), leak "
                 "(exit 1, with --check-leaks), blocking (exit 1, with --check-blocking), "
                 "lost-wakeup (exit 4, with --check-lost-wakeup) or crash (exit 4, with "
                 "--check-async); --list says what each plants")
      ->type_name("KIND");
  // Hidden: the re-executed child of one check (isolation), and a run without children.
  std::string child_check;
  std::string child_dir;
  bool child_table_stderr = false;
  int watchdog_fd = -1;
  bool no_isolation = false;
  app.add_option("--child-check", child_check)->group("");
  app.add_option("--child-dir", child_dir)->group("");
  app.add_flag("--child-table-stderr", child_table_stderr)->group("");
  app.add_option("--watchdog-child", watchdog_fd)->group("");
  app.add_flag("--no-isolation", no_isolation)->group("");
  std::string scenario_timeout = "30";
  app.add_option("--scenario-timeout", scenario_timeout,
                 "Watchdog deadline per scenario; past it, print a task dump and exit 3 "
                 "(default 30)")
      ->type_name("SECONDS");

  long long stall_threshold_ms = 25;
  app.add_option("--stall-threshold", stall_threshold_ms,
                 "The stall threshold of --check-stall's runtimes, in milliseconds (default 25, "
                 "Seastar's; the runtime's own default is 100)")
      ->type_name("MS")
      ->check(CLI::Range(1LL, 60000LL));

  std::string timeout;
  app.add_option("--timeout", timeout,
                 "Bound each check (all its scenarios) to this many seconds; past it, print a "
                 "task dump and exit 3, as for a hang (default: no bound)")
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
    check_blocking = check_lost_wakeup = true;
  }
  std::optional<long long> timeout_s;
  if (!timeout.empty()) {
    timeout_s = positive_seconds(timeout);
    if (!timeout_s) {
      return usage_error("--timeout: '" + timeout +
                         "' is not a whole number of seconds from 1 to 604800 (a week)");
    }
  }
  const std::optional<long long> scenario_timeout_s = positive_seconds(scenario_timeout);
  if (!scenario_timeout_s) {
    return usage_error("--scenario-timeout: '" + scenario_timeout +
                       "' is not a whole number of seconds from 1 to 604800 (a week)");
  }
  if (!check_async && !check_deadlock && !check_stall && !check_lifecycle && !check_leaks &&
      !check_blocking && !check_lost_wakeup) {
    return usage_error("nothing to check: pass --check-async, --check-deadlock, --check-stall, "
                       "--check-lifecycle, --check-leaks, --check-blocking, --check-lost-wakeup or "
                       "--all (--list lists them)");
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
  if (check_lost_wakeup) {
    names.insert(names.end(), lost_wakeup_scenario_names().begin(),
                 lost_wakeup_scenario_names().end());
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
  const std::vector<std::string> lost_wakeup_only = own(lost_wakeup_scenario_names());
  const bool run_lost_wakeup = check_lost_wakeup && (only.empty() || !lost_wakeup_only.empty());
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
             (c == "leaks" && check_leaks) || (c == "blocking" && check_blocking) ||
             (c == "lost-wakeup" && check_lost_wakeup);
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
  stall_options.inject_callback_stall = inject == "callback-stall";
  stall_options.threshold = std::chrono::milliseconds(stall_threshold_ms);
  if (run_stall && planned_stall_scenarios(stall_options).empty()) {
    return usage_error("--only names only planted stall scenarios; they run with --inject stall "
                       "or callback-stall");
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
  lost_wakeup_check_options lost_wakeup_options;
  lost_wakeup_options.only = lost_wakeup_only;
  lost_wakeup_options.inject_lost_wakeup = inject == "lost-wakeup";
  if (run_lost_wakeup && planned_lost_wakeup_scenarios(lost_wakeup_options).empty()) {
    return usage_error("--only names only planted lost-wakeup scenarios; they run with --inject "
                       "lost-wakeup");
  }
  if (run_blocking && planned_blocking_scenarios(blocking_options).empty()) {
    return usage_error("--only names only planted blocking scenarios; they run with --inject "
                       "blocking");
  }

  if (!child_check.empty()) {
    // The child's report goes to its parent, which merges the checks and writes the user's files.
    json_path = child_dir + "/report.json";
    junit_path.clear();
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
  info.timeout_s = timeout_s;

  // With the JSON on standard output, the table goes to standard error.
  std::FILE* const table_out = (json_out && json_out->is_stdout()) ||
                                       (junit_out && junit_out->is_stdout()) || child_table_stderr
                                   ? stderr
                                   : stdout;

  // The checks to run, in order: name, planned scenarios, and what runs them.
  std::vector<planned_check> plan;
  if (run_async) {
    async_check_options options;
    options.only = async_only;
    options.inject_inline_awaits = inject == "sync-fallback" ? 1 : 0;
    options.inject_hang = inject == "hang";
    options.inject_deadlock = inject == "deadlock";
    options.inject_unclean_shutdown = inject == "unclean-shutdown";
    add_check(plan, "async", planned_scenarios(async_only), options, &run_check_async);
  }
  if (run_deadlock) {
    add_check(plan, "deadlock", planned_deadlock_scenarios(deadlock_options), deadlock_options,
              &run_check_deadlock);
  }
  if (run_stall) {
    add_check(plan, "stall", planned_stall_scenarios(stall_options), stall_options,
              &run_check_stall);
  }
  if (run_lifecycle) {
    add_check(plan, "lifecycle", planned_lifecycle_scenarios(lifecycle_options), lifecycle_options,
              &run_check_lifecycle);
  }
  if (run_leaks) {
    add_check(plan, "leaks", planned_leak_scenarios(leak_options), leak_options, &run_check_leaks);
  }
  if (run_blocking) {
    add_check(plan, "blocking", planned_blocking_scenarios(blocking_options), blocking_options,
              &run_check_blocking);
  }
  if (run_lost_wakeup) {
    add_check(plan, "lost-wakeup", planned_lost_wakeup_scenarios(lost_wakeup_options),
              lost_wakeup_options, &run_check_lost_wakeup);
  }

  if (!child_check.empty()) {
    // A re-executed child runs the one check its parent gave it.
    plan.erase(std::remove_if(plan.begin(), plan.end(),
                              [&](const planned_check& c) { return c.name != child_check; }),
               plan.end());
  } else if (!no_isolation) {
    return run_isolated(argc, argv, plan, info, json_out, junit_out, table_out,
                        *scenario_timeout_s);
  }

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
                  const long long limit_s = why == verdict::hang && wd.expired_limit().count() > 0
                                                ? wd.expired_limit().count()
                                                : *scenario_timeout_s;
                  checks.push_back(cut_short(check, planned, std::move(so_far), name, rt, elapsed,
                                             why, limit_s));
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
                if (child_check.empty()) {
                  print_exit_line(table_out, code);
                }
              });
  stop_signals signals(wd);
  // A child tells its parent what it does: each scenario begun and each result, one JSON line
  // each, in --child-dir/progress.jsonl (what a parent reports when the child dies), and a
  // heartbeat per scenario begun and ended (the parent's deadline, --scenario-timeout).
  std::FILE* progress_log = nullptr;
  const zokio::tools::watchdog_heartbeat heartbeat =
      watchdog_fd >= 0 ? zokio::tools::watchdog_heartbeat(watchdog_fd)
                       : zokio::tools::watchdog_heartbeat();
  int scenarios_begun = 0;
  if (!child_check.empty()) {
    progress_log = std::fopen((child_dir + "/progress.jsonl").c_str(), "a");
    if (heartbeat.watched()) {
      wd.deadline_from_parent();
    }
    wd.on_progress([&, crash = inject == "crash"](const std::string& name, bool begun) {
      if (progress_log != nullptr && begun) {
        std::fprintf(progress_log, "%s\n", nlohmann::json({{"begin", name}}).dump().c_str());
        std::fflush(progress_log);
      }
      heartbeat.beat();
      if (begun && crash && ++scenarios_begun == 2) {
        injected_crash();
      }
    });
  }

  const auto record = [&done, &progress_log](const scenario_result& r) {
    if (progress_log != nullptr) {
      std::fprintf(progress_log, "{\"result\":%s}\n", render_scenario_json(r).c_str());
      std::fflush(progress_log);
    }
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
  {
    std::lock_guard<std::mutex> lock(done.m_mutex);
    for (const planned_check& c : plan) {
      done.m_to_come.emplace_back(c.name, c.planned);
    }
  }
  std::vector<check_result> results;
  for (const planned_check& c : plan) {
    begin_check(c.name, c.planned);
    if (timeout_s) {
      wd.bound_check(std::chrono::seconds(*timeout_s)); // --timeout: each check anew
    }
    results.push_back(c.run(wd, record));
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
  code = write_reports(json_out, junit_out, info, results, code,
                       [&] { return render_json(info, results, code); });
  if (child_check.empty()) {
    print_exit_line(table_out, code);
  }
  return code;
}

} // namespace

int main(int argc, char** argv) {
  // top and dump read a running program's console: no checks, no children, default signals.
  if (zokio::diag_tool::is_console_command(argc, argv)) {
    try {
      return zokio::diag_tool::run_console_command(argc, argv);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "zokio-diag: internal error: %s\n", e.what());
    }
    return exit_tool_error;
  }
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
