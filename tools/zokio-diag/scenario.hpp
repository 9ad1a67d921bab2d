#pragma once

// What the checks of zokio-diag share: the outcome a scenario builds up, and the loop that runs a
// battery of scenarios one after another under the watchdog.

#include "check.hpp"
#include "watchdog.hpp"

#include <zokio/diag/deadlock.hpp>
#include <zokio/runtime/runtime.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zokio::diag_tool {

/// What a scenario found: failures, sync fallbacks, notes on what it measured, and its
/// runtime's counters once the runtime has shut down.
class scenario_outcome {
public:
  void fail(std::string why) { m_failures.push_back(std::move(why)); }
  void expect(bool ok, std::string why) {
    if (!ok) {
      fail(std::move(why));
    }
  }
  /// An await ran synchronously although force_async forbids it.
  void fallback(std::string why) {
    m_fallback = true;
    fail(std::move(why));
  }
  void deadlock(std::string why) {
    m_deadlock = true;
    fail(std::move(why));
  }
  /// A suspended task that nothing can resume.
  void lost_wakeup(std::string why) {
    m_lost_wakeup = true;
    fail(std::move(why));
  }
  /// The lost wake-ups found, the evidence of a lost-wakeup verdict.
  void lost_wakeups(std::vector<zokio::diag::lost_wakeup> found) { m_lost = std::move(found); }
  void note(std::string what) { m_notes.push_back(std::move(what)); }
  /// The deadlocked cycles found, the evidence of a deadlock verdict.
  void cycles(std::vector<zokio::diag::deadlock_cycle> found) { m_cycles = std::move(found); }
  /// The stall reports of the scenario's runtime.
  void stalls(std::vector<zokio::diag::stall_report> found) { m_stalls = std::move(found); }
  /// The resources a leak check sampled, with their trends.
  void resources(std::vector<resource_trend> sampled) { m_resources = std::move(sampled); }

  /// Judges the counters of a runtime that has shut down (force_async: every await suspends
  /// and each suspension is resumed exactly once).
  void judge(const zokio::runtime_stats& s, const zokio::shutdown_report& shutdown) {
    m_stats = s;
    expect(s.awaits > 0, "no await was counted: the scenario proves nothing");
    expect(s.awaits == s.awaits_suspended + s.awaits_cancelled,
           "awaits " + std::to_string(s.awaits) + " != suspended " +
               std::to_string(s.awaits_suspended) + " + cancelled " +
               std::to_string(s.awaits_cancelled));
    if (s.awaits_inline != 0) {
      fallback(std::to_string(s.awaits_inline) + " await(s) completed inline under force_async");
    }
    if (s.sync_fallbacks != 0) {
      fallback(std::to_string(s.sync_fallbacks) + " sync fallback(s) under force_async");
    }
    const std::uint64_t resumes =
        s.resumes_from_loop + s.resumes_from_task + s.resumes_cross_thread;
    expect(resumes == s.awaits_suspended,
           "resumes " + std::to_string(resumes) + " (loop " + std::to_string(s.resumes_from_loop) +
               " + task " + std::to_string(s.resumes_from_task) + " + cross-thread " +
               std::to_string(s.resumes_cross_thread) + ") != suspended awaits " +
               std::to_string(s.awaits_suspended));
    expect(shutdown.clean(), "shutdown not clean: " + shutdown.to_string());
  }

  /// Keeps a runtime's counters with the result, without judging them as --check-async does.
  void record(const zokio::runtime_stats& s) { m_stats = s; }

  const std::optional<zokio::runtime_stats>& stats() const noexcept { return m_stats; }

  scenario_result result(std::string name, std::chrono::nanoseconds wall) && {
    scenario_result r;
    r.name = std::move(name);
    r.wall_ms = static_cast<double>(wall.count()) / 1e6;
    r.counters = std::move(m_stats);
    r.cycles = std::move(m_cycles);
    r.stalls = std::move(m_stalls);
    r.resources = std::move(m_resources);
    r.lost_wakeups = std::move(m_lost);
    if (m_deadlock) {
      r.outcome = verdict::deadlock;
    } else if (m_lost_wakeup) {
      r.outcome = verdict::lost_wakeup;
    } else if (m_fallback) {
      r.outcome = verdict::sync_fallback;
    } else if (!m_failures.empty()) {
      r.outcome = verdict::fail;
    }
    const std::vector<std::string>& lines = m_failures.empty() ? m_notes : m_failures;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      r.reason += (i == 0 ? "" : "; ") + lines[i];
    }
    return r;
  }

