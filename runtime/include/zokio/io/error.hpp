#pragma once

#include <string>
#include <system_error>
#include <type_traits>

// The errors of zokio::io, in their own std::error_category (as Asio's `asio::error::eof`).

namespace zokio::io {

/// The outcome of a buffered read that found the end of the stream where it expected data: no
/// byte at all before a line, or fewer than `read_exact` asked for. Compare with
/// `r.error() == zokio::io::error::eof`.
enum class error {
  eof = 1, ///< the peer closed its side: no more bytes will come
};

/// The category of `zokio::io::error` ("zokio.io"); its message for `eof` is "end of stream".
inline const std::error_category& error_category() noexcept {
  class category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "zokio.io"; }
    std::string message(int code) const override {
      return code == static_cast<int>(error::eof) ? "end of stream" : "unknown zokio.io error";
    }
  };
  static const category instance;
  return instance;
}

inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace zokio::io

template <>
struct std::is_error_code_enum<zokio::io::error> : std::true_type {};
