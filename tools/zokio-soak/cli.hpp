#pragma once

// zokio-soak's command line, parsed and checked without side effects: no output, no exit, no
// file or directory touched (main.cpp does those with what this returns). Apart from main.cpp so
// that the fuzz target tests/fuzz/tool_args_fuzz.cpp can feed it any arguments.

#include "soak.hpp"

#include <string>

namespace zokio::soak {

/// The hidden flag of the watched child (zokio_tools/watchdog.hpp).
inline constexpr const char* child_flag = "--watchdog-child";

struct cli_result {
  enum class kind {
    run,   ///< `cfg` holds the run, the profile applied
    exit,  ///< --help or --version: print `text` to standard output, exit `exit_code` (0)
    usage, ///< a mistake: print "zokio-soak: `text` (see --help)", exit 2
  };
  kind what = kind::usage;
  config cfg;
  bool child = false; ///< the watched child (child_flag given)
  int child_fd = -1;  ///< its heartbeat descriptor
  bool no_watchdog = false;
  std::string text; ///< the help or version text, or the mistake in one line
  int exit_code = 2;
};

/// Parses `argv[0] .. argv[argc - 1]` (argv[0] the program). Throws only std::bad_alloc.
cli_result parse_cli(int argc, const char* const* argv);

/// The profile's scaling of `c.duration` (periods, warm-up, windows, limits); sets
/// `total_duration` to `duration`.
void apply_profile(config& c);

/// "90s", "5m", "2h", "1500ms" or a bare number of `unit_ms`; decimals allowed. Nothing when
/// malformed, shorter than 1 s, or longer than 30 days.
std::optional<ms> parse_duration(const std::string& text, double unit_ms);

} // namespace zokio::soak
