#pragma once

#include <uv.h>

#include <system_error>

namespace zokio::detail {

/// A libuv status as a std::error_code. On Unix libuv's codes are negated errno values, so the
/// system category maps them to std::errc: `uv_error(UV_ECONNREFUSED) ==
/// std::errc::connection_refused` holds. UV_EOF has no errno; it is not an error in Zokio (a read
/// of 0 bytes), so callers handle it before converting.
inline std::error_code uv_error(int status) noexcept {
  if (status >= 0) {
    return {};
  }
  if (status == UV_ECANCELED) {
    return std::make_error_code(std::errc::operation_canceled);
  }
  return std::error_code(-status, std::system_category());
}

} // namespace zokio::detail
