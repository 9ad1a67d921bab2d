#pragma once

#include <system_error>
#include <type_traits>

namespace zokio {

/// Outcomes Zokio itself decides (rather than the operating system): `zokio::errc::timed_out` is
/// what a `timeout` gives when its deadline passed first. Each compares equal to its portable
/// `std::errc` condition, so `r.error() == std::errc::timed_out` holds for it as well as for an
/// operation the kernel timed out; `r.error() == zokio::errc::timed_out` tells the two apart,
/// and `message()` says "timed out", not the socket's "Connection timed out".
enum class errc {
  timed_out = 1, ///< a zokio::timeout's deadline passed first
};

/// The category of `zokio::errc` (name "zokio").
const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace zokio

template <>
struct std::is_error_code_enum<zokio::errc> : std::true_type {};
