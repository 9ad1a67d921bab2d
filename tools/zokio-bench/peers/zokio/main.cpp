// zokio-bench-peer-zokio: the Zokio peer of zokio-bench (tools/zokio-bench/peers/PROTOCOL.md).
//
//   zokio-bench-peer-zokio --version
//   zokio-bench-peer-zokio --list
//   zokio-bench-peer-zokio --run WORKLOAD --size N [--workers W]
//   zokio-bench-peer-zokio --serve http --port P [--workers W]
//
// One repetition per process: make a runtime (one worker, or W for multi_worker_*), run the
// workload (it times its measured part and checks its result), read the runtime's counters, shut
// it down, print one JSON line. Exit 0 done, 1 a check failed (one line on stderr), 2 usage.

#include "peer.hpp"

#include <zokio_tools/provenance.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace {

using zokio_peer::measurement;
using zokio_peer::workload;

constexpr const char* k_prog = "zokio-bench-peer-zokio";
constexpr int k_exit_failed = 1;
constexpr int k_exit_usage = 2;

constexpr const char* k_usage =
    "usage: zokio-bench-peer-zokio --version | --list | --run WORKLOAD --size N [--workers W] | "
    "--serve http --port P [--workers W]";

int usage_error(const std::string& what) {
  std::fprintf(stderr, "%s: %s (%s)\n", k_prog, what.c_str(), k_usage);
  return k_exit_usage;
}

std::optional<std::uint64_t> parse_number(std::string_view s, std::uint64_t lo, std::uint64_t hi) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < lo || v > hi) {
    return std::nullopt;
  }
  return v;
}

const workload* find_workload(std::string_view name) {
  for (const auto* suite : {&zokio_peer::runtime_workloads(), &zokio_peer::io_workloads()}) {
    for (const workload& w : *suite) {
      if (name == w.name) {
        return &w;
      }
    }
  }
  return nullptr;
}

