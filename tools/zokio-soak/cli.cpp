#include "cli.hpp"

#include <zokio_tools/cli_parse.hpp>
#include <zokio_tools/exit_codes.hpp>
#include <zokio_tools/provenance.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <thread>
#include <vector>

namespace zokio::soak {

namespace {

using zokio::tools::exit_status;

cli_result usage_error(const std::string& why) {
  return zokio::tools::usage_result<cli_result>(why);
}

/// The profile's scaling: "full" keeps soak.md's periods (10 s samples, a storm every minute,
/// 5-minute drift windows); "ci" is the same run shortened (1 s samples, smaller and more
/// frequent storms, shorter windows), with the same criteria, which are ratios and rates.
struct profile_scale {
  ms sample, warmup_min, warmup_max, storm_period;
  unsigned storm_tasks;
  ms window_min, window_max, hang, drain, burst_period, burst_length;
};
// The bursts: full, 5 minutes at 3x once an hour (soak.md); ci, 4 s every 40 s.
constexpr profile_scale full_scale{ms(10000), ms(10000),   ms(600000), ms(60000),
                                   10000,     ms(10000),   ms(300000), ms(60000),
                                   ms(30000), ms(3600000), ms(300000)};
constexpr profile_scale ci_scale{ms(1000),  ms(2000),  ms(60000), ms(10000), 2000,    ms(2000),
                                 ms(30000), ms(10000), ms(15000), ms(40000), ms(4000)};

} // namespace

void apply_profile(config& c) {
  const auto d = c.duration;
  const profile_scale& p = c.profile == "ci" ? ci_scale : full_scale;
  c.sample_interval = p.sample;
  c.warmup = std::clamp(d / 6, p.warmup_min, p.warmup_max);
  c.storm_period = p.storm_period;
  c.storm_tasks = p.storm_tasks;
  c.drift_window = std::clamp(d / 12, p.window_min, p.window_max);
  c.hang_limit = p.hang;
  c.drain_limit = p.drain;
  c.burst_period = p.burst_period;
  c.burst_length = p.burst_length;
  c.sample_interval = std::min(c.sample_interval, std::max(ms(1000), d / 10));
  c.total_duration = d;
}

std::optional<ms> parse_duration(const std::string& text, double unit_ms) {
  if (text.empty()) {
    return std::nullopt;
  }
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || errno != 0 || !std::isfinite(v)) {
    return std::nullopt;
  }
  const std::string suffix = end;
  double factor = unit_ms;
  if (suffix == "ms") {
    factor = 1;
  } else if (suffix == "s") {
    factor = 1000;
  } else if (suffix == "m" || suffix == "min") {
    factor = 60000;
  } else if (suffix == "h") {
    factor = 3600000;
  } else if (!suffix.empty()) {
    return std::nullopt;
  }
  const double total = v * factor;
  if (!(total >= 1000) || total > 30.0 * 24 * 3600 * 1000) {
    return std::nullopt;
  }
  return ms(static_cast<long long>(total));
}

