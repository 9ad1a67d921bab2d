#pragma once

// What the tools' pure argument parsers (zokio-bench's and zokio-soak's cli.cpp) share: CLI11's
// parse turned into a value instead of output and an exit, and the usage line made safe to print.
// Header-only, so that tools_common does not need CLI11; include it only where CLI11 is linked.

#include <zokio_tools/exit_codes.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <sstream>
#include <string>

namespace zokio::tools {

/// `why` as one line of printable text: every control byte (LF, CR, ESC, ...) becomes a space,
/// since a usage error echoes arguments back to a terminal (found by tests/fuzz/tool_args_fuzz.cpp:
/// only LF was replaced).
inline std::string usage_line(std::string why) {
  std::replace_if(
      why.begin(), why.end(),
      [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; }, ' ');
  return why;
}

/// What `app.parse` gave.
struct cli_parse_outcome {
  enum class kind {
    parsed, ///< the options are set: check them
    exit,   ///< --help or --version: print `text` to standard output, exit `exit_code` (0)
    usage,  ///< a mistake CLI11 found: `text` is its one line, `exit_code` 2
  };
  kind what = kind::parsed;
  std::string text;
  int exit_code = 0;
};

/// Parses `argv[0] .. argv[argc - 1]` into `app`'s options without printing or exiting.
inline cli_parse_outcome parse_cli_args(CLI::App& app, int argc, const char* const* argv) {
  cli_parse_outcome out;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      std::ostringstream text; // what CLI11 would print for --help or --version
      out.exit_code = app.exit(e, text, text);
      out.what = cli_parse_outcome::kind::exit;
      out.text = text.str();
    } else {
      out.what = cli_parse_outcome::kind::usage;
      out.text = usage_line(e.what());
      out.exit_code = code(exit_status::usage);
    }
  }
  return out;
}

} // namespace zokio::tools
