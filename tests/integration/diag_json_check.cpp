// Validates a zokio-diag JSON report (schema "zokio.diag/1").
//
//   diag_json_check FILE [--verdict V] [--exit-code N] [--scenarios N]
//
// Always checked: the whole file is one JSON document with the shared tool contract's fields
// (schema, tool, version, git commit, host facts, UTC timestamp, checks, exit code), and every
// scenario has a name, a known verdict, a reason, a wall time and counters (null or an object
// of unsigned counters). --verdict V: every check has verdict V; for "pass" every scenario
// passed, and every scenario with counters shows no inline await and no sync fallback; for any
// other V at least one scenario has verdict V (see check_failing_scenarios: for "hang" and
// "interrupted" exactly one, followed only by "not-run"). --exit-code N: the document's exit_code
// is N. --scenarios N: the checks hold N scenarios in all, with distinct names. Exit 0 when valid,
// 1 when not, 2 on bad arguments.

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;

std::vector<std::string> g_problems;

void problem(const std::string& what) {
  g_problems.push_back(what);
}

bool is_nonempty_string(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty();
}

const std::set<std::string> verdicts = {"pass",     "fail",        "sync-fallback",
                                        "deadlock", "lost-wakeup", "crash",
                                        "not-run",  "interrupted", "hang"};

void check_counters(const std::string& where, const json& c, bool must_be_clean) {
  if (c.is_null()) {
    return;
  }
  if (!c.is_object()) {
    problem(where + ": counters is neither null nor an object");
    return;
  }
  for (const char* key :
       {"tasks_spawned", "awaits", "awaits_inline", "awaits_suspended", "awaits_cancelled",
        "resumes_from_loop", "resumes_from_task", "resumes_cross_thread", "sync_fallbacks"}) {
    if (!c.contains(key) || !c[key].is_number_unsigned()) {
      problem(where + ": counters." + key + " is missing or not an unsigned number");
      return;
    }
  }
  if (!c.contains("workers") || !c["workers"].is_array() || c["workers"].empty()) {
    problem(where + ": counters.workers is missing or empty");
  }
  if (!must_be_clean) {
    return;
  }
  const auto n = [&c](const char* key) { return c[key].get<std::uint64_t>(); };
  if (n("sync_fallbacks") != 0) {
    problem(where + ": sync_fallbacks is " + std::to_string(n("sync_fallbacks")));
  }
  if (n("awaits_inline") != 0) {
    problem(where + ": awaits_inline is " + std::to_string(n("awaits_inline")));
  }
  if (n("awaits") != n("awaits_suspended") + n("awaits_cancelled")) {
    problem(where + ": awaits != awaits_suspended + awaits_cancelled");
  }
}

std::uint64_t counter(const json& s, const char* key) {
  const json& c = s["counters"];
  return c.is_object() && c.contains(key) && c[key].is_number_unsigned()
             ? c[key].get<std::uint64_t>()
             : 0;
}

/// A check with a failing verdict V: at least one scenario has verdict V. For "hang",
/// "interrupted" and "crash" (a run cut short) exactly one does, every scenario after it is
/// "not-run" and none before it is; otherwise no scenario is "not-run". A "sync-fallback"
/// scenario's counters show the inline await or the sync fallback.
void check_failing_scenarios(const std::string& name, const json& scenarios, const std::string& v) {
  const bool cut_short = v == "hang" || v == "interrupted" || v == "crash";
  std::size_t with_v = 0;
  bool after_cut = false;
  for (const json& s : scenarios) {
    const std::string sv = s.value("verdict", "");
    const std::string where = "check " + name + ", scenario '" + s.value("name", "") + "'";
    if (sv == v) {
      ++with_v;
    }
    if (sv == "not-run" && !after_cut) {
      problem(where + ": not-run " +
              (cut_short ? "before the scenario that was cut short"
                         : "although the run was not cut short"));
    }
    if (after_cut && sv != "not-run") {
      problem(where + ": verdict '" + sv + "' after the run was cut short (expected not-run)");
    }
    if (cut_short && sv == v) {
      after_cut = true;
    }
    if (sv == "sync-fallback" && counter(s, "awaits_inline") + counter(s, "sync_fallbacks") == 0) {
      problem(where + ": verdict sync-fallback, but its counters show no inline await");
    }
  }
  if (with_v == 0 || (cut_short && with_v != 1)) {
    problem("check " + name + ": " + std::to_string(with_v) + " scenario(s) with verdict '" + v +
            "', expected " + (cut_short ? "exactly one" : "at least one"));
  }
}

