#include "report.hpp"

#include <zokio/diag/deadlock.hpp>
#include <zokio/diag/metrics.hpp>

#include <zokio_tools/html_report.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <fstream>
#include <thread>

#include <sys/utsname.h>

namespace zokio::diag_tool {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string evidence_text(const scenario_result& s);

/// A task's id, name, worker and spawn site, as the cycles and lost wake-ups list them.
nlohmann::ordered_json task_json(const zokio::diag::task_info& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"worker", t.worker},
          {"spawn_site",
           {{"file", t.spawn_site.file},
            {"line", t.spawn_site.line},
            {"function", t.spawn_site.function}}}};
}

nlohmann::ordered_json scenario_json(const scenario_result& s) {
  nlohmann::ordered_json j;
  j["name"] = s.name;
  j["verdict"] = to_string(s.outcome);
  j["reason"] = s.reason;
  j["evidence"] = s.outcome == verdict::pass ? std::string() : evidence_text(s);
  j["wall_ms"] = s.wall_ms;
  // The runtime's own JSON form of its counters, so that the tools and /metrics agree.
  j["counters"] = s.counters ? nlohmann::ordered_json::parse(zokio::diag::to_json(*s.counters))
                             : nlohmann::ordered_json(nullptr);
  // Each cycle as its tasks in ring order: each waits for the next, the last for the first.
  nlohmann::ordered_json cycles = nlohmann::ordered_json::array();
  for (const zokio::diag::deadlock_cycle& c : s.cycles) {
    nlohmann::ordered_json tasks = nlohmann::ordered_json::array();
    for (const zokio::diag::task_info& t : c.tasks) {
      nlohmann::ordered_json task = task_json(t);
      task["waiting_on"] = t.waiting_on;
      task["await_site"] = {{"file", t.await_file}, {"line", t.await_line}};
      task["waits_for_task"] = t.waits_for_task;
      tasks.push_back(std::move(task));
    }
    cycles.push_back({{"tasks", std::move(tasks)}});
  }
  j["cycles"] = std::move(cycles);
  // Each stall as the runtime reported it, with the stuck thread's backtrace.
  const auto ms_of = [](std::chrono::nanoseconds d) {
    return static_cast<double>(d.count()) / 1e6;
  };
  nlohmann::ordered_json stalls = nlohmann::ordered_json::array();
  for (const zokio::diag::stall_report& r : s.stalls) {
    stalls.push_back(
        {{"task_id", r.task_id},
         {"name", r.task_name},
         {"worker", r.worker},
         {"in_callback", r.in_callback},
         {"in_poll_phase", r.in_poll_phase},
         {"spawn_site",
          {{"file", r.spawn_site.file},
           {"line", r.spawn_site.line},
           {"function", r.spawn_site.function}}},
         {"resumed_from", {{"file", r.resumed_from_file}, {"line", r.resumed_from_line}}},
         {"duration_ms", ms_of(r.duration)},
         {"ended", r.ended},
         {"total_ms", ms_of(r.total)},
         {"watched_ms", ms_of(r.watched)},
         {"on_cpu_ms", ms_of(r.on_cpu)},
         {"runqueue_wait_ms", ms_of(r.runqueue_wait)},
         {"preempted", r.preempted()},
         {"thread_state", r.thread_state == 0 ? std::string() : std::string(1, r.thread_state)},
         {"blocked", r.blocked()},
         {"syscall", r.syscall},
         {"wchan", r.wchan},
         {"backtrace", r.backtrace},
         {"backtrace_note", r.backtrace_note}});
  }
  j["stalls"] = std::move(stalls);
  // Each resource a leak check sampled: its trend, its tolerances and every sample.
  nlohmann::ordered_json resources = nlohmann::ordered_json::array();
  for (const resource_trend& t : s.resources) {
    resources.push_back({{"name", t.name},
                         {"unit", t.unit},
                         {"baseline", t.baseline},
                         {"final", t.final_level},
                         {"growth", t.growth},
                         {"slope_per_round", t.slope_per_round},
                         {"max_growth", t.max_growth},
                         {"max_slope_per_round", t.max_slope_per_round},
                         {"leaking", t.leaking},
                         {"samples", t.samples}});
  }
  j["resources"] = std::move(resources);
  // Each lost wake-up: the task, why nothing can resume it, and its last co_await site.
  nlohmann::ordered_json lost = nlohmann::ordered_json::array();
  for (const zokio::diag::lost_wakeup& l : s.lost_wakeups) {
    const zokio::diag::task_info& t = l.task;
    nlohmann::ordered_json task = task_json(t);
    task["state"] = t.state;
    task["await_site"] = {{"file", t.await_file}, {"line", t.await_line}};
    task["why"] = l.why;
    lost.push_back(std::move(task));
  }
  j["lost_wakeups"] = std::move(lost);
  return j;
}

