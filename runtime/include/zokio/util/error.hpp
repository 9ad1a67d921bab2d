#pragma once

#include <system_error>
#include <type_traits>

namespace zokio {

/// Outcomes Zokio itself decides (rather than the operating system), in one category ("zokio"):
///
/// - `timed_out`: a `timeout`'s deadline passed first. It compares equal to
///   `std::errc::timed_out`, so `r.error() == std::errc::timed_out` holds for it as for an
///   operation the kernel timed out; `r.error() == zokio::errc::timed_out` tells the two apart,
///   and its message says "timed out", not the socket's "Connection timed out".
/// - `eof`: a read that needed more bytes found the end of the stream (`buffered_reader`'s
///   `read_line` with nothing left, a cut `read_exact`); "end of stream". A plain `read_some`
///   gives 0 instead. `zokio::io::error::eof` is the same value.
enum class errc {
  timed_out = 1, ///< a zokio::timeout's deadline passed first
  eof = 2,       ///< the end of the stream came where more bytes were needed
};

/// The category of `zokio::errc` (name "zokio").
const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace zokio

template <>
struct std::is_error_code_enum<zokio::errc> : std::true_type {};
