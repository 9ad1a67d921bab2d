#include "report.hpp"

#include "cli.hpp"

#include <zokio_tools/html_report.hpp>
#include <zokio_tools/provenance.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <sys/stat.h>
#include <sys/utsname.h>

namespace zokio::soak {

namespace {

using json = nlohmann::ordered_json;

constexpr double mib = 1024.0 * 1024.0;

/// Least-squares slope of y over x (per unit of x); 0 with fewer than 3 points.
double ols_slope(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = x.size();
  if (n < 3) {
    return 0;
  }
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx == 0 ? 0 : sxy / sxx;
}

double median(std::vector<double> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

/// The samples the criteria judge: after the warm-up and before the drain.
std::vector<const sample*> steady(const run_data& d) {
  std::vector<const sample*> v;
  for (const sample& x : d.samples) {
    if (x.warm && x.phase == 1 && !x.burst) {
      v.push_back(&x);
    }
  }
  return v;
}

/// The judged samples of each segment (a resumed run restarts the process: its memory, threads
/// and latency baseline start over, so those are judged segment by segment).
std::vector<std::vector<const sample*>> steady_by_segment(const run_data& d) {
  std::vector<std::vector<const sample*>> v;
  for (const sample* x : steady(d)) {
    if (v.size() <= x->segment) {
      v.resize(x->segment + 1);
    }
    v[x->segment].push_back(x);
  }
  return v;
}

/// The last sample of each segment: it holds that process's cumulative counters.
std::vector<const sample*> segment_ends(const run_data& d) {
  std::vector<const sample*> v;
  for (std::size_t i = 0; i < d.samples.size(); ++i) {
    if (i + 1 == d.samples.size() || d.samples[i + 1].segment != d.samples[i].segment) {
      v.push_back(&d.samples[i]);
    }
  }
  return v;
}

/// The stall reports after the warm-up, by class, summed over the segments.
struct stall_totals {
  std::uint64_t on_cpu = 0, blocked = 0, preempted = 0, undetermined = 0;
};
stall_totals count_stalls(const run_data& d) {
  stall_totals t;
  for (const sample* x : segment_ends(d)) {
    t.on_cpu += x->stalls_on_cpu;
    t.blocked += x->stalls_blocked;
    t.preempted += x->stalls_preempted;
    t.undetermined += x->stalls_undetermined;
  }
  return t;
}

/// The first stall that was the loop's own doing, formatted: an earlier segment's, or this
/// process's.
std::string stall_evidence(const shared_state& s, const run_data& d) {
  if (!d.prev_stall_evidence.empty()) {
    return d.prev_stall_evidence;
  }
  std::lock_guard<std::mutex> lock(s.report_mutex);
  return s.stall_evidence;
}

/// Whole-run totals: the earlier segments' (from the checkpoint) plus this process's.
std::uint64_t ok_total(const shared_state& s, const run_data& d, std::size_t k) {
  return d.prev_ok[k] + s.ops[k].m_ok.load();
}
std::uint64_t errors_total(const shared_state& s, const run_data& d, std::size_t k) {
  return d.prev_errors[k] + s.ops[k].m_errors.load();
}
std::uint64_t echo_mismatches_total(const shared_state& s, const run_data& d) {
  return d.prev_echo_mismatches + s.echo_mismatches.load();
}
std::uint64_t shed_total(const shared_state& s, const run_data& d) {
  return d.prev_shed + s.shed.load();
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

json host_json() {
  std::string cpu = "unknown";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      cpu = trim(line.substr(line.find(':') + 1));
      break;
    }
  }
  utsname u{};
  return {{"cpu_model", cpu},
          {"cores", std::thread::hardware_concurrency()},
          {"kernel", ::uname(&u) == 0 ? std::string(u.release) : std::string("unknown")}};
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// Ratio of the median of the last third of `y` to the median of the first third.
double late_over_early(const std::vector<double>& y) {
  if (y.size() < 3) {
    return 1;
  }
  const std::size_t third = y.size() / 3;
  const double early = median(std::vector<double>(y.begin(), y.begin() + static_cast<long>(third)));
  const double late = median(std::vector<double>(y.end() - static_cast<long>(third), y.end()));
  return early <= 0 ? 1 : late / early;
}

} // namespace

verdict judge(const config& cfg, const shared_state& s, const run_data& d, bool interrupted,
              bool hung) {
  verdict v;
  const std::vector<const sample*> st = steady(d);
  const std::vector<std::vector<const sample*>> segs = steady_by_segment(d);
  auto add = [&v](std::string name, std::string value, std::string threshold, bool pass,
                  std::string why) {
    v.criteria.push_back(
        {std::move(name), std::move(value), std::move(threshold), pass, std::move(why)});
  };

  // Memory, judged per segment (a restarted process starts its memory over; a segment with
  // fewer than 5 judged samples is not judged). The budget is soak.md's (section 3):
  // max(64 KiB/h, 0.5 %/h of the median), with an allowance of 1 MiB over the judged window, so
  // that a short run is not failed by noise and by caches still filling: 1 MiB / window hours is
  // above 64 KiB/h only for windows under 16 hours. A 24-hour run is judged by soak.md's budget
  // alone.
  struct seg_memory {
    unsigned seg = 0;
    double slope = 0, budget = 0, heap_ratio = 1, rss_ratio = 1;
    std::uint64_t threads_range = 0;
  };
  std::vector<seg_memory> mem;
  for (std::size_t g = 0; g < segs.size(); ++g) {
    if (segs[g].size() < 5) {
      continue;
    }
    std::vector<double> t_h, heap, rss;
    std::uint64_t th_min = UINT64_MAX, th_max = 0;
    for (const sample* x : segs[g]) {
      t_h.push_back(x->t_s / 3600.0);
      heap.push_back(static_cast<double>(x->heap_live_bytes));
      rss.push_back(static_cast<double>(x->rss_bytes));
      th_min = std::min(th_min, x->threads);
      th_max = std::max(th_max, x->threads);
    }
    const double steady_h = t_h.back() - t_h.front();
    seg_memory m;
    m.seg = static_cast<unsigned>(g);
    m.budget = std::max({64.0 * 1024, 0.005 * median(heap), mib / std::max(steady_h, 1e-6)});
    m.slope = ols_slope(t_h, heap);
    m.heap_ratio = late_over_early(heap);
    m.rss_ratio = late_over_early(rss);
    m.threads_range = th_max - th_min;
    mem.push_back(m);
  }
  const bool enough = !mem.empty();
  const bool several = segs.size() > 1;
  std::string few = enough ? "" : " (fewer than 5 samples after the warm-up: not judged)";
  if (several) {
    std::string judged;
    for (const seg_memory& m : mem) {
      judged += (judged.empty() ? "" : ", ") + std::to_string(m.seg);
    }
    few = "; per segment (" + std::to_string(segs.size()) +
          " segments; judged, with at least 5 samples after their warm-up: " +
          (judged.empty() ? "none" : judged) + ")";
  }
  // The value shown is the segment worst against its threshold; every segment must pass.
  auto worst = [&mem](auto score) {
    const seg_memory* w = mem.empty() ? nullptr : &mem.front();
    for (const seg_memory& m : mem) {
      w = score(m) > score(*w) ? &m : w;
    }
    return w;
  };
  auto seg_note = [several](const seg_memory* m) {
    return several && m != nullptr ? " (segment " + std::to_string(m->seg) + ")" : std::string();
  };
  {
    const seg_memory* w = worst([](const seg_memory& m) { return m.slope / m.budget; });
    bool pass = true;
    for (const seg_memory& m : mem) {
      pass = pass && m.slope <= m.budget;
    }
    add("heap_slope", fmt("%.3f MiB/h", w ? w->slope / mib : 0) + seg_note(w),
        "<= " + fmt("%.3f MiB/h", w ? w->budget / mib : 64.0 / 1024), pass,
        "allocator live bytes (mallinfo2), least-squares slope after the warm-up" + few);
  }
  {
    // Whether the memory held at the same load grows: the median of the last third of the live
    // bytes over that of the first third. The live bytes also keep the high water of the
    // concurrency seen so far (the frame pool and the runtime's other caches never give back),
    // so a new high after the warm-up is a one-time step that a short run's ratio counts in full
    // when it falls between the thirds: the warm-up's burst and catch-up (soak.hpp,
    // warmup_catchup) reach that high water first, and the samples' frame_pool_bytes shows a
    // step the frame pool took later.
    const seg_memory* w = worst([](const seg_memory& m) { return m.heap_ratio; });
    add("heap_late_over_early", fmt("%.3f", w ? w->heap_ratio : 1) + seg_note(w), "<= 1.100",
        !w || w->heap_ratio <= 1.10, "median live bytes, last third over first third" + few);
  }
  {
    const seg_memory* w = worst([](const seg_memory& m) { return m.rss_ratio; });
    add("rss_late_over_early", fmt("%.3f", w ? w->rss_ratio : 1) + seg_note(w), "<= 1.100",
        !w || w->rss_ratio <= 1.10,
        "median RSS (/proc/self/statm), last third over first third" + few);
  }
  {
    const seg_memory* w =
        worst([](const seg_memory& m) { return static_cast<double>(m.threads_range); });
    const std::uint64_t th_range = w ? w->threads_range : 0;
    add("threads_constant", std::to_string(th_range) + seg_note(w), "== 0", th_range == 0,
        std::string("max - min thread count after the warm-up") + (several ? ", per segment" : ""));
  }

  // Back to baseline after the drain, and the conservation counters.
  if (d.drain) {
    const drain_report& r = *d.drain;
    add("drain_complete", r.reached ? "yes (" + fmt("%.2f s", r.drain_s) + ")" : "no",
        "every operation finished within " + std::to_string(cfg.drain_limit.count() / 1000) + " s",
        r.reached && r.in_flight == 0, "the final drain");
    add("fds_after_drain",
        std::to_string(r.fds_after) + " (before load " + std::to_string(r.fds_before) + ")",
        "<= before + 2", r.fds_after <= r.fds_before + 2, "open descriptors (/proc/self/fd)");
    add("tasks_after_drain",
        std::to_string(r.tasks_live_after) + " (before load " +
            std::to_string(r.tasks_live_before) + ")",
        "== before", r.tasks_live_after == r.tasks_live_before, "live tasks (runtime_stats)");
    add("handles_after_drain",
        std::to_string(r.handles_after) + " (before load " + std::to_string(r.handles_before) + ")",
        "== before", r.handles_after == r.handles_before, "active libuv handles (runtime_stats)");
    add("connections_conserved",
        "accepted " + std::to_string(r.server_accepted) + ", clients opened " +
            std::to_string(r.client_connects) + ", open " + std::to_string(r.server_open_after) +
            "; echo accepted " + std::to_string(r.echo_accepted) + ", closed " +
            std::to_string(r.echo_closed),
        "accepted == opened, open == 0, echo accepted == closed",
        r.server_accepted == r.client_connects && r.server_open_after == 0 &&
            r.echo_accepted == r.echo_closed,
        "connections accepted = closed + open");
  } else if (!hung) {
    add("drain_complete", "no drain report", "a drain", false, "the final drain");
  }
  if (d.have_final_counters) {
    const std::uint64_t rhs = d.tasks_completed + d.tasks_failed + d.tasks_cancelled + d.tasks_live;
    add("tasks_conserved",
        "spawned " + std::to_string(d.tasks_spawned) + ", completed+failed+cancelled+live " +
            std::to_string(rhs),
        "equal", d.tasks_spawned == rhs, "runtime_stats after the drain");
    add("shutdown_clean", d.shutdown_clean ? "clean" : d.shutdown_text, "clean", d.shutdown_clean,
        "no task or handle left, uv_loop_close() == 0 on every worker");
  }

  // Correctness and errors.
  const std::uint64_t mismatches = echo_mismatches_total(s, d);
  add("echo_mismatches", std::to_string(mismatches), "== 0", mismatches == 0,
      "HTTP echo bodies and TCP echo bytes, byte for byte");
  std::uint64_t ok = 0, err = 0;
  for (std::size_t k = 0; k < op_count; ++k) {
    ok += ok_total(s, d, k);
    err += errors_total(s, d, k);
  }
  err += shed_total(s, d);
  const double rate = ok + err == 0 ? 0 : static_cast<double>(err) / static_cast<double>(ok + err);
  add("error_rate",
      fmt("%.4f %%", rate * 100) + " (" + std::to_string(err) + " of " + std::to_string(ok + err) +
          ")",
      "<= 0.0100 %", rate <= 0.0001, "failed, timed-out and shed operations, whole run");

  // Throughput after the warm-up, against the target rate (each segment's first judged window
  // left out: its start is not known).
  if (st.size() >= 2) {
    std::uint64_t n = 0;
    std::size_t windows = 0;
    for (const std::vector<const sample*>& seg : segs) {
      for (std::size_t i = 1; i < seg.size(); ++i) {
        ++windows;
        for (std::size_t k = 0; k < op_count; ++k) {
          if (op_at(k) != op::storm) {
            n += seg[i]->ops[k].n;
          }
        }
      }
    }
    // Burst windows are left out, so the time is the judged windows' own.
    const double secs =
        static_cast<double>(windows) * static_cast<double>(cfg.sample_interval.count()) / 1000;
    const double got = secs > 0 ? static_cast<double>(n) / secs : 0;
    const double ratio = cfg.rate > 0 ? got / cfg.rate : 0;
    add("throughput", fmt("%.1f op/s", got) + " (" + fmt("%.3f", ratio) + " of target)",
        "0.900 .. 1.100 of " + fmt("%.0f op/s", cfg.rate), ratio >= 0.9 && ratio <= 1.1,
        "completed operations per second after the warm-up (open loop)");
  }

  // Latency drift: a window's p99 above 2x the first window's for 3 windows in a row, per
  // operation with enough data (at least 200 completions in the baseline window and in each
  // judged window). A window less than 5 ms above the baseline is not counted: on a shared
  // machine the kernel scheduler's noise is of that order (README.md, "Criteria").
  constexpr double drift_floor_ns = 5e6;
  // The p99 of fewer than 200 values is one of their two largest: too noisy to judge.
  constexpr std::uint64_t min_n = 200;
  {
    std::string worst_op = "-";
    double worst_ratio = 0;
    bool drift_pass = true;
    std::string failed_ops;
    std::string judged_ops;
    // Each segment against its own first window (a restarted process has a baseline of its own).
    std::vector<std::vector<const drift_window*>> wsegs;
    for (const drift_window& w : d.windows) {
      if (wsegs.size() <= w.segment) {
        wsegs.resize(w.segment + 1);
      }
      wsegs[w.segment].push_back(&w);
    }
    for (std::size_t k = 0; k < op_count; ++k) {
      bool op_failed = false;
      bool op_judged = false;
      for (const std::vector<const drift_window*>& ws : wsegs) {
        if (ws.size() < 2 || ws[0]->n[k] < min_n) {
          continue;
        }
        op_judged = true;
        const double base = static_cast<double>(ws[0]->p99_ns[k]);
        int run = 0;
        for (std::size_t w = 1; w < ws.size(); ++w) {
          if (ws[w]->n[k] < min_n) {
            run = 0;
            continue;
          }
          const double p = static_cast<double>(ws[w]->p99_ns[k]);
          const double ratio = base > 0 ? p / base : 0;
          if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst_op = op_name(op_at(k));
          }
          run = p > 2 * base && p - base > drift_floor_ns ? run + 1 : 0;
          op_failed = op_failed || run >= 3;
        }
      }
      if (op_judged) {
        judged_ops += (judged_ops.empty() ? "" : ", ") + std::string(op_name(op_at(k)));
      }
      if (op_failed) {
        drift_pass = false;
        failed_ops += (failed_ops.empty() ? "" : ", ") + std::string(op_name(op_at(k)));
      }
    }
    add("latency_drift",
        "worst window p99 / baseline p99 = " + fmt("%.2f", worst_ratio) + " (" + worst_op + ")" +
            (failed_ops.empty() ? "" : "; drifted: " + failed_ops),
        "not > 2x baseline (and > +5 ms) for 3 windows in a row", drift_pass,
        std::to_string(d.windows.size()) + " windows of " +
            std::to_string(cfg.drift_window.count() / 1000) + " s; baseline = the first" +
            (several ? " of each segment" : "") + "; judged: " +
            (judged_ops.empty() ? "none (too few completions per window)" : judged_ops));
  }

