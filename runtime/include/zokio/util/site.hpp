#pragma once

#include <cstdint>

namespace zokio {

/// A place in the source: where a task was spawned or where it awaits.
///
/// Captured by default arguments (`site s = site::current()`), so the compiler fills in the
/// caller's location. `std::source_location` would do the same, but it does not compile under
/// Clang 14 with libstdc++ 12.
struct site {
  const char* file = "";
  const char* function = "";
  std::uint32_t line = 0;

  static constexpr site current(const char* file = __builtin_FILE(),
                                const char* function = __builtin_FUNCTION(),
                                std::uint32_t line = __builtin_LINE()) noexcept {
    return site{file, function, line};
  }

  constexpr bool known() const noexcept { return line != 0; }
};

} // namespace zokio
