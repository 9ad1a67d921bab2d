#include "runner.hpp"

#include "http.hpp"

#include <zokio_tools/provenance.hpp>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include <limits.h>
#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef ZOKIO_BENCH_BUILD_TYPE
#define ZOKIO_BENCH_BUILD_TYPE "unknown"
#endif

namespace zokio::bench {

const std::vector<std::string>& peer_names() {
  static const std::vector<std::string> names = {"zokio", "libuv", "asio", "tokio", "node"};
  return names;
}

namespace {

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return std::isspace(c) == 0; };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::string signal_name(int sig) {
  const char* d = strsignal(sig);
  return "signal " + std::to_string(sig) + (d != nullptr ? std::string(" (") + d + ")" : "");
}

/// Why a child that did not exit 0 failed, in one line.
std::optional<std::string> child_failure(const child_result& r, int timeout_s) {
  if (!r.started) {
    return r.error;
  }
  const std::string err = last_line(r.err_tail);
  const std::string said = err.empty() ? "" : ": " + err;
  if (r.interrupted) {
    return "interrupted (zokio-bench got SIGINT or SIGTERM)";
  }
  if (r.timed_out) {
    return "timed out after " + std::to_string(timeout_s) + " s (killed by the watchdog)";
  }
  if (r.signal != 0) {
    return "killed by " + signal_name(r.signal) + said;
  }
  if (r.exit_code != 0) {
    return "exited " + std::to_string(r.exit_code) + said;
  }
  return std::nullopt;
}

std::string excerpt(const std::string& s) {
  std::string e = s.substr(0, 80);
  std::replace(e.begin(), e.end(), '\n', ' ');
  return "'" + e + (s.size() > 80 ? "...'" : "'");
}

struct progress_line {
  bool tty = ::isatty(2) != 0;
  std::size_t total = 0;
  std::size_t done = 0;
  clock::time_point start = clock::now();
  void show(const std::string& what) {
    if (!tty) {
      return;
    }
    const auto secs =
        static_cast<long long>(std::chrono::duration<double>(clock::now() - start).count());
    std::fprintf(stderr, "\r\033[Kzokio-bench: [%zu/%zu] %lld:%02lld %s", done + 1, total,
                 secs / 60, secs % 60, what.c_str());
    std::fflush(stderr);
  }
  void clear() const {
    if (tty) {
      std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
    }
  }
};

/// Runs `argv` of a query (--version, --list): its output, or why it failed.
std::variant<std::string, std::string> query(const std::string& path, const char* flag) {
  const child_result r = run_child({path, flag}, std::chrono::seconds(30));
  if (auto why = child_failure(r, 30)) {
    return std::variant<std::string, std::string>(std::in_place_index<1>,
                                                  std::string(flag) + " " + *why);
  }
  return std::variant<std::string, std::string>(std::in_place_index<0>, r.out);
}

} // namespace

std::string executable_dir() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) {
    return ".";
  }
  std::string p(buf, static_cast<std::size_t>(n));
  const auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

std::vector<peer> discover_peers(const run_options& options) {
  std::vector<peer> peers;
  for (const std::string& name : options.peers) {
    peer p;
    p.name = name;
    p.path = options.peer_dir + "/zokio-bench-peer-" + name;
    if (::access(p.path.c_str(), X_OK) != 0) {
      std::ifstream skipped(p.path + ".skipped");
      std::string line;
      if (skipped && std::getline(skipped, line) && !trim(line).empty()) {
        p.reason = trim(line);
      } else if (skipped) {
        p.reason = "skipped (its .skipped file gives no reason)";
      } else {
        p.reason = "not built";
      }
      peers.push_back(std::move(p));
      continue;
    }
    // A built peer that cannot say its version or its workloads is broken: a failure.
    const auto broken = [&peers, &p](std::string why) {
      p.broken = true;
      p.reason = std::move(why);
      peers.push_back(std::move(p));
    };
    auto version = query(p.path, "--version");
    if (version.index() == 1) {
      broken(std::get<1>(version));
      continue;
    }
    const std::string v = trim(std::get<0>(version));
    if (v.empty() || v.find('\n') != std::string::npos) {
      broken("--version printed " + std::string(v.empty() ? "nothing" : "several lines") +
             ", not one line");
      continue;
    }
    p.version = v;
    auto list = query(p.path, "--list");
    if (list.index() == 1) {
      broken(std::get<1>(list));
      continue;
    }
    std::istringstream lines(std::get<0>(list));
    for (std::string line; std::getline(lines, line);) {
      if (!trim(line).empty()) {
        p.workloads.insert(trim(line));
      }
    }
    p.available = true;
    peers.push_back(std::move(p));
  }
  return peers;
}

