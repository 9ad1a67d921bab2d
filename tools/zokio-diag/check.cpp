#include "check.hpp"

#include <zokio_tools/exit_codes.hpp>

#include <iterator>

namespace zokio::diag_tool {

namespace {

// One row per verdict, in the order of the enum: its spelling and its exit code (DESIGN.md).
struct verdict_row {
  const char* name;
  tools::exit_status exit;
};

constexpr verdict_row k_rows[] = {
    {"pass", tools::exit_status::passed},                 // verdict::pass
    {"fail", tools::exit_status::failed},                 // verdict::fail
    {"sync-fallback", tools::exit_status::sync_fallback}, // verdict::sync_fallback
    {"deadlock", tools::exit_status::tool_error},         // verdict::deadlock
    {"lost-wakeup", tools::exit_status::tool_error},      // verdict::lost_wakeup
    {"crash", tools::exit_status::tool_error},            // verdict::crash
    {"not-run", tools::exit_status::interrupted},         // verdict::not_run
    {"interrupted", tools::exit_status::interrupted},     // verdict::interrupted
    {"hang", tools::exit_status::interrupted},            // verdict::hang
};

const verdict_row& row(verdict v) noexcept {
  return k_rows[static_cast<int>(v)];
}

} // namespace

const char* to_string(verdict v) noexcept {
  return row(v).name;
}

std::optional<verdict> verdict_named(const std::string& name) noexcept {
  for (int i = 0; i < static_cast<int>(std::size(k_rows)); ++i) {
    if (name == k_rows[i].name) {
      return static_cast<verdict>(i);
    }
  }
  return std::nullopt;
}

int exit_code(verdict v) noexcept {
  return tools::code(row(v).exit);
}

// The enum is ordered by severity, which gives DESIGN.md's ranking of exit codes: 3, 4, 5, 1
// (not-run only ever comes with interrupted, which outranks it).
verdict worst(verdict a, verdict b) noexcept {
  return a >= b ? a : b;
}

} // namespace zokio::diag_tool
