#pragma once

#include <zokio/http/request.hpp>

#include <string>
#include <string_view>

namespace zokio::http {

/// The standard reason phrase of `status` ("Not Found" for 404), "Unknown" for a code it does
/// not know.
std::string_view reason_phrase(int status) noexcept;

/// What a handler returns. The server adds `Date` and `Content-Length` (a `Content-Length` or
/// `Transfer-Encoding` set here is ignored: the body is always sent whole, with its length) and
/// `Connection: close` when it closes the connection after this response.
struct response {
  int status = 200;
  http::headers headers;
  std::string body;

  /// `text/plain; charset=utf-8`.
  static response text(int status, std::string body);
  /// `application/json`; `body` must already be JSON.
  static response json(int status, std::string body);
  /// `text/html; charset=utf-8`.
  static response html(int status, std::string body);
  /// A body-less response with the status's reason phrase as a text body ("Not Found\n").
  static response status_only(int status);

  /// Sets (replaces) a header and returns the response, for chaining.
  response& set_header(std::string_view name, std::string value) & {
    headers.set(name, std::move(value));
    return *this;
  }
  response&& set_header(std::string_view name, std::string value) && {
    headers.set(name, std::move(value));
    return std::move(*this);
  }
};

} // namespace zokio::http