std::vector<cell> plan_cells(const run_options& options, const std::vector<peer>& peers) {
  std::vector<cell> cells;
  const std::string wrk = wrk_missing();
  for (const std::string& name : options.workloads) {
    const workload* w = find_workload(name);
    for (const peer& p : peers) {
      cell c;
      c.w = w;
      c.peer = p.name;
      c.size = scaled_size(*w, options.scale, options.workers);
      if (p.broken) {
        c.failures.push_back({0, false, false, "peer is broken: " + p.reason});
      } else if (!p.available) {
        c.skipped = p.reason;
      } else if (p.workloads.count(name) == 0) {
        c.skipped = "not implemented by " + p.name;
      } else if (name == "http_plaintext" && !wrk.empty()) {
        c.skipped = wrk;
      }
      cells.push_back(std::move(c));
    }
  }
  return cells;
}

outcome parse_run_output(const workload& w, const std::string& peer, const child_result& r,
                         int timeout_s) {
  failure f;
  f.timed_out = r.timed_out;
  f.interrupted = r.interrupted;
  if (auto why = child_failure(r, timeout_s)) {
    f.reason = *why;
    return f;
  }
  if (r.out_truncated) {
    f.reason = "printed more than 1 MiB on standard output";
    return f;
  }
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
    out.pop_back();
  }
  if (trim(out).empty()) {
    f.reason = "printed nothing on standard output";
    return f;
  }
  if (out.find('\n') != std::string::npos) {
    const auto lines = std::count(out.begin(), out.end(), '\n') + 1;
    f.reason = "printed " + std::to_string(lines) + " lines on standard output, not 1";
    return f;
  }
  const ojson j = ojson::parse(out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    f.reason = "standard output is not a JSON object: " + excerpt(out);
    return f;
  }
  if (!j.contains("workload") || j["workload"] != w.name) {
    f.reason = "reported workload " +
               (j.contains("workload") ? j["workload"].dump() : std::string("(none)")) +
               ", not \"" + w.name + "\"";
    return f;
  }
  if (!j.contains("ops") || !j["ops"].is_number_integer() || j["ops"].get<long long>() <= 0) {
    f.reason = "\"ops\" is missing or not a positive integer";
    return f;
  }
  if (!j.contains("seconds") || !j["seconds"].is_number() || !(j["seconds"].get<double>() > 0) ||
      !std::isfinite(j["seconds"].get<double>())) {
    f.reason = "\"seconds\" is missing or not a positive number";
    return f;
  }
  sample s;
  s.ops = j["ops"].get<long long>();
  s.seconds = j["seconds"].get<double>();
  s.cpu_seconds = r.cpu_seconds;
  if (j.contains("latency_us")) {
    if (!j["latency_us"].is_object()) {
      f.reason = "\"latency_us\" is not an object";
      return f;
    }
    for (const auto& [k, v] : j["latency_us"].items()) {
      if (!v.is_number()) {
        f.reason = "latency_us." + k + " is not a number";
        return f;
      }
      s.latency_us[k] = v.get<double>();
    }
  }
  if (j.contains("checks")) {
    s.checks = j["checks"];
  }
  if (j.contains("extra")) {
    s.extra = j["extra"];
  }
  if (peer == "zokio") {
    // A Zokio run that ran awaits synchronously or did not shut down clean is rejected.
    const ojson& c = s.checks;
    if (!c.is_object() || !c.contains("sync_fallbacks") || !c["sync_fallbacks"].is_number()) {
      f.reason = "rejected: checks.sync_fallbacks missing";
      return f;
    }
    if (c["sync_fallbacks"].get<double>() != 0) {
      f.reason = "rejected: checks.sync_fallbacks = " + c["sync_fallbacks"].dump() + ", not 0";
      return f;
    }
    if (!c.contains("clean_shutdown") || c["clean_shutdown"] != true) {
      f.reason = "rejected: checks.clean_shutdown is " +
                 (c.contains("clean_shutdown") ? c["clean_shutdown"].dump() : "missing") +
                 ", not true";
      return f;
    }
  }
  switch (w.metric) {
  case metric_kind::time_per_op:
    s.value = s.seconds / static_cast<double>(s.ops) * 1e9;
    break;
  case metric_kind::bytes_per_second:
    s.value = static_cast<double>(s.ops) / s.seconds;
    break;
  case metric_kind::lateness_p99:
    if (s.latency_us.count("p99") == 0) {
      f.reason = "latency_us.p99 missing (the lateness of the sleeps)";
      return f;
    }
    s.value = s.latency_us["p99"];
    break;
  case metric_kind::bytes_per_task:
    if (!s.extra.is_object() || !s.extra.contains("rss_growth_bytes") ||
        !s.extra["rss_growth_bytes"].is_number()) {
      f.reason = "extra.rss_growth_bytes missing (the RSS growth while the tasks are parked)";
      return f;
    }
    s.value = s.extra["rss_growth_bytes"].get<double>() / static_cast<double>(s.ops);
    break;
  default:
    f.reason = "workload " + w.name + " is not run with --run";
    return f;
  }
  return s;
}

