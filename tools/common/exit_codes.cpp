#include <zokio_tools/exit_codes.hpp>

namespace zokio::tools {

namespace {

struct exit_row {
  exit_status status;
  const char* meaning;
};

constexpr exit_row k_exit_rows[] = {
    {exit_status::passed, "passed"},
    {exit_status::failed, "a check or criterion failed"},
    {exit_status::usage, "usage or environment error"},
    {exit_status::interrupted, "hang (a watchdog fired) or interrupted by SIGINT/SIGTERM"},
    {exit_status::tool_error, "deadlock, lost wake-up, or an error of the tool itself"},
    {exit_status::sync_fallback, "sync fallback (an await ran synchronously)"},
};

} // namespace

const char* exit_meaning(int c) noexcept {
  for (const exit_row& r : k_exit_rows) {
    if (code(r.status) == c) {
      return r.meaning;
    }
  }
  return "unknown exit code";
}

std::string exit_code_help() {
  std::string s = "Exit codes:\n";
  for (const exit_row& r : k_exit_rows) {
    s += "  " + std::to_string(code(r.status)) + "  " + r.meaning + "\n";
  }
  s += "With several failures the code is the first of 3, 4, 5, 1 that applies.";
  return s;
}

} // namespace zokio::tools
