#include "check.hpp"

namespace zokio::diag_tool {

namespace {

// Severity order; exit codes rank 3, 4, 5, 1 (DESIGN.md).
int rank(verdict v) noexcept {
  switch (v) {
  case verdict::pass:
    return 0;
  case verdict::fail:
    return 1;
  case verdict::sync_fallback:
    return 2;
  case verdict::deadlock:
    return 3;
  case verdict::hang:
    return 4;
  }
  return 0;
}

} // namespace

const char* to_string(verdict v) noexcept {
  switch (v) {
  case verdict::pass:
    return "pass";
  case verdict::fail:
    return "fail";
  case verdict::sync_fallback:
    return "sync-fallback";
  case verdict::deadlock:
    return "deadlock";
  case verdict::hang:
    return "hang";
  }
  return "?";
}

int exit_code(verdict v) noexcept {
  switch (v) {
  case verdict::pass:
    return 0;
  case verdict::fail:
    return 1;
  case verdict::sync_fallback:
    return 5;
  case verdict::deadlock:
    return 4;
  case verdict::hang:
    return 3;
  }
  return 4;
}

verdict worst(verdict a, verdict b) noexcept {
  return rank(a) >= rank(b) ? a : b;
}

} // namespace zokio::diag_tool