namespace {

/// The CPUs this process may run on, in order; empty when that cannot be known.
std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int i = 0; i < CPU_SETSIZE; ++i) {
      if (CPU_ISSET(i, &set)) {
        cpus.push_back(i);
      }
    }
  }
  return cpus;
}

/// While alive, the calling thread runs on `cpu` alone, and so does every process it starts
/// (a child inherits its parent thread's affinity); the previous set comes back after.
class pinned_thread {
public:
  explicit pinned_thread(int cpu) noexcept {
    if (cpu < 0 || ::sched_getaffinity(0, sizeof m_old, &m_old) != 0) {
      return;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    m_pinned = ::sched_setaffinity(0, sizeof one, &one) == 0;
  }
  ~pinned_thread() {
    if (m_pinned) {
      (void)::sched_setaffinity(0, sizeof m_old, &m_old);
    }
  }
  pinned_thread(const pinned_thread&) = delete;
  pinned_thread& operator=(const pinned_thread&) = delete;
  bool pinned() const noexcept { return m_pinned; }

private:
  cpu_set_t m_old{};
  bool m_pinned = false;
};

} // namespace

void run_all(run_result& run) {
  const run_options& o = run.options;
  // --pin: a repetition of a one-worker runtime workload runs all its peers on one CPU, and the
  // repetitions take the CPUs in turn. A shared machine's virtual CPUs need not be equally fast
  // (tools/zokio-diag/README.md, "Why one CPU a round"); peers on different CPUs would compare
  // the CPUs. Multi-worker workloads, io and http stay unpinned: they need their threads spread.
  const std::vector<int> cpus = o.pin ? allowed_cpus() : std::vector<int>{};
  const auto cpu_for = [&cpus](const workload& w, int rep) {
    if (cpus.empty() || w.suite != "runtime" || w.per_worker) {
      return -1;
    }
    return cpus[static_cast<std::size_t>(rep - 1) % cpus.size()];
  };
  progress_line progress;
  for (const cell& c : run.cells) {
    if (!c.skipped && c.failures.empty()) {
      progress.total += static_cast<std::size_t>(o.repetitions);
    }
  }
  if (std::any_of(run.options.workloads.begin(), run.options.workloads.end(),
                  [](const std::string& w) { return w == "http_connections"; })) {
    raise_fd_limit();
  }
  const auto peer_of = [&run](const std::string& name) -> const peer& {
    return *std::find_if(run.peers.begin(), run.peers.end(),
                         [&name](const peer& p) { return p.name == name; });
  };
  std::size_t i = 0;
  while (i < run.cells.size() && !run.interrupted) {
    // The cells of one workload: repetitions interleaved across its peers (A B C A B C ...).
    std::size_t end = i;
    while (end < run.cells.size() && run.cells[end].w == run.cells[i].w) {
      ++end;
    }
    for (int rep = 1; rep <= o.repetitions && !run.interrupted; ++rep) {
      for (std::size_t k = i; k < end && !run.interrupted; ++k) {
        cell& c = run.cells[k];
        if (c.skipped || (!c.failures.empty() && c.failures.front().repetition == 0)) {
          continue;
        }
        const peer& p = peer_of(c.peer);
        progress.show(c.w->suite + "/" + c.w->name + " " + c.peer + " repetition " +
                      std::to_string(rep) + "/" + std::to_string(o.repetitions));
        outcome result;
        if (c.w->name == "http_plaintext") {
          result = run_http_plaintext(p, c.size, o);
        } else if (c.w->name == "http_connections") {
          result = run_http_connections(p, c.size, o);
        } else {
          const pinned_thread pin(cpu_for(*c.w, rep));
          const child_result r =
              run_child({p.path, "--run", c.w->name, "--size", std::to_string(c.size), "--workers",
                         std::to_string(o.workers)},
                        std::chrono::seconds(o.timeout_s));
          result = parse_run_output(*c.w, c.peer, r, o.timeout_s);
          if (pin.pinned() && std::holds_alternative<sample>(result)) {
            std::get<sample>(result).cpu = cpu_for(*c.w, rep);
          }
        }
        ++progress.done;
        if (std::holds_alternative<sample>(result)) {
          sample s = std::get<sample>(std::move(result));
          s.repetition = rep;
          c.samples.push_back(std::move(s));
        } else {
          failure f = std::get<failure>(std::move(result));
          f.repetition = rep;
          if (f.interrupted || stop_requested()) {
            run.interrupted = true;
            f.interrupted = true;
          }
          c.failures.push_back(std::move(f));
        }
        if (stop_requested()) {
          run.interrupted = true;
        }
      }
    }
    i = end;
  }
  progress.clear();
  run.context["load_avg_end"] = load_average();
  run.context["run_seconds"] = std::chrono::duration<double>(clock::now() - progress.start).count();
  // The CPU the peers' successful repetitions used (user + system, set-up included): what the
  // run costs on an idle machine, whatever the load was.
  double cpu = 0;
  for (const cell& c : run.cells) {
    for (const sample& s : c.samples) {
      cpu += s.cpu_seconds;
    }
  }
  run.context["peers_cpu_seconds"] = cpu;
  run.exit_code = exit_code_of(run);
}

