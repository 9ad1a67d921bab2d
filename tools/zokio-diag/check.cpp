#include "check.hpp"

namespace zokio::diag_tool {

namespace {

// One row per verdict, in the order of the enum: its spelling and its exit code (DESIGN.md).
struct verdict_row {
  const char* name;
  int exit_code;
};

constexpr verdict_row k_rows[] = {
    {"pass", 0},          // verdict::pass
    {"fail", 1},          // verdict::fail
    {"sync-fallback", 5}, // verdict::sync_fallback
    {"deadlock", 4},      // verdict::deadlock
    {"hang", 3},          // verdict::hang
};

const verdict_row& row(verdict v) noexcept {
  return k_rows[static_cast<int>(v)];
}

} // namespace

const char* to_string(verdict v) noexcept {
  return row(v).name;
}

int exit_code(verdict v) noexcept {
  return row(v).exit_code;
}

// The enum is ordered by severity, which gives DESIGN.md's ranking of exit codes: 3, 4, 5, 1.
verdict worst(verdict a, verdict b) noexcept {
  return a >= b ? a : b;
}

} // namespace zokio::diag_tool
