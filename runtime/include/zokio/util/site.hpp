#pragma once

#include <cstdint>

namespace zokio {

/// A place in the source: where a task was spawned or where it awaits.
///
/// Captured by default arguments (`site s = site::current()`), so the compiler fills in the
/// caller's location. `std::source_location` would do the same, but it does not compile under
/// Clang 14 with libstdc++ 12.
///
/// The operations a task awaits without a frame of their own (an event's wait, a channel's send
/// and receive, a mutex's lock, a semaphore's acquire, a oneshot's receive, a join, sleeps,
/// ticks, yield_now) take the site as two scalar default arguments instead, the file and the
/// line, the only parts a wait records, and each has an overload taking a `const site&`. A
/// class-type argument of the expression of a `co_await` stays in the coroutine's frame for the
/// length of the await (GCC keeps every such temporary); scalars do not: 24 bytes less in the
/// frame of every task parked in such an await (docs/decisions.md, "A wait's site is passed as
/// scalars").
struct site {
  const char* file = "";
  const char* function = "";
  std::uint32_t line = 0;
  /// Always 0. It fills what would be padding after `line`, so that the compiler knows all 8
  /// bytes of a site::current() and writes them (and every copy) as one constant. With padding
  /// there, it wrote the line with a 4-byte store and copied it with an 8-byte load of line and
  /// padding, which the processor cannot forward from the narrower store: the load waited for
  /// the store to reach the cache, at every `co_await op(...)` that builds a site
  /// (docs/decisions.md, "A site has no padding").
  std::uint32_t reserved = 0;

  static constexpr site current(const char* file = __builtin_FILE(),
                                const char* function = __builtin_FUNCTION(),
                                std::uint32_t line = __builtin_LINE()) noexcept {
    return site{file, function, line, 0};
  }

  constexpr bool known() const noexcept { return line != 0; }
};

static_assert(sizeof(site) == 2 * sizeof(const char*) + 2 * sizeof(std::uint32_t),
              "zokio::site must have no padding: see `reserved`");

} // namespace zokio