/// Nearest rank: the smallest sample with at least p of all samples at or below it.
double percentile(const std::vector<double>& sorted, double p) {
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<std::size_t>(std::ceil(p * n));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string json_line(const char* name, const measurement& m, std::uint64_t sync_fallbacks,
                      bool clean) {
  std::string out = std::string("{\"workload\":\"") + name + "\",\"ops\":" + std::to_string(m.ops) +
                    ",\"seconds\":" + number(m.seconds);
  if (!m.latency_us.empty()) {
    std::vector<double> s = m.latency_us;
    std::sort(s.begin(), s.end());
    out += ",\"latency_us\":{\"p50\":" + number(percentile(s, 0.50));
    if (s.size() >= 100) {
      out += ",\"p99\":" + number(percentile(s, 0.99));
    }
    if (s.size() >= 1000) {
      out += ",\"p999\":" + number(percentile(s, 0.999));
    }
    out += ",\"max\":" + number(s.back()) + "}";
  }
  out += ",\"checks\":{\"sync_fallbacks\":" + std::to_string(sync_fallbacks) +
         ",\"clean_shutdown\":" + (clean ? "true" : "false") + "}";
  if (!m.extra.empty()) {
    out += ",\"extra\":{";
    for (std::size_t i = 0; i < m.extra.size(); ++i) {
      out += (i == 0 ? "\"" : ",\"") + m.extra[i].first + "\":" + number(m.extra[i].second);
    }
    out += "}";
  }
  return out + "}";
}

/// The first failure of a task nobody joins (runtime_options::on_task_error), kept for the one
/// line on stderr instead of printed on a line of its own. Called on any worker.
class task_errors {
public:
  void operator()(const zokio::task_failure& f) {
    std::string what = "a task failed";
    try {
      std::rethrow_exception(f.error);
    } catch (const std::exception& e) {
      what += std::string(": ") + e.what();
    } catch (...) {
    }
    const std::lock_guard lock(m_mutex);
    if (m_first.empty()) {
      m_first = std::move(what);
    }
  }
  std::string first() {
    const std::lock_guard lock(m_mutex);
    return m_first;
  }

private:
  std::mutex m_mutex;
  std::string m_first;
};

/// One repetition of `w`: the process's exit code.
int run(const workload& w, std::uint64_t n, unsigned workers) {
  std::optional<measurement> m;
  std::string failure;
  zokio::runtime_stats stats;
  zokio::shutdown_report report;
  task_errors errors;
  {
    zokio::runtime rt{{.workers = w.multi_worker ? workers : 1U,
                       .on_task_error = [&errors](const zokio::task_failure& f) { errors(f); },
                       .name = "peer"}};
    try {
      m = w.run(rt, n);
    } catch (const zokio_peer::check_failed& e) {
      failure = e.what();
    } catch (const std::exception& e) {
      failure = std::string("the workload threw: ") + e.what();
    }
    stats = rt.stats();
    report = rt.shutdown();
  }
  const bool clean = report.clean();
  if (m && w.multi_worker) {
    // Where the tasks ran: the spread over the workers is part of what was measured.
    for (std::size_t i = 0; i < stats.workers.size(); ++i) {
      m->extra.emplace_back("tasks_on_worker_" + std::to_string(i),
                            static_cast<double>(stats.workers[i].tasks_completed));
    }
  }
  if (m) {
    std::printf("%s\n", json_line(w.name, *m, stats.sync_fallbacks, clean).c_str());
    std::fflush(stdout);
  }
  if (failure.empty() && stats.sync_fallbacks != 0) {
    failure = "sync_fallbacks = " + std::to_string(stats.sync_fallbacks) + ", not 0";
  }
  if (failure.empty() && stats.tasks_failed != 0) {
    const std::string first = errors.first();
    failure = std::to_string(stats.tasks_failed) + " tasks failed" +
              (first.empty() ? std::string() : "; the first: " + first);
  }
  if (failure.empty() && !clean) {
    failure = "runtime shutdown not clean: " + report.to_string();
  }
  if (!failure.empty()) {
    std::fprintf(stderr, "%s: %s: %s\n", k_prog, w.name, failure.c_str());
    return k_exit_failed;
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string mode;
  std::string workload_name;
  std::string serve_what;
  std::optional<std::uint64_t> size;
  std::optional<std::uint64_t> port;
  std::uint64_t workers = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--version" || a == "--list" || a == "--help" || a == "-h") {
      mode = a;
      continue;
    }
    if (a != "--run" && a != "--size" && a != "--workers" && a != "--serve" && a != "--port") {
      return usage_error("unknown argument: " + std::string(a));
    }
    if (i + 1 >= argc) {
      return usage_error(std::string(a) + " needs a value");
    }
    const std::string_view v = argv[++i];
    if (a == "--run") {
      mode = a;
      workload_name = v;
    } else if (a == "--serve") {
      mode = a;
      serve_what = v;
    } else if (a == "--size") {
      if (!(size = parse_number(v, 1, std::uint64_t{1} << 40))) {
        return usage_error("bad --size: " + std::string(v));
      }
    } else if (a == "--port") {
      if (!(port = parse_number(v, 0, 65535))) {
        return usage_error("bad --port: " + std::string(v));
      }
    } else if (auto wv = parse_number(v, 1, 1024)) {
      workers = *wv;
    } else {
      return usage_error("bad --workers: " + std::string(v) + " (1 to 1024)");
    }
  }

  if (mode == "--help" || mode == "-h") {
    std::printf("%s\n", k_usage);
    return 0;
  }
  if (mode == "--version") {
    std::printf("zokio %s\n", zokio::tools::version_line().c_str());
    return 0;
  }
  if (mode == "--list") {
    for (const auto* suite : {&zokio_peer::runtime_workloads(), &zokio_peer::io_workloads()}) {
      for (const workload& w : *suite) {
        std::printf("%s\n", w.name);
      }
    }
    std::printf("http_plaintext\nhttp_connections\n");
    return 0;
  }
  if (mode == "--serve") {
    if (serve_what != "http") {
      return usage_error("unknown --serve: " + serve_what + " (only http)");
    }
    if (!port) {
      return usage_error("--serve http needs --port P");
    }
    return zokio_peer::serve_http(static_cast<unsigned>(*port), static_cast<unsigned>(workers));
  }
  if (mode == "--run") {
    const workload* w = find_workload(workload_name);
    if (w == nullptr) {
      return usage_error("unknown workload: " + workload_name);
    }
    if (!size) {
      return usage_error("--run needs --size N");
    }
    if (*size < w->min_size) {
      return usage_error(std::string(w->name) + " needs --size of at least " +
                         std::to_string(w->min_size));
    }
    if (w->multi_worker && *size < workers) {
      return usage_error(std::string(w->name) + " needs --size of at least --workers");
    }
    return run(*w, *size, static_cast<unsigned>(workers));
  }
  return usage_error("nothing to do");
}
