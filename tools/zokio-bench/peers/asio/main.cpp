// zokio-bench-peer-asio: the command line of ../PROTOCOL.md (--version, --list, --run, --serve)
// and the one JSON line a run prints. The workloads are in runtime.cpp, io.cpp and http.cpp.
#include "peer.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace peer {

void check_failed(const std::string& what) {
  std::fprintf(stderr, "zokio-bench-peer-asio: check failed: %s\n", what.c_str());
  std::exit(1);
}

namespace {

constexpr const char* usage_text =
    "usage: zokio-bench-peer-asio --version | --list | --run WORKLOAD [--size N] [--workers W]\n"
    "       | --serve http [--port P] [--workers W]\n"
    "One repetition of one zokio-bench workload with standalone Asio and C++20 coroutines, one\n"
    "JSON line on stdout (tools/zokio-bench/peers/PROTOCOL.md). Exit 0 done, 1 a check failed,\n"
    "2 usage.\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "zokio-bench-peer-asio: %s (try --help)\n", what.c_str());
  std::exit(2);
}

std::uint64_t parse_number(std::string_view flag, std::string_view text, std::uint64_t max) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > max) {
    usage_error("bad value for " + std::string(flag) + ": '" + std::string(text) + "'");
  }
  return value;
}

std::vector<Workload> all_workloads() {
  std::vector<Workload> all;
  for (auto suite : {runtime_workloads(), io_workloads()}) {
    all.insert(all.end(), suite.begin(), suite.end());
  }
  return all;
}

/// Nearest rank: the smallest sample with at least p of all samples at or below it.
double percentile(const std::vector<double>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

void print_result(const char* workload, Result r) {
  std::printf("{\"workload\":\"%s\",\"ops\":%llu,\"seconds\":%.9g", workload,
              static_cast<unsigned long long>(r.ops), r.seconds);
  if (!r.latency_us.empty()) {
    auto& s = r.latency_us;
    std::sort(s.begin(), s.end());
    std::printf(",\"latency_us\":{\"p50\":%.3f,\"p99\":%.3f", percentile(s, 0.50),
                percentile(s, 0.99));
    if (s.size() >= 1000) {
      std::printf(",\"p999\":%.3f", percentile(s, 0.999));
    }
    std::printf(",\"max\":%.3f}", s.back());
  }
  const char* separator = ",\"extra\":{";
  for (const auto& [name, value] : r.extra) {
    std::printf("%s\"%s\":%llu", separator, name.c_str(), static_cast<unsigned long long>(value));
    separator = ",";
  }
  if (!r.extra.empty()) {
    std::printf("}");
  }
  std::printf("}\n");
  std::fflush(stdout);
}

std::string version() {
  return "asio " + std::to_string(ASIO_VERSION / 100000) + "." +
         std::to_string(ASIO_VERSION / 100 % 1000) + "." + std::to_string(ASIO_VERSION % 100) +
         " (g++ " + __VERSION__ + ")";
}

} // namespace
} // namespace peer

int main(int argc, char** argv) {
  using namespace peer;
  std::optional<std::string> run;
  std::optional<std::string> serve;
  std::optional<std::uint64_t> size;
  std::uint64_t workers = 1;
  std::uint64_t port = 0;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        usage_error(std::string(arg) + " needs a value");
      }
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage_text, stdout);
      return 0;
    } else if (arg == "--version") {
      std::printf("%s\n", version().c_str());
      return 0;
    } else if (arg == "--list") {
      list = true;
    } else if (arg == "--run") {
      run = std::string(value());
    } else if (arg == "--serve") {
      serve = std::string(value());
    } else if (arg == "--size") {
      size = parse_number(arg, value(), UINT64_MAX / 8);
    } else if (arg == "--workers") {
      workers = parse_number(arg, value(), 1024);
    } else if (arg == "--port") {
      port = parse_number(arg, value(), 65535);
    } else {
      usage_error("unknown argument: " + std::string(arg));
    }
  }
  if (workers == 0) {
    usage_error("--workers must be at least 1");
  }
  const auto workloads = all_workloads();
  if (list + run.has_value() + serve.has_value() != 1) {
    usage_error("give one of --version, --list, --run WORKLOAD, --serve http");
  }
  if (list) {
    for (const auto& w : workloads) {
      std::printf("%s\n", w.name);
    }
    std::printf("http_plaintext\nhttp_connections\n");
    return 0;
  }
  try {
    if (serve) {
      if (*serve != "http") {
        usage_error("unknown server: " + *serve + " (only http)");
      }
      return serve_http(static_cast<unsigned short>(port), static_cast<unsigned>(workers));
    }
    const auto w = std::find_if(workloads.begin(), workloads.end(),
                                [&](const Workload& w) { return w.name == *run; });
    if (w == workloads.end()) {
      usage_error("unknown workload: " + *run);
    }
    const Options o{.size = size.value_or(w->default_size),
                    .workers = static_cast<unsigned>(workers)};
    if (o.size == 0) {
      usage_error("--size must be at least 1");
    }
    print_result(w->name, w->run(o));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zokio-bench-peer-asio: %s: %s\n", run ? run->c_str() : "serve", e.what());
    return 1;
  }
  return 0;
}
