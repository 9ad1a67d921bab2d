#include "cli.hpp"

#include "compare.hpp"
#include "model.hpp"
#include "stats.hpp"
#include "workloads.hpp"

#include <zokio_tools/cli_parse.hpp>
#include <zokio_tools/exit_codes.hpp>
#include <zokio_tools/provenance.hpp>

#include <algorithm>
#include <cstdio>
#include <thread>

#ifndef ZOKIO_BENCH_BUILD_TYPE
#define ZOKIO_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef ZOKIO_BENCH_CHARTJS
#define ZOKIO_BENCH_CHARTJS "/usr/share/javascript/chart.js/chart.min.js"
#endif

namespace zokio::bench {

namespace {

constexpr int default_repetitions = 7;

cli_result usage_error(const std::string& why) {
  return zokio::tools::usage_result<cli_result>(why);
}

std::string workload_help() {
  std::string text = "Workloads (suite, default size N, what one repetition measures):\n";
  for (const workload& w : all_workloads()) {
    char line[512];
    std::snprintf(line, sizeof line, "  %-27s %-7s N=%-10lld %s\n", w.name.c_str(), w.suite.c_str(),
                  w.default_size, w.measures.c_str());
    text += line;
  }
  text += "Metrics: time per op (ns/op, smaller is better) for the runtime workloads, "
          "tcp_ping_pong, tcp_echo_many and fs_read; bytes/s (bigger) for tcp_stream; p99 "
          "lateness in us (smaller) for timer_precision_*; req/s (bigger) for http_plaintext; "
          "server RSS bytes per connection (smaller) for http_connections.\n"
          "Ratios: Zokio's median / the peer's for times, the peer's / Zokio's for rates, so "
          "below 1 always means Zokio did better.\n"
          "Peers: build/bin/zokio-bench-peer-<peer> beside zokio-bench (or --peer-dir); a peer "
          "that was not built is listed as skipped with the reason from its .skipped file.\n"
          "--html inlines Chart.js from " ZOKIO_BENCH_CHARTJS
          " (libjs-chart.js; ZOKIO_BENCH_CHARTJS overrides the path).\n"
          "zokio-bench-micro and zokio-bench-tcp (Google Benchmark) print '***WARNING*** Library "
          "was built as DEBUG' and record library_build_type \"debug\": that is Debian's "
          "libbenchmark itself, not Zokio; zokio_build_type in their context is Zokio's build.\n";
  return text;
}

} // namespace

std::string joined(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const std::string& x : v) {
    s += (s.empty() ? "" : sep) + x;
  }
  return s;
}