void check_document(const json& doc, const std::optional<std::string>& want_verdict,
                    std::optional<long> want_exit, std::optional<std::size_t> want_scenarios) {
  if (!doc.is_object()) {
    problem("the document is not a JSON object");
    return;
  }
  if (doc.value("schema", "") != "zokio.diag/1") {
    problem("schema is not \"zokio.diag/1\"");
  }
  if (doc.value("tool", "") != "zokio-diag") {
    problem("tool is not \"zokio-diag\"");
  }
  if (!is_nonempty_string(doc, "version") ||
      !std::regex_match(doc["version"].get<std::string>(), std::regex(R"(\d+\.\d+\.\d+)"))) {
    problem("version is not X.Y.Z");
  }
  if (!is_nonempty_string(doc, "git_commit")) {
    problem("git_commit is missing or empty");
  }
  if (!doc.contains("git_dirty") || !doc["git_dirty"].is_boolean()) {
    problem("git_dirty is missing or not a boolean");
  }
  const json host = doc.value("host", json::object());
  if (!is_nonempty_string(host, "cpu_model") || !is_nonempty_string(host, "kernel") ||
      !host.contains("cores") || !host["cores"].is_number_unsigned() ||
      host["cores"].get<unsigned>() == 0) {
    problem("host lacks cpu_model, kernel or a positive cores");
  }
  if (!is_nonempty_string(doc, "timestamp") ||
      !std::regex_match(doc["timestamp"].get<std::string>(),
                        std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"))) {
    problem("timestamp is not UTC ISO 8601 (YYYY-MM-DDTHH:MM:SSZ)");
  }
  if (!doc.contains("exit_code") || !doc["exit_code"].is_number_integer()) {
    problem("exit_code is missing");
  } else if (want_exit && doc["exit_code"].get<long>() != *want_exit) {
    problem("exit_code is " + std::to_string(doc["exit_code"].get<long>()) + ", expected " +
            std::to_string(*want_exit));
  }
  if (!doc.contains("checks") || !doc["checks"].is_array() || doc["checks"].empty()) {
    problem("checks is missing or empty");
    return;
  }

  std::size_t scenarios = 0;
  std::set<std::string> names;
  for (const json& check : doc["checks"]) {
    const std::string name = check.value("check", "");
    if (name.empty()) {
      problem("a check has no name");
    }
    const std::string verdict = check.value("verdict", "");
    if (verdicts.count(verdict) == 0) {
      problem("check " + name + ": unknown verdict '" + verdict + "'");
    }
    if (want_verdict && verdict != *want_verdict) {
      problem("check " + name + ": verdict is '" + verdict + "', expected '" + *want_verdict + "'");
    }
    if (!check.contains("scenarios") || !check["scenarios"].is_array() ||
        check["scenarios"].empty()) {
      problem("check " + name + ": scenarios is missing or empty");
      continue;
    }
    bool any_counters = false;
    for (const json& s : check["scenarios"]) {
      ++scenarios;
      const std::string sname = s.value("name", "");
      const std::string where = "check " + name + ", scenario '" + sname + "'";
      if (sname.empty() || !names.insert(name + "/" + sname).second) {
        problem(where + ": missing or repeated name");
      }
      const std::string sverdict = s.value("verdict", "");
      if (verdicts.count(sverdict) == 0) {
        problem(where + ": unknown verdict '" + sverdict + "'");
      }
      if (want_verdict == "pass" && sverdict != "pass") {
        problem(where + ": verdict '" + sverdict + "': " + s.value("reason", ""));
      }
      if (!s.contains("reason") || !s["reason"].is_string()) {
        problem(where + ": reason is missing");
      }
      if (!s.contains("wall_ms") || !s["wall_ms"].is_number() || s["wall_ms"].get<double>() < 0) {
        problem(where + ": wall_ms is missing or negative");
      }
      if (!s.contains("counters")) {
        problem(where + ": counters is missing (null when the scenario runs no runtime)");
      } else {
        any_counters = any_counters || s["counters"].is_object();
        check_counters(where, s["counters"], want_verdict == "pass");
      }
    }
    if (want_verdict == "pass" && !any_counters) {
      problem("check " + name + ": no scenario reported counters");
    }
    if (want_verdict && *want_verdict != "pass") {
      check_failing_scenarios(name, check["scenarios"], *want_verdict);
    }
  }
  if (want_scenarios && scenarios != *want_scenarios) {
    problem(std::to_string(scenarios) + " scenario(s), expected " +
            std::to_string(*want_scenarios));
  }
}

int usage() {
  std::cerr << "usage: diag_json_check FILE [--verdict V] [--exit-code N] [--scenarios N]\n";
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return usage();
  }
  const std::string path = argv[1];
  std::optional<std::string> want_verdict;
  std::optional<long> want_exit;
  std::optional<std::size_t> want_scenarios;
  try {
    for (int i = 2; i < argc; i += 2) {
      const std::string flag = argv[i];
      if (i + 1 >= argc) {
        return usage();
      }
      const std::string value = argv[i + 1];
      if (flag == "--verdict") {
        want_verdict = value;
      } else if (flag == "--exit-code") {
        want_exit = std::stol(value);
      } else if (flag == "--scenarios") {
        want_scenarios = std::stoul(value);
      } else {
        return usage();
      }
    }
  } catch (const std::exception&) {
    return usage();
  }

  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "diag_json_check: cannot open " << path << "\n";
    return 1;
  }
  std::ostringstream text;
  text << in.rdbuf();
  json doc;
  try {
    doc = json::parse(text.str()); // the whole text: anything after the document fails
  } catch (const json::parse_error& e) {
    std::cerr << "diag_json_check: " << path << " is not one JSON document: " << e.what() << "\n";
    return 1;
  }
  check_document(doc, want_verdict, want_exit, want_scenarios);
  if (!g_problems.empty()) {
    for (const std::string& p : g_problems) {
      std::cerr << "diag_json_check: " << path << ": " << p << "\n";
    }
    return 1;
  }
  std::cout << "diag_json_check: " << path << ": valid zokio.diag/1 report\n";
  return 0;
}
