#pragma once

// The exit codes of every Zokio tool: the one table of DESIGN.md ("Tools: the shared contract").
// `--help` prints it, README.md quotes it, and zokio-diag maps its verdicts onto it; nothing
// else keeps a copy.

#include <string>

namespace zokio::tools {

enum class exit_status : int {
  passed = 0,
  failed = 1,        ///< a check or criterion failed
  usage = 2,         ///< usage or environment error
  interrupted = 3,   ///< hang (a watchdog fired) or interrupted by SIGINT/SIGTERM
  tool_error = 4,    ///< deadlock, lost wake-up, or an error of the tool itself
  sync_fallback = 5, ///< an await ran synchronously (zokio-diag)
};

constexpr int code(exit_status s) noexcept {
  return static_cast<int>(s);
}

/// What an exit code means, in one line ("passed", "a check or criterion failed", ...);
/// "unknown exit code" for a code outside the table.
const char* exit_meaning(int code) noexcept;

/// The whole table for --help: a heading, one line per code, and the rule for several failures.
std::string exit_code_help();

} // namespace zokio::tools
