// zokio-bench: runs the same workloads on Zokio and its peers (raw libuv, Asio, Tokio, Node.js),
// each repetition a fresh process of the peer's program under a watchdog, interleaved across
// peers, and reports medians, intervals and Zokio's ratio to each peer (README.md beside this
// directory; the peer protocol is peers/PROTOCOL.md). `zokio-bench compare` tests two reports
// against each other.

#include "compare.hpp"
#include "report.hpp"
#include "runner.hpp"

#include <zokio_tools/exit_codes.hpp>
#include <zokio_tools/output_file.hpp>
#include <zokio_tools/provenance.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <sys/stat.h>

#ifndef ZOKIO_BENCH_BUILD_TYPE
#define ZOKIO_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef ZOKIO_BENCH_CHARTJS
#define ZOKIO_BENCH_CHARTJS "/usr/share/javascript/chart.js/chart.min.js"
#endif

namespace {

using namespace zokio::bench;

constexpr int exit_usage = zokio::tools::code(zokio::tools::exit_status::usage);
constexpr int default_repetitions = 7;

int usage_error(const std::string& why) {
  std::string line = why;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::fprintf(stderr, "zokio-bench: %s (see --help)\n", line.c_str());
  return exit_usage;
}

int environment_error(const std::string& why) {
  std::fprintf(stderr, "zokio-bench: %s\n", why.c_str());
  return exit_usage;
}

std::string joined(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (const std::string& x : v) {
    s += (s.empty() ? "" : sep) + x;
  }
  return s;
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

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return std::nullopt;
  }
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

int run(int argc, char** argv) {
  CLI::App app{"zokio-bench: the same workloads on Zokio, raw libuv, Asio, Tokio and Node.js, "
               "each repetition a fresh process, with medians, 95% intervals and Zokio's ratio "
               "to each peer.",
               "zokio-bench"};
  app.footer(workload_help() + "\n" + zokio::tools::exit_code_help());
  app.set_version_flag("--version",
                       "zokio-bench " + zokio::tools::version_line() + ", " +
                           ZOKIO_BENCH_BUILD_TYPE + " build",
                       "Print the version, the git commit it was built from and the build type");

  std::string suite = "all";
  std::vector<std::string> peers;
  std::vector<std::string> workloads;
  int repetitions = default_repetitions;
  double scale = 1;
  int workers = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  int timeout_s = 120;
  std::string json_path;
  std::string format = "json";
  std::string html_path;
  std::string markdown_path;
  std::string github_path;
  std::string peer_dir;
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
  std::string base_path;
  std::string head_path;
  std::string threshold_text = "5%";
  compare->add_option("BASE", base_path, "The report to compare against")->required();
  compare->add_option("HEAD", head_path, "The new report")->required();
  compare->add_option("--threshold", threshold_text,
                      "Smallest change of a median that counts (default 5%)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      return app.exit(e); // --help, --version
    }
    return usage_error(e.what());
  }

  if (compare->parsed()) {
    double threshold = 0;
    if (!zokio::bench::parse_threshold(threshold_text, threshold)) {
      return usage_error("--threshold '" + threshold_text +
                         "' is not a percentage such as 5% (0 to 1000)");
    }
    return run_compare(base_path, head_path, threshold, stdout);
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
  std::vector<std::string> selected;
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

  if (peer_dir.empty()) {
    peer_dir = executable_dir();
  }
  struct stat st {};
  if (::stat(peer_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return environment_error("--peer-dir " + peer_dir + ": not a directory");
  }

  // Before any work: outputs that cannot be written and a missing Chart.js fail now.
  std::optional<std::string> chartjs;
  if (!html_path.empty()) {
    const char* env = std::getenv("ZOKIO_BENCH_CHARTJS");
    const std::string path = env != nullptr && *env != '\0' ? env : ZOKIO_BENCH_CHARTJS;
    chartjs = read_file(path);
    if (!chartjs || chartjs->empty()) {
      return environment_error("--html needs Chart.js at " + path +
                               " (Debian package libjs-chart.js; ZOKIO_BENCH_CHARTJS names "
                               "another copy)");
    }
  }
  std::optional<zokio::tools::output_file> doc_out;
  std::optional<zokio::tools::output_file> html_out;
  std::optional<zokio::tools::output_file> markdown_out;
  std::optional<zokio::tools::output_file> github_out;
  const char* opening = "--json ";
  try {
    if (!json_path.empty() || app.count("--format") != 0) {
      doc_out = zokio::tools::output_file::open(json_path.empty() ? "-" : json_path);
    }
    opening = "--html ";
    if (!html_path.empty()) {
      html_out = zokio::tools::output_file::open(html_path);
    }
    opening = "--markdown ";
    if (!markdown_path.empty()) {
      markdown_out = zokio::tools::output_file::open(markdown_path);
    }
    opening = "--github ";
    if (!github_path.empty()) {
      github_out = zokio::tools::output_file::open(github_path);
    }
  } catch (const zokio::tools::output_error& e) {
    return environment_error(opening + std::string(e.what()));
  }
  std::FILE* const table_out = doc_out && doc_out->is_stdout() ? stderr : stdout;

  run_result run;
  run.options.suite = suite;
  run.options.peers = peers;
  run.options.workloads = selected;
  run.options.repetitions = repetitions;
  run.options.scale = scale;
  run.options.workers = workers;
  run.options.timeout_s = timeout_s;
  run.options.peer_dir = peer_dir;
  std::vector<std::string> args(argv, argv + argc);
  run.options.command_line = joined(args, " ");

  install_stop_handlers();
  run.peers = discover_peers(run.options);
  run.context = environment_context(run);
  run.cells = plan_cells(run.options, run.peers);
  const bool runnable = std::any_of(run.cells.begin(), run.cells.end(),
                                    [](const cell& c) { return !c.skipped && c.failures.empty(); });
  if (!runnable &&
      std::none_of(run.peers.begin(), run.peers.end(), [](const peer& p) { return p.broken; })) {
    run.context["load_avg_end"] = load_average();
    print_table(table_out, run);
    return environment_error("nothing to run: no selected peer in " + peer_dir +
                             " implements a selected workload (see the reasons above)");
  }
  run_all(run);

  print_table(table_out, run);
  const int code = run.exit_code;
  const char* writing = "--json ";
  try {
    if (doc_out) {
      doc_out->write(format == "github"     ? to_github(run)
                     : format == "markdown" ? to_markdown(run)
                                            : to_json(run).dump(2) + "\n");
    }
    writing = "--html ";
    if (html_out) {
      html_out->write(to_html(run, *chartjs));
    }
    writing = "--markdown ";
    if (markdown_out) {
      markdown_out->write(to_markdown(run));
    }
    writing = "--github ";
    if (github_out) {
      github_out->write(to_github(run));
    }
  } catch (const zokio::tools::output_error& e) {
    // The report is lost: that line is the last word, and a run that passed is exit 2.
    std::fflush(table_out);
    environment_error(writing + std::string(e.what()));
    return code == 0 ? exit_usage : code;
  }
  std::fprintf(table_out, "zokio-bench: exit %d (%s)\n", code, zokio::tools::exit_meaning(code));
  return code;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zokio-bench: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "zokio-bench: internal error\n");
  }
  return zokio::tools::code(zokio::tools::exit_status::tool_error);
}
