#pragma once

// What the tools' argument parsers and main functions share without CLI11 (cli_parse.hpp adds
// the CLI11 parse itself): the usage line made safe to print, the outcome of a parse as a value,
// and what main does with a parse that ended early (--help, --version, a mistake).

#include <zokio_tools/exit_codes.hpp>

#include <algorithm>
#include <cstdio>
#include <optional>
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

/// A tool's parse result for the mistake `why`: one line, exit 2. `Result` is the tool's
/// `cli_result` (a `kind` with `usage`, and `text` and `exit_code` members).
template <typename Result>
Result usage_result(const std::string& why) {
  Result r;
  r.what = Result::kind::usage;
  r.text = usage_line(why);
  r.exit_code = code(exit_status::usage);
  return r;
}

/// When `parsed` gave no options (--help, --version, a mistake CLI11 found), copies it into `r`
/// (the tool's `cli_result`, whose `kind` has `exit` and `usage`) and returns true.
template <typename Result>
bool parse_ended(const cli_parse_outcome& parsed, Result& r) {
  if (parsed.what == cli_parse_outcome::kind::parsed) {
    return false;
  }
  r.what = parsed.what == cli_parse_outcome::kind::exit ? Result::kind::exit : Result::kind::usage;
  r.text = parsed.text;
  r.exit_code = parsed.exit_code;
  return true;
}

/// What a tool's main does with a result that is not a run: --help and --version print their
/// text to standard output and return its code; a mistake goes to `usage_error` (the tool's one
/// line on standard error), whose code is returned. Nothing for any other kind.
template <typename Result, typename UsageError>
std::optional<int> early_exit(const Result& parsed, UsageError&& usage_error) {
  if (parsed.what == Result::kind::exit) {
    std::fputs(parsed.text.c_str(), stdout);
    return parsed.exit_code;
  }
  if (parsed.what == Result::kind::usage) {
    return usage_error(parsed.text);
  }
  return std::nullopt;
}

} // namespace zokio::tools
