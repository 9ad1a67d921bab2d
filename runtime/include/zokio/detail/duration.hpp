#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

// Durations and time points enter the runtime in any unit the user likes (`hours::max()`,
// `time_point<steady_clock, hours>::max()`, a `double` of seconds) and are kept as signed 64-bit
// nanoseconds. Converting or adding naively overflows, and an overflowed deadline lies in the
// past: a sleep of three centuries would end at once. So every conversion and addition here
// saturates: a duration too long to represent is as good as for ever, and "for ever" stays "for
// ever" however much is added to it.

namespace zokio::detail {

inline constexpr std::int64_t ns_max = std::numeric_limits<std::int64_t>::max();
inline constexpr std::int64_t ns_min = std::numeric_limits<std::int64_t>::min();

/// `d` in nanoseconds, clamped to the range of `int64_t` (NaN counts as zero).
template <typename Rep, typename Period>
constexpr std::int64_t saturating_ns(std::chrono::duration<Rep, Period> d) noexcept {
  // Compare in long double (64-bit mantissa on x86-64): exact enough to decide the range, and
  // it cannot overflow for any integer or floating representation.
  const long double ns = static_cast<long double>(d.count()) *
                         static_cast<long double>(Period::num) * 1e9L /
                         static_cast<long double>(Period::den);
  if constexpr (std::is_floating_point_v<Rep>) {
    if (std::isnan(ns)) {
      return 0;
    }
  }
  // 2^63 is exactly representable; anything at or beyond it saturates.
  constexpr long double limit = 9223372036854775808.0L;
  if (ns >= limit) {
    return ns_max;
  }
  if (ns <= -limit) {
    return ns_min;
  }
  if constexpr (std::is_floating_point_v<Rep>) {
    return static_cast<std::int64_t>(ns);
  } else {
    // In range: the exact integer conversion cannot overflow in its result; its intermediate
    // product is in intmax_t, and a range check on it would be the same one as above.
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  }
}

/// `a + b`, clamped to the range of `int64_t`.
constexpr std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    return b > 0 ? ns_max : ns_min;
  }
  return r;
}

/// `a - b`, clamped to the range of `int64_t`.
constexpr std::int64_t saturating_sub(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) {
    return b < 0 ? ns_max : ns_min;
  }
  return r;
}

/// `now + d` on `Clock`, clamped to the clock's range: a deadline that never comes instead of one
/// that wrapped into the past.
template <typename Clock, typename Rep, typename Period>
typename Clock::time_point saturating_deadline(typename Clock::time_point now,
                                               std::chrono::duration<Rep, Period> d) noexcept {
  using dur = typename Clock::duration;
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  const std::int64_t at = saturating_add(now_ns, saturating_ns(d));
  if (at == ns_max) {
    return Clock::time_point::max();
  }
  return typename Clock::time_point(std::chrono::duration_cast<dur>(std::chrono::nanoseconds(at)));
}

} // namespace zokio::detail