std::string count_or_dash(const std::optional<zokio::runtime_stats>& s,
                          std::uint64_t zokio::worker_counters::*field) {
  return s ? std::to_string((*s).*field) : std::string("-");
}

/// Prints each line of `text` indented by four spaces.
void print_indented(std::FILE* out, const std::string& text) {
  std::size_t from = 0;
  while (from < text.size()) {
    const std::size_t eol = text.find('\n', from);
    std::fprintf(out, "    %s\n", text.substr(from, eol - from).c_str());
    from = eol == std::string::npos ? text.size() : eol + 1;
  }
}

/// The evidence of a scenario that did not pass, as the table prints it under its reason: each
/// cycle, each stall with its backtrace, each leaking resource.
std::string evidence_text(const scenario_result& s) {
  if (!s.evidence.empty()) {
    return s.evidence;
  }
  std::string text = zokio::diag::format_deadlocks(s.cycles);
  for (const zokio::diag::stall_report& r : s.stalls) {
    text += zokio::diag::format_stall(r);
  }
  text += zokio::diag::format_lost_wakeups(s.lost_wakeups);
  for (const resource_trend& t : s.resources) {
    if (t.leaking) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "leak: %s from %.0f to %.0f %s (%+.2f per round over %zu rounds)\n",
                    t.name.c_str(), t.baseline, t.final_level, t.unit.c_str(), t.slope_per_round,
                    t.samples.size());
      text += buf;
    }
  }
  return text;
}

/// `text` escaped for XML 1.0 character data and double-quoted attribute values (as for HTML);
/// characters XML cannot hold (control characters other than tab, newline and carriage return)
/// become '?'.
std::string xml_escape(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      c = '?';
    }
  }
  return zokio::tools::html_escape(text);
}

std::string seconds(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", ms / 1000.0);
  return buf;
}

} // namespace

host_facts probe_host() {
  host_facts h;
  h.cpu_model = "unknown";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    // x86 says "model name"; some other architectures only have "Hardware" or "cpu model".
    const auto colon = line.find(':');
    if (colon == std::string::npos) {
      continue;
    }
    const std::string key = trim(line.substr(0, colon));
    if (key == "model name" || key == "cpu model" || key == "Hardware") {
      h.cpu_model = trim(line.substr(colon + 1));
      break;
    }
  }
  h.cores = std::thread::hardware_concurrency();
  utsname u{};
  h.kernel = uname(&u) == 0 ? u.release : "unknown";
  return h;
}

std::string utc_timestamp_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string render_scenario_json(const scenario_result& s) {
  return scenario_json(s).dump();
}

std::string render_json(const run_info& run, const std::vector<check_result>& checks,
                        int exit_code) {
  nlohmann::ordered_json doc;
  doc["schema"] = "zokio.diag/1";
  doc["tool"] = "zokio-diag";
  doc["version"] = run.version;
  doc["git_commit"] = run.git_commit;
  doc["git_dirty"] = run.git_dirty;
  doc["host"] = {
      {"cpu_model", run.host.cpu_model}, {"cores", run.host.cores}, {"kernel", run.host.kernel}};
  doc["timestamp"] = run.timestamp;
  doc["options"] = {{"inject", run.inject ? nlohmann::ordered_json(*run.inject)
                                          : nlohmann::ordered_json(nullptr)},
                    {"only", run.only},
                    {"scenario_timeout_s", run.scenario_timeout_s},
                    {"timeout_s", run.timeout_s ? nlohmann::ordered_json(*run.timeout_s)
                                                : nlohmann::ordered_json(nullptr)}};
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const check_result& c : checks) {
    nlohmann::ordered_json scenarios = nlohmann::ordered_json::array();
    for (const scenario_result& s : c.scenarios) {
      scenarios.push_back(scenario_json(s));
    }
    list.push_back(
        {{"check", c.check}, {"verdict", to_string(c.outcome)}, {"scenarios", scenarios}});
  }
  doc["checks"] = std::move(list);
  doc["exit_code"] = exit_code;
  return doc.dump(2) + "\n";
}

