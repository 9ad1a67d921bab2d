#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// An HTTP/1.x request as the server hands it to a handler. The server builds it on the
// connection's task and passes it by const reference; it lives until the handler's task ends.

namespace zokio::http {

namespace detail {
class request_parser;
}

/// Compares header names the way HTTP does: ASCII case-insensitively.
bool iequals(std::string_view a, std::string_view b) noexcept;

/// A list of header fields in arrival order; lookup by name is case-insensitive. Repeated
/// fields stay separate entries (`find` gives the first).
class headers {
public:
  using field = std::pair<std::string, std::string>;

  /// The first field named `name` (any case), or nothing.
  std::optional<std::string_view> find(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return find(name).has_value(); }
  /// Appends a field (a repeated name is kept as another entry).
  void add(std::string name, std::string value) {
    m_fields.emplace_back(std::move(name), std::move(value));
  }
  /// Replaces every field named `name` by one with `value`.
  void set(std::string_view name, std::string value);
  void clear() noexcept { m_fields.clear(); }
  std::size_t size() const noexcept { return m_fields.size(); }
  bool empty() const noexcept { return m_fields.empty(); }
  auto begin() const noexcept { return m_fields.begin(); }
  auto end() const noexcept { return m_fields.end(); }

private:
  std::vector<field> m_fields;
};

class request {
public:
  /// "GET", "POST", ... as sent (llhttp only accepts the methods it knows).
  std::string_view method() const noexcept { return m_method; }
  /// The request target as sent: "/path?query".
  std::string_view target() const noexcept { return m_target; }
  /// The target up to '?'.
  std::string_view path() const noexcept;
  /// The target after '?' (empty without one).
  std::string_view query() const noexcept;
  /// 1 and 0 for HTTP/1.0, 1 and 1 for HTTP/1.1.
  int version_major() const noexcept { return m_major; }
  int version_minor() const noexcept { return m_minor; }
  /// The first header named `name` (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return m_headers.find(name);
  }
  const http::headers& headers() const noexcept { return m_headers; }
  /// The whole body (Content-Length or chunked, already de-chunked).
  const std::string& body() const noexcept { return m_body; }
  /// Whether the connection stays open after this request (HTTP/1.1 without
  /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`).
  bool keep_alive() const noexcept { return m_keep_alive; }

private:
  friend class detail::request_parser;

  std::string m_method;
  std::string m_target;
  int m_major = 1;
  int m_minor = 1;
  http::headers m_headers;
  std::string m_body;
  bool m_keep_alive = true;
};

} // namespace zokio::http