  // Progress: loop lag (a worker's 50 ms timer late by more than the stall threshold), the
  // runtime's stall reports judged by what the loop thread did, deadlocks and lost wake-ups.
  const stall_totals sc = count_stalls(d);
  std::uint64_t lag = 0, own_lag = 0, stalls = 0, lost = 0;
  for (const std::vector<const sample*>& seg : segs) {
    if (!seg.empty()) {
      stalls += seg.back()->stalls - seg.front()->stalls;
    }
  }
  for (const sample* x : st) {
    lag = std::max(lag, x->max_loop_lag_ms);
    own_lag = std::max(own_lag, x->max_loop_lag_own_ms);
  }
  for (const sample* x : segment_ends(d)) {
    lost += x->lost_wakeups;
  }
  const std::uint64_t stall_ms = static_cast<std::uint64_t>(cfg.stall_limit.count()) / 2;
  // Judged on the lateness less the worker thread's run-queue wait: a loop late because the
  // machine gave it no CPU is not late by its own doing (issue #11, "Progress").
  add("loop_lag",
      std::to_string(own_lag) + " ms not waiting for a CPU (" + std::to_string(lag) +
          " ms wall time)",
      "<= " + std::to_string(stall_ms) + " ms not waiting for a CPU", own_lag <= stall_ms,
      "worst lateness of a worker's 50 ms heartbeat timer after the warm-up, less the time its "
      "thread waited for a CPU meanwhile (/proc schedstat)");
  // A stall (a resume past the runtime's stall_threshold, 100 ms, by wall time) fails when the
  // loop thread spent it on a CPU or blocked in the kernel: the task's own doing. One where the
  // thread waited for a CPU most of the time (runqueue wait, /proc schedstat) is a loaded
  // machine and is excused, as is one the watchdog could not tell apart.
  const std::uint64_t own = sc.on_cpu + sc.blocked;
  {
    std::string evidence = stall_evidence(s, d);
    const auto nl = evidence.find('\n');
    evidence = evidence.substr(0, nl);
    add("loop_stalls",
        std::to_string(own) + " own (on a CPU " + std::to_string(sc.on_cpu) + ", blocked " +
            std::to_string(sc.blocked) + "); excused: preempted " + std::to_string(sc.preempted) +
            ", undetermined " + std::to_string(sc.undetermined) + "; counted " +
            std::to_string(stalls),
        "own == 0", own == 0,
        "the runtime's stall reports after the warm-up (resumes > 100 ms wall time), judged by "
        "the loop thread's time on a CPU, blocked and waiting for a CPU" +
            (evidence.empty() ? std::string() : "; first own: " + evidence));
  }
  add("deadlocks",
      std::to_string(d.deadlock_cycles) + " cycles in " + std::to_string(d.deadlock_checks) +
          " find_deadlocks calls",
      "== 0", d.deadlock_cycles == 0,
      d.deadlock_evidence.empty() ? "diag::find_deadlocks, sampled" : d.deadlock_evidence);
  add("lost_wakeups", std::to_string(lost), "== 0", lost == 0, "runtime_stats::lost_wakeups");