cli_result parse_cli(int argc, const char* const* argv) {
  CLI::App app{"zokio-soak: an endurance run of the Zokio runtime under a mixed workload, with "
               "leak, drift, conservation and progress verdicts.",
               "zokio-soak"};
  app.footer(zokio::tools::exit_code_help());
  app.set_version_flag("--version", "zokio-soak " + zokio::tools::version_line(),
                       "Print the version and the git commit it was built from, then exit");
  cli_result r;
  std::string hours, minutes, duration;
  std::string profile = "full";
  std::uint64_t seed = 1;
  double rate = 0;
  unsigned workers = 0;
  std::string out_dir, json_path, inject;
  int& child_fd = r.child_fd;
  bool& no_watchdog = r.no_watchdog;
  app.add_option("--hours", hours, "Run this many hours (default 24; the CI profile: 2 minutes)")
      ->type_name("H");
  app.add_option("--minutes", minutes, "Run this many minutes")->type_name("M");
  app.add_option("--duration", duration, "Run this long: 90s, 5m, 2h")->type_name("TIME");
  app.add_option("--profile", profile,
                 "full (10 s samples, a 10,000-task storm every minute) or ci (the same run "
                 "scaled down: 1 s samples, 2,000-task storms every 10 s)")
      ->type_name("full|ci");
  app.add_option("--seed", seed, "Seed of the workload's random choices (default 1)")
      ->type_name("N");
  app.add_option("--rate", rate,
                 "Operations per second, all kinds together, open loop (default 1000; ci: 400)")
      ->type_name("RPS");
  app.add_option("--workers", workers, "Runtime workers (default: cores, at most 4; ci: 2)")
      ->type_name("N");
  app.add_option("--out", out_dir,
                 "Write samples.csv, samples.jsonl, summary.json, summary.md and report.html "
                 "into DIR "
                 "(created if missing)")
      ->type_name("DIR");
  app.add_option("--json", json_path,
                 "Write one JSON document (schema zokio.soak/1) to FILE ('-' for standard output)")
      ->type_name("FILE");
  app.add_option("--inject", inject,
                 "Make a criterion fail on purpose (exit 1): leak (memory kept per operation), "
                 "fd-leak (a descriptor kept every 50 operations), stall (a worker's loop "
                 "stalled 1.5 s every 3 s, asleep or spinning), slowdown (HTTP handlers slower and "
                 "slower); or hang (a worker's loop blocked for good: the watchdog, exit 3); or "
                 "preempt (a worker's loop made to wait for its CPU: stalls that must be excused)")
      ->type_name("KIND");
  std::string resume_dir;
  app.add_option("--resume", resume_dir,
                 "Continue the stopped run (killed, or interrupted) whose --out directory is DIR, "
                 "up to its original duration, with its settings; no other run flag")
      ->type_name("DIR");
  app.add_option(child_flag, child_fd)->group("");       // hidden: the watched child
  app.add_flag("--no-watchdog", no_watchdog)->group(""); // hidden: run in this process
  bool cross_storms = false;
  app.add_flag("--cross-worker-storms", cross_storms)->group(""); // hidden: README, "found"
  if (zokio::tools::parse_ended(zokio::tools::parse_cli_args(app, argc, argv), r)) {
    return r;
  }

  config& cfg = r.cfg;
  if (app.count("--resume") != 0) {
    if (resume_dir.empty()) {
      return usage_error("--resume needs the directory of a stopped run");
    }
    for (const char* f : {"--hours", "--minutes", "--duration", "--profile", "--seed", "--rate",
                          "--workers", "--out", "--inject", "--cross-worker-storms"}) {
      if (app.count(f) != 0) {
        return usage_error(std::string("--resume takes the run's settings from its checkpoint: "
                                       "give no ") +
                           f);
      }
    }
    if (app.count("--json") != 0 && json_path.empty()) {
      return usage_error("--json needs a file name, or '-' for standard output");
    }
    // The rest comes from DIR/checkpoint.json (main.cpp, load_checkpoint).
    cfg.resume_dir = resume_dir;
    cfg.out_dir = resume_dir;
    cfg.json_path = json_path;
    r.child = app.count(child_flag) != 0;
    r.what = cli_result::kind::run;
    r.exit_code = 0;
    return r;
  }
  if (profile != "full" && profile != "ci") {
    return usage_error("--profile: '" + profile + "' is not full or ci");
  }
  cfg.profile = profile;
  const int given =
      static_cast<int>(app.count("--hours") + app.count("--minutes") + app.count("--duration"));
  if (given > 1) {
    return usage_error("give one of --hours, --minutes and --duration");
  }
  std::optional<ms> d = profile == "ci" ? ms(120000) : ms(24LL * 3600 * 1000);
  if (app.count("--hours") != 0) {
    d = parse_duration(hours, 3600000);
    if (!d) {
      return usage_error("--hours: '" + hours +
                         "' is not a positive number of hours (at least 1 s, at most 720 h)");
    }
  } else if (app.count("--minutes") != 0) {
    d = parse_duration(minutes, 60000);
    if (!d) {
      return usage_error("--minutes: '" + minutes +
                         "' is not a positive number of minutes (at least 1 s)");
    }
  } else if (app.count("--duration") != 0) {
    d = parse_duration(duration, 1000);
    if (!d) {
      return usage_error("--duration: '" + duration +
                         "' is not a positive duration such as 90s, 5m or 2h (at least 1 s)");
    }
  }
  cfg.duration = *d;
  if (cfg.duration < ms(5000)) {
    return usage_error("the run must last at least 5 s (a warm-up and samples after it)");
  }
  cfg.seed = seed;
  if (app.count("--rate") != 0 && !(rate >= 1 && rate <= 100000)) {
    return usage_error("--rate: must be from 1 to 100000 operations per second");
  }
  cfg.rate = app.count("--rate") != 0 ? rate : (profile == "ci" ? 400 : 1000);
  if (app.count("--workers") != 0 && (workers < 1 || workers > 64)) {
    return usage_error("--workers: must be from 1 to 64");
  }
  cfg.workers =
      app.count("--workers") != 0
          ? workers
          : (profile == "ci" ? 2 : std::clamp(std::thread::hardware_concurrency(), 1U, 4U));
  const std::vector<std::string> inject_kinds = {"leak",     "fd-leak", "stall",
                                                 "slowdown", "hang",    "preempt"};
  if (app.count("--inject") != 0 &&
      std::find(inject_kinds.begin(), inject_kinds.end(), inject) == inject_kinds.end()) {
    return usage_error("unknown --inject kind '" + inject +
                       "' (known: leak, fd-leak, stall, slowdown, hang, preempt)");
  }
  cfg.inject = inject;
  cfg.cross_worker_storms = cross_storms;
  if (app.count("--json") != 0 && json_path.empty()) {
    return usage_error("--json needs a file name, or '-' for standard output");
  }
  if (app.count("--out") != 0 && out_dir.empty()) {
    return usage_error("--out needs a directory");
  }
  cfg.out_dir = out_dir;
  cfg.json_path = json_path;
  apply_profile(cfg);
  r.child = app.count(child_flag) != 0;
  r.what = cli_result::kind::run;
  r.exit_code = 0;
  return r;
}

} // namespace zokio::soak
