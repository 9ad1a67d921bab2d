#pragma once

// What the tools' pure argument parsers (zokio-bench's and zokio-soak's cli.cpp) share: CLI11's
// parse turned into a value instead of output and an exit (the rest is in cli_result.hpp).
// Header-only, so that tools_common does not need CLI11; include it only where CLI11 is linked.

#include <zokio_tools/cli_result.hpp>
#include <zokio_tools/exit_codes.hpp>

#include <CLI/CLI.hpp>

#include <sstream>
#include <string>

namespace zokio::tools {

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