  bool all = true;
  for (const criterion& c : v.criteria) {
    all = all && c.pass;
  }
  if (hung) {
    v.outcome = "hang";
    v.exit_code = 3;
  } else if (interrupted) {
    v.outcome = "interrupted";
    v.exit_code = 3;
  } else {
    v.outcome = all ? "pass" : "fail";
    v.exit_code = all ? 0 : 1;
  }
  return v;
}

namespace {

json sample_json(const sample& x) {
  json ops = json::object();
  for (std::size_t k = 0; k < op_count; ++k) {
    const op_window& w = x.ops[k];
    ops[op_name(op_at(k))] = {{"n", w.n},
                              {"err", w.errors},
                              {"p50_us", static_cast<double>(w.p50_ns) / 1e3},
                              {"p99_us", static_cast<double>(w.p99_ns) / 1e3},
                              {"p999_us", static_cast<double>(w.p999_ns) / 1e3},
                              {"max_us", static_cast<double>(w.max_ns) / 1e3}};
  }
  static constexpr const char* phases[] = {"warmup", "steady", "drain", "done"};
  json doc = {{"t", x.t_s},
              {"segment", x.segment},
              {"phase", x.warm && x.phase == 0 ? "steady" : phases[std::clamp(x.phase, 0, 3)]},
              {"burst", x.burst},
              {"rss_bytes", x.rss_bytes},
              {"heap_live_bytes", x.heap_live_bytes},
              {"frame_pool_bytes", x.frame_pool_bytes},
              {"cpu_s", x.cpu_s},
              {"fds", x.fds},
              {"threads", x.threads},
              {"tasks_live", x.tasks_live},
              {"tasks_spawned", x.tasks_spawned},
              {"handles_active", x.handles_active},
              {"timers_pending", x.timers_pending},
              {"blocking_in_flight", x.blocking_in_flight},
              {"connections_open", x.connections_open},
              {"in_flight", x.in_flight},
              {"stalls", x.stalls},
              {"stalls_on_cpu", x.stalls_on_cpu},
              {"stalls_blocked", x.stalls_blocked},
              {"stalls_preempted", x.stalls_preempted},
              {"stalls_undetermined", x.stalls_undetermined},
              {"deadlocks", x.deadlocks},
              {"lost_wakeups", x.lost_wakeups},
              {"max_loop_lag_ms", x.max_loop_lag_ms},
              {"max_loop_lag_own_ms", x.max_loop_lag_own_ms},
              {"ops", std::move(ops)}};
  if (x.restart != 0) {
    // The first sample of a resumed segment: the process before it was killed or interrupted.
    doc["restart"] = x.restart == 1 ? "killed" : "interrupted";
  }
  return doc;
}

/// sample_json's inverse (the checkpoint's journal); throws json::exception on a missing field.
sample sample_from_json(const json& j) {
  sample x;
  x.t_s = j.at("t").get<double>();
  x.segment = j.at("segment").get<unsigned>();
  const std::string phase = j.at("phase").get<std::string>();
  x.phase = phase == "warmup" ? 0 : phase == "steady" ? 1 : phase == "drain" ? 2 : 3;
  x.warm = x.phase != 0;
  x.burst = j.at("burst").get<bool>();
  if (j.contains("restart")) {
    x.restart = j.at("restart").get<std::string>() == "killed" ? 1 : 2;
  }
  x.rss_bytes = j.at("rss_bytes").get<std::uint64_t>();
  x.heap_live_bytes = j.at("heap_live_bytes").get<std::uint64_t>();
  x.frame_pool_bytes = j.at("frame_pool_bytes").get<std::uint64_t>();
  x.cpu_s = j.at("cpu_s").get<double>();
  x.fds = j.at("fds").get<std::uint64_t>();
  x.threads = j.at("threads").get<std::uint64_t>();
  x.tasks_live = j.at("tasks_live").get<std::uint64_t>();
  x.tasks_spawned = j.at("tasks_spawned").get<std::uint64_t>();
  x.handles_active = j.at("handles_active").get<std::uint64_t>();
  x.timers_pending = j.at("timers_pending").get<std::uint64_t>();
  x.blocking_in_flight = j.at("blocking_in_flight").get<std::uint64_t>();
  x.connections_open = j.at("connections_open").get<std::uint64_t>();
  x.in_flight = j.at("in_flight").get<std::uint64_t>();
  x.stalls = j.at("stalls").get<std::uint64_t>();
  x.stalls_on_cpu = j.at("stalls_on_cpu").get<std::uint64_t>();
  x.stalls_blocked = j.at("stalls_blocked").get<std::uint64_t>();
  x.stalls_preempted = j.at("stalls_preempted").get<std::uint64_t>();
  x.stalls_undetermined = j.at("stalls_undetermined").get<std::uint64_t>();
  x.deadlocks = j.at("deadlocks").get<std::uint64_t>();
  x.lost_wakeups = j.at("lost_wakeups").get<std::uint64_t>();
  x.max_loop_lag_ms = j.at("max_loop_lag_ms").get<std::uint64_t>();
  x.max_loop_lag_own_ms = j.at("max_loop_lag_own_ms").get<std::uint64_t>();
  const json& ops = j.at("ops");
  const auto ns = [](const json& o, const char* key) {
    return static_cast<std::uint64_t>(std::llround(o.at(key).get<double>() * 1e3));
  };
  for (std::size_t k = 0; k < op_count; ++k) {
    const json& o = ops.at(op_name(op_at(k)));
    op_window& w = x.ops[k];
    w.n = o.at("n").get<std::uint64_t>();
    w.errors = o.at("err").get<std::uint64_t>();
    w.p50_ns = ns(o, "p50_us");
    w.p99_ns = ns(o, "p99_us");
    w.p999_ns = ns(o, "p999_us");
    w.max_ns = ns(o, "max_us");
  }
  return x;
}

/// `d.whole` as the checkpoint saves it: per operation the non-empty buckets as [index, count]
/// pairs, with the exact min, max and sum (log_histogram::from_parts reads them back).
json histograms_json(const run_data& d) {
  json ops = json::object();
  for (std::size_t k = 0; k < d.whole.size() && k < op_count; ++k) {
    const zokio::tools::log_histogram& h = d.whole[k];
    json buckets = json::array();
    for (std::size_t i = 0; i < h.buckets().size(); ++i) {
      if (h.buckets()[i] != 0) {
        buckets.push_back({i, h.buckets()[i]});
      }
    }
    ops[op_name(op_at(k))] = {{"n", h.count()},
                              {"min", h.min()},
                              {"max", h.max()},
                              {"sum", static_cast<double>(h.sum())},
                              {"buckets", std::move(buckets)}};
  }
  const unsigned bits = d.whole.empty() ? zokio::tools::log_histogram().precision_bits()
                                        : d.whole.front().precision_bits();
  return {{"precision_bits", bits}, {"ops", std::move(ops)}};
}

/// histograms_json's inverse into `d.whole`; throws json::exception on a missing field and
/// std::invalid_argument on counts no histogram can have (or a count that is not their sum).
void histograms_from_json(const json& j, run_data& d) {
  const unsigned bits = j.at("precision_bits").get<unsigned>();
  d.whole.clear();
  for (std::size_t k = 0; k < op_count; ++k) {
    const json& o = j.at("ops").at(op_name(op_at(k)));
    std::vector<std::pair<std::size_t, std::uint64_t>> buckets;
    for (const json& b : o.at("buckets")) {
      buckets.emplace_back(b.at(0).get<std::size_t>(), b.at(1).get<std::uint64_t>());
    }
    d.whole.push_back(zokio::tools::log_histogram::from_parts(
        bits, buckets, o.at("min").get<std::uint64_t>(), o.at("max").get<std::uint64_t>(),
        o.at("sum").get<double>()));
    if (d.whole.back().count() != o.at("n").get<std::uint64_t>()) {
      throw std::invalid_argument(std::string(op_name(op_at(k))) + ": n is not the buckets' sum");
    }
  }
}

json windows_json(const run_data& d) {
  json windows = json::array();
  for (const drift_window& w : d.windows) {
    json p99 = json::object();
    for (std::size_t k = 0; k < op_count; ++k) {
      if (w.n[k] > 0) {
        p99[op_name(op_at(k))] = {{"n", w.n[k]},
                                  {"p99_us", static_cast<double>(w.p99_ns[k]) / 1e3}};
      }
    }
    windows.push_back({{"t_end", w.t_end_s}, {"segment", w.segment}, {"ops", std::move(p99)}});
  }
  return windows;
}

json stalls_json(const run_data& d) {
  const stall_totals t = count_stalls(d);
  return {{"on_cpu", t.on_cpu},
          {"blocked", t.blocked},
          {"preempted", t.preempted},
          {"undetermined", t.undetermined}};
}

json segments_json(const run_data& d) {
  json segs = json::array();
  for (const segment_info& g : d.segments) {
    segs.push_back({{"index", g.index},
                    {"start_t", g.start_t_s},
                    {"started_at", g.started_at},
                    {"after", g.after}});
  }
  return segs;
}

json config_json(const config& c) {
  return {{"profile", c.profile},
          {"duration_s", static_cast<double>(c.total_duration.count()) / 1000},
          {"seed", c.seed},
          {"rate", c.rate},
          {"workers", c.workers},
          {"inject", c.inject.empty() ? json(nullptr) : json(c.inject)},
          {"sample_interval_s", static_cast<double>(c.sample_interval.count()) / 1000},
          {"warmup_s", static_cast<double>(c.warmup.count()) / 1000},
          {"storm_period_s", static_cast<double>(c.storm_period.count()) / 1000},
          {"storm_tasks", c.storm_tasks},
          {"cross_worker_storms", c.cross_worker_storms},
          {"drift_window_s", static_cast<double>(c.drift_window.count()) / 1000},
          {"burst_period_s", static_cast<double>(c.burst_period.count()) / 1000},
          {"burst_length_s", static_cast<double>(c.burst_length.count()) / 1000},
          {"hang_limit_s", static_cast<double>(c.hang_limit.count()) / 1000},
          {"keepalive_clients_per_worker", c.ka_clients},
          {"churn_concurrency_per_worker", c.churn_max},
          {"echo_connections_per_worker", c.echo_conns}};
}

} // namespace

std::string render_json(const config& cfg, const shared_state& s, const run_data& d,
                        const verdict& v, bool with_samples) {
  const zokio::tools::provenance& p = zokio::tools::build_provenance();
  json doc;
  doc["schema"] = "zokio.soak/1";
  doc["tool"] = "zokio-soak";
  doc["version"] = p.version;
  doc["git_commit"] = p.git_commit;
  doc["git_dirty"] = p.git_dirty;
  doc["host"] = host_json();
  doc["timestamp"] = utc_now();
  doc["config"] = config_json(cfg);
  doc["verdict"] = v.outcome;
  doc["exit_code"] = v.exit_code;
  json crit = json::array();
  for (const criterion& c : v.criteria) {
    crit.push_back({{"name", c.name},
                    {"value", c.value},
                    {"threshold", c.threshold},
                    {"pass", c.pass},
                    {"about", c.why}});
  }
  doc["criteria"] = std::move(crit);
  json totals = json::object();
  for (std::size_t k = 0; k < op_count; ++k) {
    const zokio::tools::log_histogram& h = d.whole[k];
    totals[op_name(op_at(k))] = {{"ok", ok_total(s, d, k)},
                                 {"errors", errors_total(s, d, k)},
                                 {"after_warmup",
                                  {{"n", h.count()},
                                   {"p50_us", static_cast<double>(h.quantile(0.5)) / 1e3},
                                   {"p99_us", static_cast<double>(h.quantile(0.99)) / 1e3},
                                   {"p999_us", static_cast<double>(h.quantile(0.999)) / 1e3},
                                   {"max_us", static_cast<double>(h.max()) / 1e3}}}};
  }
  doc["totals"] = {{"ops", std::move(totals)},
                   {"shed", shed_total(s, d)},
                   {"echo_mismatches", echo_mismatches_total(s, d)},
                   {"injected_leak_bytes", d.prev_leak_bytes + s.injected_leak_bytes.load()},
                   {"samples", d.samples.size()},
                   {"after_warmup_percentiles", "the whole run"}};
  // The runtime's stall reports after the warm-up, by what the loop thread did.
  doc["stalls"] = stalls_json(d);
  // One segment per process: a run continued by --resume has more than one.
  doc["segments"] = segments_json(d);
  if (d.drain) {
    const drain_report& r = *d.drain;
    doc["drain"] = {{"reached", r.reached},
                    {"drain_s", r.drain_s},
                    {"in_flight", r.in_flight},
                    {"tasks_live_before", r.tasks_live_before},
                    {"tasks_live_after", r.tasks_live_after},
                    {"handles_before", r.handles_before},
                    {"handles_after", r.handles_after},
                    {"fds_before", r.fds_before},
                    {"fds_after", r.fds_after},
                    {"server_connections_accepted", r.server_accepted},
                    {"server_connections_open_after", r.server_open_after},
                    {"client_connections_opened", r.client_connects},
                    {"echo_accepted", r.echo_accepted},
                    {"echo_closed", r.echo_closed}};
  } else {
    doc["drain"] = nullptr;
  }
  doc["drift_windows"] = windows_json(d);
  if (with_samples) {
    json samples = json::array();
    for (const sample& x : d.samples) {
      samples.push_back(sample_json(x));
    }
    doc["samples"] = std::move(samples);
  }
  return doc.dump(2) + "\n";
}

std::string render_sample_line(const sample& x) {
  return sample_json(x).dump();
}

std::string render_jsonl(const run_data& d) {
  std::string out;
  for (const sample& x : d.samples) {
    out += sample_json(x).dump() + "\n";
  }
  return out;
}

std::string render_csv(const run_data& d) {
  std::string out = "t_s,phase,burst,rss_bytes,heap_live_bytes,cpu_s,fds,threads,tasks_live,"
                    "tasks_spawned,handles_active,timers_pending,blocking_in_flight,"
                    "connections_open,in_flight,stalls,deadlocks,lost_wakeups,max_loop_lag_ms";
  for (std::size_t k = 0; k < op_count; ++k) {
    const std::string n = op_name(op_at(k));
    out += "," + n + "_n," + n + "_err," + n + "_p50_us," + n + "_p99_us," + n + "_max_us";
  }
  out += "\n";
  for (const sample& x : d.samples) {
    char buf[512];
    std::snprintf(
        buf, sizeof buf,
        "%.3f,%s,%d,%llu,%llu,%.3f,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,"
        "%llu,%llu",
        x.t_s,
        x.phase == 0   ? "warmup"
        : x.phase == 1 ? "steady"
                       : "drain",
        x.burst ? 1 : 0, (unsigned long long)x.rss_bytes, (unsigned long long)x.heap_live_bytes,
        x.cpu_s, (unsigned long long)x.fds, (unsigned long long)x.threads,
        (unsigned long long)x.tasks_live, (unsigned long long)x.tasks_spawned,
        (unsigned long long)x.handles_active, (unsigned long long)x.timers_pending,
        (unsigned long long)x.blocking_in_flight, (unsigned long long)x.connections_open,
        (unsigned long long)x.in_flight, (unsigned long long)x.stalls,
        (unsigned long long)x.deadlocks, (unsigned long long)x.lost_wakeups,
        (unsigned long long)x.max_loop_lag_ms);
    out += buf;
    for (const op_window& w : x.ops) {
      std::snprintf(buf, sizeof buf, ",%llu,%llu,%.1f,%.1f,%.1f", (unsigned long long)w.n,
                    (unsigned long long)w.errors, static_cast<double>(w.p50_ns) / 1e3,
                    static_cast<double>(w.p99_ns) / 1e3, static_cast<double>(w.max_ns) / 1e3);
      out += buf;
    }
    out += "\n";
  }
  return out;
}

std::string render_markdown(const config& cfg, const run_data& d, const verdict& v) {
  std::string md = "# zokio-soak summary\n\n";
  md += "- verdict: **" + v.outcome + "** (exit " + std::to_string(v.exit_code) + ")\n";
  md += "- profile " + cfg.profile + ", duration " +
        fmt("%.0f s", cfg.total_duration.count() / 1000.0) + ", rate " +
        fmt("%.0f op/s", cfg.rate) + ", workers " + std::to_string(cfg.workers) + ", seed " +
        std::to_string(cfg.seed) + (cfg.inject.empty() ? "" : ", inject " + cfg.inject) + "\n";
  md += "- version " + zokio::tools::version_line() + ", " + std::to_string(d.samples.size()) +
        " samples, " + std::to_string(std::max<std::size_t>(1, d.segments.size())) +
        " segment(s)\n\n";
  md += "| criterion | value | threshold | result |\n|---|---|---|---|\n";
  for (const criterion& c : v.criteria) {
    md += "| " + c.name + " | " + c.value + " | " + c.threshold + " | " +
          (c.pass ? "pass" : "**FAIL**") + " |\n";
  }
  md += "\n| operation | n after warm-up | p50 us | p99 us | p99.9 us | max us |\n"
        "|---|---|---|---|---|---|\n";
  for (std::size_t k = 0; k < op_count; ++k) {
    const zokio::tools::log_histogram& h = d.whole[k];
    md += "| " + std::string(op_name(op_at(k))) + " | " + std::to_string(h.count()) + " | " +
          fmt("%.0f", h.quantile(0.5) / 1e3) + " | " + fmt("%.0f", h.quantile(0.99) / 1e3) + " | " +
          fmt("%.0f", h.quantile(0.999) / 1e3) + " | " + fmt("%.0f", h.max() / 1e3) + " |\n";
  }
  return md;
}

std::string render_html(const config& cfg, const run_data& d, const verdict& v) {
  using zokio::tools::html_escape;
  std::string body =
      "<p>Verdict: <span class=\"" + std::string(v.exit_code == 0 ? "pass" : "fail") + "\">" +
      html_escape(v.outcome) + "</span> (exit " + std::to_string(v.exit_code) + "). Profile " +
      html_escape(cfg.profile) + ", " + fmt("%.0f s", cfg.total_duration.count() / 1000.0) + ", " +
      fmt("%.0f op/s", cfg.rate) + ", " + std::to_string(cfg.workers) + " workers, seed " +
      std::to_string(cfg.seed) + (cfg.inject.empty() ? "" : ", inject " + html_escape(cfg.inject)) +
      "; warm-up " + fmt("%.0f s", cfg.warmup.count() / 1000.0) +
      (d.segments.size() > 1
           ? "; " + std::to_string(d.segments.size()) +
                 " segments (resumed with --resume; memory, threads and drift judged per segment)"
           : std::string()) +
      "; " + html_escape(zokio::tools::version_line()) + ".</p>\n";
  body += "<table><tr><th>criterion</th><th>value</th><th>threshold</th><th>result</th><th>about"
          "</th></tr>\n";
  for (const criterion& c : v.criteria) {
    body += "<tr><td>" + html_escape(c.name) + "</td><td>" + html_escape(c.value) + "</td><td>" +
            html_escape(c.threshold) + "</td><td class=\"" + (c.pass ? "pass" : "fail") + "\">" +
            (c.pass ? "pass" : "FAIL") + "</td><td>" + html_escape(c.why) + "</td></tr>\n";
  }
  body += "</table>\n";
  using zokio::tools::chart_series;
  using zokio::tools::line_chart;
  std::vector<double> t;
  for (const sample& x : d.samples) {
    t.push_back(std::round(x.t_s * 10) / 10);
  }
  auto series = [&d](std::string label, auto f) {
    chart_series s{std::move(label), {}};
    for (const sample& x : d.samples) {
      s.y.push_back(f(x));
    }
    return s;
  };
  const double secs = static_cast<double>(cfg.sample_interval.count()) / 1000;
  const auto op_ms = [](op o, std::uint64_t op_window::*field) {
    return [o, field](const sample& x) {
      return static_cast<double>(x.ops[static_cast<std::size_t>(o)].*field) / 1e6;
    };
  };
  std::vector<line_chart> charts;
  charts.push_back(
      {"Memory",
       "seconds",
       "MiB",
       t,
       {series("RSS", [](const sample& x) { return x.rss_bytes / mib; }),
        series("allocator live bytes", [](const sample& x) { return x.heap_live_bytes / mib; }),
        series("frame pool reserved", [](const sample& x) { return x.frame_pool_bytes / mib; })}});
  charts.push_back({"Descriptors and threads",
                    "seconds",
                    "count",
                    t,
                    {series("open descriptors", [](const sample& x) { return double(x.fds); }),
                     series("threads", [](const sample& x) { return double(x.threads); })}});
  charts.push_back(
      {"Live tasks, libuv handles, HTTP connections",
       "seconds",
       "count",
       t,
       {series("live tasks", [](const sample& x) { return double(x.tasks_live); }),
        series("active handles", [](const sample& x) { return double(x.handles_active); }),
        series("open connections", [](const sample& x) { return double(x.connections_open); })}});
  charts.push_back({"Throughput",
                    "seconds",
                    "operations per second",
                    t,
                    {series("completed", [secs](const sample& x) {
                      std::uint64_t n = 0;
                      for (std::size_t k = 0; k < op_count; ++k) {
                        n += op_at(k) == op::storm ? 0 : x.ops[k].n;
                      }
                      return static_cast<double>(n) / secs;
                    })}});
  charts.push_back({"Latency from the intended start",
                    "seconds",
                    "ms",
                    t,
                    {series("get_hello p50", op_ms(op::get_hello, &op_window::p50_ns)),
                     series("get_hello p99", op_ms(op::get_hello, &op_window::p99_ns)),
                     series("post_echo p99", op_ms(op::post_echo, &op_window::p99_ns)),
                     series("tcp_echo p99", op_ms(op::tcp_echo, &op_window::p99_ns))}});
  return zokio::tools::render_html_report("zokio-soak report", body, charts);
}

void print_summary(std::FILE* out, const config& cfg, const shared_state& s, const run_data& d,
                   const verdict& v) {
  std::fprintf(out, "zokio-soak: profile %s, %.0f s, %.0f op/s, %u workers, seed %llu%s%s\n",
               cfg.profile.c_str(), cfg.total_duration.count() / 1000.0, cfg.rate, cfg.workers,
               static_cast<unsigned long long>(cfg.seed), cfg.inject.empty() ? "" : ", inject ",
               cfg.inject.c_str());
  if (d.segments.size() > 1) {
    std::fprintf(out,
                 "segments: %zu (memory, threads and latency drift judged per segment; "
                 "counts and percentiles below: every segment)\n",
                 d.segments.size());
    for (const segment_info& g : d.segments) {
      std::fprintf(out, "  segment %u from t = %.1f s (%s), after %s\n", g.index, g.start_t_s,
                   g.started_at.c_str(), g.after.c_str());
    }
  }
  std::fprintf(out, "%-16s %10s %8s %10s %10s %10s\n", "operation", "ok", "errors", "p50 us",
               "p99 us", "max us");
  for (std::size_t k = 0; k < op_count; ++k) {
    const zokio::tools::log_histogram& h = d.whole[k];
    std::fprintf(out, "%-16s %10llu %8llu %10.0f %10.0f %10.0f\n", op_name(op_at(k)),
                 static_cast<unsigned long long>(ok_total(s, d, k)),
                 static_cast<unsigned long long>(errors_total(s, d, k)), h.quantile(0.5) / 1e3,
                 h.quantile(0.99) / 1e3, h.max() / 1e3);
  }
  std::fprintf(out, "criteria (judged after the warm-up):\n");
  for (const criterion& c : v.criteria) {
    std::fprintf(out, "  %-4s %-22s %s (threshold %s)\n", c.pass ? "ok" : "FAIL", c.name.c_str(),
                 c.value.c_str(), c.threshold.c_str());
  }
  std::string failed;
  for (const criterion& c : v.criteria) {
    if (!c.pass) {
      failed += (failed.empty() ? "" : ", ") + c.name;
    }
  }
  std::fprintf(out, "verdict: %s%s%s\n", v.outcome.c_str(),
               failed.empty() ? "" : " (failed: ", failed.empty() ? "" : (failed + ")").c_str());
}

std::string render_checkpoint(const config& cfg, const shared_state& s, const run_data& d,
                              const std::string& state, const std::string& outcome) {
  const zokio::tools::provenance& p = zokio::tools::build_provenance();
  json doc;
  doc["schema"] = checkpoint_schema;
  doc["state"] = state;
  doc["verdict"] = outcome.empty() ? json(nullptr) : json(outcome);
  doc["git_commit"] = p.git_commit;
  doc["timestamp"] = utc_now();
  doc["run"] = {{"profile", cfg.profile},
                {"duration_ms", cfg.total_duration.count()},
                {"seed", cfg.seed},
                {"rate", cfg.rate},
                {"workers", cfg.workers},
                {"inject", cfg.inject},
                {"cross_worker_storms", cfg.cross_worker_storms}};
  doc["samples"] = d.samples.size();
  doc["last_t"] = d.samples.empty() ? cfg.t_offset_s : d.samples.back().t_s;
  doc["load_elapsed_s"] = d.load_elapsed_s;
  doc["segments"] = segments_json(d);
  doc["drift_windows"] = windows_json(d);
  // The totals as of the last sample, which agree with the journal's samples and the
  // histograms (run_data::at_sample); `s` only for what no sample counts.
  json ok = json::array(), err = json::array();
  for (std::size_t k = 0; k < op_count; ++k) {
    ok.push_back(d.prev_ok[k] + d.at_sample.ok[k]);
    err.push_back(d.prev_errors[k] + d.at_sample.errors[k]);
  }
  doc["totals"] = {{"ok", std::move(ok)},
                   {"errors", std::move(err)},
                   {"shed", d.prev_shed + d.at_sample.shed},
                   {"echo_mismatches", d.prev_echo_mismatches + d.at_sample.echo_mismatches},
                   {"injected_leak_bytes", d.prev_leak_bytes + d.at_sample.leak_bytes},
                   {"deadlock_cycles", d.deadlock_cycles},
                   {"deadlock_checks", d.deadlock_checks},
                   {"deadlock_evidence", d.deadlock_evidence},
                   {"stall_evidence", stall_evidence(s, d)}};
  // The judged windows' latency histograms merged, per operation, every segment's so far: a
  // resumed run's percentiles and counts cover the whole run.
  doc["histograms"] = histograms_json(d);
  return doc.dump(1) + "\n";
}

segment_info first_segment() {
  return {0, 0, utc_now(), "start"};
}

resume_result load_checkpoint(const std::string& dir, config& cfg, run_data& d) {
  resume_result r;
  const std::string where = "--resume " + dir + ": ";
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    r.error = where + "no such directory";
    return r;
  }
  std::ifstream in(dir + "/" + checkpoint_name);
  if (!in) {
    r.error = where + "no " + checkpoint_name + " (not the --out directory of a zokio-soak run)";
    return r;
  }
  std::size_t want = 0;
  std::string state;
  try {
    const json doc = json::parse(in);
    if (doc.is_object() && doc.value("schema", "") == "zokio.soak.checkpoint/1") {
      r.error = where + checkpoint_name +
                " was written by an older zokio-soak (zokio.soak.checkpoint/1, without the "
                "latency histograms): resume it with that version";
      return r;
    }
    if (!doc.is_object() || doc.value("schema", "") != checkpoint_schema) {
      r.error = where + checkpoint_name + " is not a zokio-soak checkpoint (schema)";
      return r;
    }
    state = doc.at("state").get<std::string>();
    if (state == "finished") {
      r.error = where + "that run already finished (verdict " +
                doc.value("verdict", std::string("unknown")) + "): nothing to resume";
      return r;
    }
    if (state != "running" && state != "interrupted") {
      r.error = where + checkpoint_name + ": unknown state '" + state + "'";
      return r;
    }
    const json& run = doc.at("run");
    cfg.profile = run.at("profile").get<std::string>();
    if (cfg.profile != "full" && cfg.profile != "ci") {
      r.error = where + checkpoint_name + ": unknown profile '" + cfg.profile + "'";
      return r;
    }
    cfg.duration = ms(run.at("duration_ms").get<long long>());
    cfg.seed = run.at("seed").get<std::uint64_t>();
    cfg.rate = run.at("rate").get<double>();
    cfg.workers = run.at("workers").get<unsigned>();
    cfg.inject = run.at("inject").get<std::string>();
    cfg.cross_worker_storms = run.at("cross_worker_storms").get<bool>();
    if (cfg.duration < ms(5000) || !(cfg.rate >= 1) || cfg.workers < 1 || cfg.workers > 64) {
      r.error = where + checkpoint_name + ": settings out of range";
      return r;
    }
    want = doc.at("samples").get<std::size_t>();
    cfg.t_offset_s = doc.at("last_t").get<double>();
    cfg.load_offset_s = doc.at("load_elapsed_s").get<double>();
    for (const json& g : doc.at("segments")) {
      d.segments.push_back({g.at("index").get<unsigned>(), g.at("start_t").get<double>(),
                            g.at("started_at").get<std::string>(),
                            g.at("after").get<std::string>()});
    }
    for (const json& w : doc.at("drift_windows")) {
      drift_window x;
      x.t_end_s = w.at("t_end").get<double>();
      x.segment = w.at("segment").get<unsigned>();
      for (std::size_t k = 0; k < op_count; ++k) {
        const json& ops = w.at("ops");
        if (ops.contains(op_name(op_at(k)))) {
          const json& o = ops.at(op_name(op_at(k)));
          x.n[k] = o.at("n").get<std::uint64_t>();
          x.p99_ns[k] =
              static_cast<std::uint64_t>(std::llround(o.at("p99_us").get<double>() * 1e3));
        }
      }
      d.windows.push_back(x);
    }
    const json& t = doc.at("totals");
    for (std::size_t k = 0; k < op_count; ++k) {
      d.prev_ok[k] = t.at("ok").at(k).get<std::uint64_t>();
      d.prev_errors[k] = t.at("errors").at(k).get<std::uint64_t>();
    }
    d.prev_shed = t.at("shed").get<std::uint64_t>();
    d.prev_echo_mismatches = t.at("echo_mismatches").get<std::uint64_t>();
    d.prev_leak_bytes = t.at("injected_leak_bytes").get<std::uint64_t>();
    d.deadlock_cycles = t.at("deadlock_cycles").get<std::uint64_t>();
    d.deadlock_checks = t.at("deadlock_checks").get<std::uint64_t>();
    d.deadlock_evidence = t.at("deadlock_evidence").get<std::string>();
    d.prev_stall_evidence = t.at("stall_evidence").get<std::string>();
    histograms_from_json(doc.at("histograms"), d);
  } catch (const std::invalid_argument& e) { // from_parts: counts no histogram can have
    r.error = where + checkpoint_name + " is not a valid checkpoint: histograms: " + e.what();
    return r;
  } catch (const json::exception& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    r.error = where + checkpoint_name + " is not a valid checkpoint: " + what;
    return r;
  }
  if (d.segments.empty()) {
    r.error = where + checkpoint_name + " names no segment";
    return r;
  }
  // The journal: the first `want` lines are the samples the checkpoint counted; a line after
  // them (a sample written just before the process died) is dropped.
  std::ifstream jr(dir + "/" + journal_name);
  std::string line;
  try {
    while (d.samples.size() < want && std::getline(jr, line)) {
      if (jr.eof()) {
        break; // a last line without its newline: torn
      }
      d.samples.push_back(sample_from_json(json::parse(line)));
      r.journal_bytes += line.size() + 1;
    }
  } catch (const json::exception& e) {
    r.error = where + journal_name + ": line " + std::to_string(d.samples.size() + 1) +
              " is not a sample";
    return r;
  }
  if (d.samples.size() != want) {
    r.error = where + journal_name + " has " + std::to_string(d.samples.size()) + " of the " +
              std::to_string(want) + " samples the checkpoint counts";
    return r;
  }
  // The settings as the run had them (the profile's scaling of the whole duration), then the
  // remaining load for this segment: at least 1 s, with a warm-up of its own.
  apply_profile(cfg);
  const ms left = cfg.total_duration - ms(static_cast<long long>(cfg.load_offset_s * 1000));
  cfg.duration = std::max(left, ms(1000));
  cfg.segment = d.segments.back().index + 1;
  d.segments.push_back(
      {cfg.segment, cfg.t_offset_s, utc_now(), state == "interrupted" ? "interrupted" : "killed"});
  d.load_elapsed_s = cfg.load_offset_s;
  r.ok = true;
  return r;
}

} // namespace zokio::soak