int exit_code_of(const run_result& run) {
  bool hang = run.interrupted;
  bool failed = false;
  for (const cell& c : run.cells) {
    for (const failure& f : c.failures) {
      hang = hang || f.timed_out || f.interrupted;
      failed = true;
    }
  }
  return hang ? 3 : failed ? 1 : 0;
}

ojson load_average() {
  double l[3] = {0, 0, 0};
  std::ifstream f("/proc/loadavg");
  f >> l[0] >> l[1] >> l[2];
  return ojson::array({l[0], l[1], l[2]});
}

ojson environment_context(const run_result& run) {
  ojson c;
  char host[256] = "unknown";
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
  c["date"] = date;
  c["host_name"] = host;
  c["executable"] = executable_dir() + "/zokio-bench";
  c["num_cpus"] = std::thread::hardware_concurrency();
  std::string model = "unknown";
  double mhz = 0;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) {
      continue;
    }
    const std::string key = trim(line.substr(0, colon));
    if (model == "unknown" && (key == "model name" || key == "cpu model" || key == "Hardware")) {
      model = trim(line.substr(colon + 1));
    }
    if (mhz == 0 && key == "cpu MHz") {
      mhz = std::atof(line.substr(colon + 1).c_str());
    }
  }
  c["mhz_per_cpu"] = static_cast<long long>(std::llround(mhz));
  c["cpu_model"] = model;
  utsname u{};
  c["kernel"] = ::uname(&u) == 0 ? std::string(u.sysname) + " " + u.release : "unknown";
  c["load_avg"] = load_average();
  c["json_schema_version"] = 1;
  const tools::provenance& b = tools::build_provenance();
  c["zokio_version"] = b.version;
  c["zokio_git_commit"] = b.git_commit;
  // A string, as in the context of zokio-bench-micro and -tcp (Google Benchmark context values).
  c["zokio_git_dirty"] = b.git_dirty ? "true" : "false";
  c["zokio_build_type"] = ZOKIO_BENCH_BUILD_TYPE;
#if defined(__clang__)
  c["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  c["compiler"] = std::string("g++ ") + __VERSION__;
#endif
  ojson peers = ojson::object();
  for (const peer& p : run.peers) {
    ojson e;
    e["available"] = p.available;
    e["version"] = p.available ? ojson(p.version) : ojson(nullptr);
    if (!p.available) {
      e["reason"] = p.reason;
    }
    e["path"] = p.path;
    e["workloads"] = p.workloads;
    peers[p.name] = e;
  }
  c["peers"] = peers;
  const run_options& o = run.options;
  c["suite"] = o.suite;
  c["repetitions"] = o.repetitions;
  c["scale"] = o.scale;
  c["workers"] = o.workers;
  c["timeout_s"] = o.timeout_s;
  c["peer_dir"] = o.peer_dir;
  c["pin"] = o.pin;
  c["command"] = o.command_line;
  c["method"] = std::string("each repetition is a fresh process; repetitions interleaved across "
                            "peers; ") +
                (o.pin ? "one-worker runtime workloads: each repetition's peers on one CPU, the "
                         "repetitions taking the CPUs in turn; "
                       : "") +
                "median, min, max, and a distribution-free 95% interval of the median";
  return c;
}

} // namespace zokio::bench