private:
  std::vector<std::string> m_failures;
  std::vector<std::string> m_notes;
  bool m_fallback = false;
  bool m_deadlock = false;
  std::optional<zokio::runtime_stats> m_stats;
  std::vector<zokio::diag::deadlock_cycle> m_cycles;
  std::vector<zokio::diag::stall_report> m_stalls;
  std::vector<resource_trend> m_resources;
  std::vector<zokio::diag::lost_wakeup> m_lost;
  bool m_lost_wakeup = false;
};

/// A scenario's runtime, which the watchdog dumps while the scenario runs. The destructor shuts it
/// down (if `finish` did not) before the watchdog lets go of it.
class watched_runtime_base {
public:
  watched_runtime_base(watchdog& wd, zokio::runtime_options options)
      : m_rt(std::move(options)), m_watchdog(wd) {
    m_watchdog.watch(&m_rt);
  }
  ~watched_runtime_base() { stop(); }
  watched_runtime_base(const watched_runtime_base&) = delete;
  watched_runtime_base& operator=(const watched_runtime_base&) = delete;

  zokio::runtime& rt() noexcept { return m_rt; }

  /// Shuts the runtime down and has `out` judge its counters.
  void finish(scenario_outcome& out) {
    const zokio::shutdown_report report = m_rt.shutdown();
    out.judge(m_rt.stats(), report);
  }

protected:
  /// Shuts down (again: shutdown is idempotent) and unwatches; never throws.
  void stop() noexcept {
    try {
      (void)m_rt.shutdown();
    } catch (...) {
    }
    m_watchdog.watch(nullptr);
  }

  zokio::runtime m_rt;
  watchdog& m_watchdog;
};

/// One scenario of a battery: its name and what runs it.
struct named_scenario {
  std::string name;
  std::function<void(scenario_outcome&)> run;
};

/// Runs `battery` in order, each scenario under `wd`, and returns the check `check` made of their
/// results. A `deadlock_error` ends a scenario as a deadlock, any other exception as a failure.
/// `on_result` sees each result as soon as it is known (the watchdog's report of a hang lists
/// those that finished).
check_result run_battery(std::string check, const std::vector<named_scenario>& battery,
                         watchdog& wd,
                         const std::function<void(const scenario_result&)>& on_result);

/// Milliseconds with one decimal: "12.5 ms".
std::string ms(std::chrono::nanoseconds d);

/// Whether a scenario named `name` runs: `enabled` (it plants no bug, or --inject asked for the
/// one it plants) and --only, `only`, is empty or names it.
inline bool selected(bool enabled, std::string_view name, const std::vector<std::string>& only) {
  return enabled && (only.empty() || std::find(only.begin(), only.end(), name) != only.end());
}

/// The names of the scenarios of `battery` that `chosen` picks, in battery order.
template <typename Battery, typename Chosen>
std::vector<std::string> planned_names(const Battery& battery, Chosen chosen) {
  std::vector<std::string> v;
  for (const auto& s : battery) {
    if (chosen(s)) {
      v.emplace_back(s.name);
    }
  }
  return v;
}

/// Runs the scenarios of `battery` that `chosen` picks (each entry has a `name` and a
/// `run(watchdog&, scenario_outcome&)`), as run_battery does.
template <typename Battery, typename Chosen>
check_result run_chosen(std::string check, const Battery& battery, Chosen chosen, watchdog& wd,
                        const std::function<void(const scenario_result&)>& on_result) {
  std::vector<named_scenario> list;
  for (const auto& s : battery) {
    if (chosen(s)) {
      list.push_back({s.name, [&wd, run = s.run](scenario_outcome& out) { run(wd, out); }});
    }
  }
  return run_battery(std::move(check), list, wd, on_result);
}

/// The names of a check's scenarios, in battery order (each entry has a `name`).
template <typename Battery>
std::vector<std::string> names_of(const Battery& battery) {
  std::vector<std::string> v;
  for (const auto& s : battery) {
    v.emplace_back(s.name);
  }
  return v;
}

} // namespace zokio::diag_tool