void print_table(std::FILE* out, const check_result& check) {
  using wc = zokio::worker_counters;
  std::fprintf(out, "%-20s %-13s %9s %8s %9s %6s %9s %12s\n", "scenario", "verdict", "wall ms",
               "awaits", "suspended", "inline", "fallbacks", "cross-thread");
  std::size_t passed = 0;
  for (const scenario_result& s : check.scenarios) {
    passed += s.outcome == verdict::pass ? 1 : 0;
    std::fprintf(out, "%-20s %-13s %9.1f %8s %9s %6s %9s %12s\n", s.name.c_str(),
                 to_string(s.outcome), s.wall_ms, count_or_dash(s.counters, &wc::awaits).c_str(),
                 count_or_dash(s.counters, &wc::awaits_suspended).c_str(),
                 count_or_dash(s.counters, &wc::awaits_inline).c_str(),
                 count_or_dash(s.counters, &wc::sync_fallbacks).c_str(),
                 count_or_dash(s.counters, &wc::resumes_cross_thread).c_str());
  }
  for (const scenario_result& s : check.scenarios) {
    if (s.outcome != verdict::pass) {
      std::fprintf(out, "  %s: %s\n", s.name.c_str(), s.reason.c_str());
      // The evidence: each cycle, one task a line, each stall with its backtrace, each leaking
      // resource, indented under its scenario.
      print_indented(out, evidence_text(s));
    }
  }
  const std::size_t total = check.scenarios.size();
  if (check.outcome == verdict::pass) {
    std::fprintf(out, "check-%s: PASS (%zu/%zu scenarios)\n", check.check.c_str(), passed, total);
    return;
  }
  std::string failed;
  for (const scenario_result& s : check.scenarios) {
    if (s.outcome != verdict::pass) {
      failed += (failed.empty() ? "" : ", ") + s.name;
    }
  }
  std::fprintf(out, "check-%s: FAIL (%s; %zu/%zu scenarios passed; not passed: %s)\n",
               check.check.c_str(), to_string(check.outcome), passed, total, failed.c_str());
}

} // namespace zokio::diag_tool

namespace zokio::diag_tool {

std::string render_junit(const run_info& run, const std::vector<check_result>& checks) {
  // One test suite per check, one test case per scenario: a scenario that failed (fail,
  // deadlock, sync-fallback) is a <failure>, one cut short (hang, interrupted) an <error>, one
  // not run <skipped>; the type attribute is the verdict, the message the reason, the text the
  // evidence.
  std::size_t tests = 0;
  std::size_t failures = 0;
  std::size_t errors = 0;
  std::size_t skipped = 0;
  double total_ms = 0;
  std::string suites;
  for (const check_result& c : checks) {
    std::size_t c_failures = 0;
    std::size_t c_errors = 0;
    std::size_t c_skipped = 0;
    double c_ms = 0;
    std::string cases;
    const std::string classname = "zokio-diag." + c.check;
    for (const scenario_result& s : c.scenarios) {
      c_ms += s.wall_ms;
      cases += "    <testcase classname=\"" + xml_escape(classname) + "\" name=\"" +
               xml_escape(s.name) + "\" time=\"" + seconds(s.wall_ms) + "\"";
      const std::string type = to_string(s.outcome);
      const std::string body = xml_escape(s.reason + "\n" + evidence_text(s));
      switch (s.outcome) {
      case verdict::pass:
        cases +=
            ">\n      <system-out>" + xml_escape(s.reason) + "</system-out>\n    </testcase>\n";
        break;
      case verdict::not_run:
        ++c_skipped;
        cases += ">\n      <skipped message=\"" + xml_escape(s.reason) + "\"/>\n    </testcase>\n";
        break;
      case verdict::hang:
      case verdict::interrupted:
        ++c_errors;
        cases += ">\n      <error type=\"" + type + "\" message=\"" + xml_escape(s.reason) + "\">" +
                 body + "</error>\n    </testcase>\n";
        break;
      default:
        ++c_failures;
        cases += ">\n      <failure type=\"" + type + "\" message=\"" + xml_escape(s.reason) +
                 "\">" + body + "</failure>\n    </testcase>\n";
        break;
      }
    }
    suites += "  <testsuite name=\"" + xml_escape(classname) + "\" tests=\"" +
              std::to_string(c.scenarios.size()) + "\" failures=\"" + std::to_string(c_failures) +
              "\" errors=\"" + std::to_string(c_errors) + "\" skipped=\"" +
              std::to_string(c_skipped) + "\" time=\"" + seconds(c_ms) + "\" timestamp=\"" +
              xml_escape(run.timestamp) + "\">\n";
    suites += "    <properties>\n";
    const auto property = [&suites](const std::string& name, const std::string& value) {
      suites += "      <property name=\"" + xml_escape(name) + "\" value=\"" + xml_escape(value) +
                "\"/>\n";
    };
    property("verdict", to_string(c.outcome));
    property("version", run.version);
    property("git_commit", run.git_commit + (run.git_dirty ? "-dirty" : ""));
    property("inject", run.inject.value_or(""));
    property("host", run.host.cpu_model + ", " + std::to_string(run.host.cores) + " cores, " +
                         run.host.kernel);
    suites += "    </properties>\n" + cases + "  </testsuite>\n";
    tests += c.scenarios.size();
    failures += c_failures;
    errors += c_errors;
    skipped += c_skipped;
    total_ms += c_ms;
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"zokio-diag\" tests=\"" +
         std::to_string(tests) + "\" failures=\"" + std::to_string(failures) + "\" errors=\"" +
         std::to_string(errors) + "\" skipped=\"" + std::to_string(skipped) + "\" time=\"" +
         seconds(total_ms) + "\">\n" + suites + "</testsuites>\n";
}

} // namespace zokio::diag_tool