cli_result parse_cli(int argc, const char* const* argv) {
  CLI::App app{"zokio-bench: the same workloads on Zokio, raw libuv, Asio, Tokio and Node.js, "
               "each repetition a fresh process, with medians, 95% intervals and Zokio's ratio "
               "to each peer.",
               "zokio-bench"};
  app.footer(workload_help() + "\n" + zokio::tools::exit_code_help());
  app.set_version_flag("--version",
                       "zokio-bench " + zokio::tools::version_line() + ", " +
                           ZOKIO_BENCH_BUILD_TYPE + " build",
                       "Print the version, the git commit it was built from and the build type");

  cli_result r;
  cli_run& o = r.run;
  std::string& suite = o.suite;
  std::vector<std::string>& peers = o.peers;
  std::vector<std::string>& workloads = o.workloads;
  int& repetitions = o.repetitions;
  repetitions = default_repetitions;
  double& scale = o.scale;
  int& workers = o.workers;
  workers = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  int& timeout_s = o.timeout_s;
  std::string& json_path = o.json_path;
  std::string& format = o.format;
  std::string& html_path = o.html_path;
  std::string& markdown_path = o.markdown_path;
  std::string& github_path = o.github_path;
  std::string& peer_dir = o.peer_dir;
  app.add_option("--suite", suite, "runtime, io, http or all (default all)");
  app.add_option("--peers", peers, "Peers to run (default: " + joined(peer_names(), ",") + ")")
      ->delimiter(',')
      ->type_name("PEER[,PEER...]");
  app.add_option("--workloads", workloads, "Run only these workloads (see below)")
      ->delimiter(',')
      ->type_name("NAME[,NAME...]");
  app.add_option("--repetitions", repetitions,
                 "Repetitions per workload and peer, each a fresh process (default " +
                     std::to_string(default_repetitions) + "; a 95% interval of the median " +
                     "needs " + std::to_string(min_repetitions_for_ci()) + ")")
      ->type_name("N");
  app.add_option("--scale", scale,
                 "Multiply every workload's size by F (0.01 for a smoke run; default 1)")
      ->type_name("F");
  app.add_option("--workers", workers,
                 "Threads for multi_worker_* and the HTTP servers (default: the cores, " +
                     std::to_string(workers) + ")")
      ->type_name("W");
  app.add_flag("--pin", o.pin,
               "Run each repetition of a one-worker runtime workload with every peer on the same "
               "CPU, the repetitions taking the CPUs in turn (a shared machine's CPUs need not be "
               "equally fast; a peer's helper threads share that CPU too)");
  app.add_option("--timeout", timeout_s,
                 "Watchdog per repetition: a peer still running after SEC is killed and the "
                 "repetition fails (exit 3) (default 120)")
      ->type_name("SEC");
  app.add_option("--json", json_path,
                 "Write the report to FILE ('-' for standard output) in --format")
      ->type_name("FILE");
  app.add_option("--format", format,
                 "json (Google Benchmark's shape, schema zokio.bench/1), github "
                 "(github-action-benchmark customSmallerIsBetter) or markdown; without --json "
                 "it goes to standard output");
  app.add_option("--html", html_path, "Write a self-contained HTML page with a chart per workload")
      ->type_name("FILE");
  app.add_option("--markdown", markdown_path,
                 "Also write the Markdown report to FILE (one run, several formats)")
      ->type_name("FILE");
  app.add_option("--github", github_path, "Also write the github-action-benchmark array to FILE")
      ->type_name("FILE");
  app.add_option("--peer-dir", peer_dir,
                 "Where the zokio-bench-peer-* programs are (default: beside zokio-bench)")
      ->type_name("DIR");

  CLI::App* compare = app.add_subcommand(
      "compare", "Compare two --json reports: change of each median and a Mann-Whitney U test; "
                 "exit 1 when a Zokio benchmark regressed beyond the threshold with p < 0.05");
  std::string& base_path = r.compare.base_path;
  std::string& head_path = r.compare.head_path;
  std::string threshold_text = "5%";
  compare->add_option("BASE", base_path, "The report to compare against")->required();
  compare->add_option("HEAD", head_path, "The new report")->required();
  compare->add_option("--threshold", threshold_text,
                      "Smallest change of a median that counts (default 5%)");

  if (zokio::tools::parse_ended(zokio::tools::parse_cli_args(app, argc, argv), r)) {
    return r;
  }

  if (compare->parsed()) {
    if (!parse_threshold(threshold_text, r.compare.threshold)) {
      return usage_error("--threshold '" + threshold_text +
                         "' is not a percentage such as 5% (0 to 1000)");
    }
    r.what = cli_result::kind::compare;
    r.exit_code = 0;
    return r;
  }

  // Validation: one line and exit 2 for each mistake.
  const std::vector<std::string> suites = {"runtime", "io", "http", "all"};
  if (std::find(suites.begin(), suites.end(), suite) == suites.end()) {
    return usage_error("--suite '" + suite + "': runtime, io, http or all");
  }
  if (app.count("--peers") != 0 && peers.empty()) {
    return usage_error("--peers needs peer names: " + joined(peer_names()));
  }
  if (peers.empty()) {
    peers = peer_names();
  }
  for (std::size_t i = 0; i < peers.size(); ++i) {
    if (std::find(peer_names().begin(), peer_names().end(), peers[i]) == peer_names().end()) {
      return usage_error("unknown peer '" + peers[i] +
                         "' in --peers (known: " + joined(peer_names()) + ")");
    }
    if (std::find(peers.begin(), peers.begin() + static_cast<long>(i), peers[i]) !=
        peers.begin() + static_cast<long>(i)) {
      return usage_error("peer '" + peers[i] + "' twice in --peers");
    }
  }
  if (app.count("--workloads") != 0 && workloads.empty()) {
    return usage_error("--workloads needs workload names (see --help)");
  }
  for (const std::string& w : workloads) {
    if (find_workload(w) == nullptr) {
      return usage_error("unknown workload '" + w + "' in --workloads (see --help for the list)");
    }
  }
  if (repetitions < 1 || repetitions > 1000) {
    return usage_error("--repetitions " + std::to_string(repetitions) + ": from 1 to 1000");
  }
  if (!(scale > 0) || scale > 100) {
    return usage_error("--scale: a factor above 0, at most 100");
  }
  if (workers < 1 || workers > 256) {
    return usage_error("--workers " + std::to_string(workers) + ": from 1 to 256");
  }
  if (timeout_s < 1 || timeout_s > 86400) {
    return usage_error("--timeout " + std::to_string(timeout_s) + ": seconds from 1 to 86400");
  }
  if (format != "json" && format != "github" && format != "markdown") {
    return usage_error("--format '" + format + "': json, github or markdown");
  }
  if (app.count("--json") != 0 && json_path.empty()) {
    return usage_error("--json needs a file name, or '-' for standard output");
  }
  for (const auto& [flag, path] : {std::pair<const char*, const std::string*>{"--html", &html_path},
                                   {"--markdown", &markdown_path},
                                   {"--github", &github_path}}) {
    if (app.count(flag) != 0 && (path->empty() || *path == "-")) {
      return usage_error(std::string(flag) + " needs a file name");
    }
  }

  // The selection: the suite's workloads, narrowed by --workloads, in table order.
  std::vector<std::string>& selected = o.selected;
  for (const workload& w : all_workloads()) {
    const bool in_suite = suite == "all" || w.suite == suite;
    const bool named = workloads.empty() ||
                       std::find(workloads.begin(), workloads.end(), w.name) != workloads.end();
    if (in_suite && named) {
      selected.push_back(w.name);
    }
  }
  if (selected.empty()) {
    return usage_error("--suite " + suite + " --workloads " + joined(workloads, ",") +
                       " selects no workload");
  }

  o.format_given = app.count("--format") != 0;
  r.what = cli_result::kind::run;
  r.exit_code = 0;
  return r;
}

} // namespace zokio::bench
