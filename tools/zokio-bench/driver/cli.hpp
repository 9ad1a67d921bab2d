#pragma once

// zokio-bench's command line, parsed and checked without side effects: no output, no exit, no
// file opened (main.cpp does those with what this returns). Apart from main.cpp so that the fuzz
// target tests/fuzz/tool_args_fuzz.cpp can feed it any arguments.

#include <string>
#include <vector>

namespace zokio::bench {

/// What a run was asked to do, checked (suite, peers, workloads, ranges, formats).
struct cli_run {
  std::string suite = "all";
  std::vector<std::string> peers;     ///< known, none twice; all when not given
  std::vector<std::string> selected;  ///< the workloads to run, in table order, never empty
  std::vector<std::string> workloads; ///< as given to --workloads
  int repetitions = 0;
  double scale = 1;
  int workers = 1;
  int timeout_s = 120;
  std::string json_path;
  bool format_given = false; ///< --format was given (the report goes to standard output)
  std::string format = "json";
  std::string html_path;
  std::string markdown_path;
  std::string github_path;
  std::string peer_dir; ///< as given; empty: beside the executable
  bool pin = false;     ///< --pin
};

/// `zokio-bench compare BASE HEAD [--threshold T]`, checked.
struct cli_compare {
  std::string base_path;
  std::string head_path;
  double threshold = 0.05; ///< a fraction
};

struct cli_result {
  enum class kind {
    run,     ///< `run` holds the options
    compare, ///< `compare` holds the options
    exit,    ///< --help or --version: print `text` to standard output, exit `exit_code` (0)
    usage,   ///< a mistake: print "zokio-bench: `text` (see --help)", exit 2
  };
  kind what = kind::usage;
  cli_run run;
  cli_compare compare;
  std::string text; ///< the help or version text, or the mistake in one line
  int exit_code = 2;
};

/// `v`'s strings with `sep` between them.
std::string joined(const std::vector<std::string>& v, const char* sep = ", ");

/// Parses `argv[0] .. argv[argc - 1]` (argv[0] the program). Throws only std::bad_alloc.
cli_result parse_cli(int argc, const char* const* argv);

} // namespace zokio::bench
