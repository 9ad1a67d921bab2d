// zokio-bench: runs the same workloads on Zokio and its peers (raw libuv, Asio, Tokio, Node.js),
// each repetition a fresh process of the peer's program under a watchdog, interleaved across
// peers, and reports medians, intervals and Zokio's ratio to each peer (README.md beside this
// directory; the peer protocol is peers/PROTOCOL.md). `zokio-bench compare` tests two reports
// against each other.

#include "cli.hpp"
#include "compare.hpp"
#include "report.hpp"
#include "runner.hpp"

#include <zokio_tools/cli_result.hpp>
#include <zokio_tools/exit_codes.hpp>
#include <zokio_tools/html_report.hpp>
#include <zokio_tools/output_file.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include <sys/stat.h>

#ifndef ZOKIO_BENCH_CHARTJS
#define ZOKIO_BENCH_CHARTJS "/usr/share/javascript/chart.js/chart.min.js"
#endif

namespace {

using namespace zokio::bench;

constexpr int exit_usage = zokio::tools::code(zokio::tools::exit_status::usage);

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

int run(int argc, char** argv) {
  const cli_result parsed = parse_cli(argc, argv);
  if (const std::optional<int> code = zokio::tools::early_exit(parsed, usage_error)) {
    return *code; // --help, --version, a mistake
  }
  if (parsed.what == cli_result::kind::compare) {
    return run_compare(parsed.compare.base_path, parsed.compare.head_path, parsed.compare.threshold,
                       stdout);
  }
  cli_run o = parsed.run;
  const std::string& suite = o.suite;
  const std::vector<std::string>& peers = o.peers;
  const std::vector<std::string>& selected = o.selected;
  const std::string& json_path = o.json_path;
  const std::string& format = o.format;
  const std::string& html_path = o.html_path;
  const std::string& markdown_path = o.markdown_path;
  const std::string& github_path = o.github_path;
  std::string& peer_dir = o.peer_dir;

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
    chartjs = zokio::tools::read_chart_js(path);
    if (!chartjs) {
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
    if (!json_path.empty() || o.format_given) {
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
  run.options.repetitions = o.repetitions;
  run.options.scale = o.scale;
  run.options.workers = o.workers;
  run.options.timeout_s = o.timeout_s;
  run.options.peer_dir = peer_dir;
  run.options.pin = o.pin;
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
