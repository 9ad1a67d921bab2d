#include <zokio/http/request.hpp>
#include <zokio/http/response.hpp>
#include <zokio/http/router.hpp>

#include <algorithm>
#include <stdexcept>

namespace zokio::http {

namespace {

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// RFC 9110 token: what a method is made of.
bool is_token(std::string_view s) noexcept {
  if (s.empty()) {
    return false;
  }
  for (const char ch : s) {
    const bool alnum =
        (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(ch) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

/// A path a request's path can equal: from '/', visible ASCII, without '?' (the query is not
/// part of the path) or '#'.
bool is_routable_path(std::string_view s) noexcept {
  if (s.empty() || s.front() != '/') {
    return false;
  }
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    // Bytes from 0x80 stay routable: llhttp takes raw UTF-8 in a request target (/café).
    if (u <= 0x20 || u == 0x7f || ch == '?' || ch == '#') {
      return false;
    }
  }
  return true;
}

} // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

std::optional<std::string_view> headers::find(std::string_view name) const noexcept {
  for (const field& f : m_fields) {
    if (iequals(f.first, name)) {
      return std::string_view(f.second);
    }
  }
  return std::nullopt;
}

void headers::set(std::string_view name, std::string value) {
  std::erase_if(m_fields, [name](const field& f) { return iequals(f.first, name); });
  m_fields.emplace_back(std::string(name), std::move(value));
}

std::string_view request::path() const noexcept {
  const std::string_view t = m_target;
  return t.substr(0, t.find('?'));
}

std::string_view request::query() const noexcept {
  const std::string_view t = m_target;
  const std::size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 206:
    return "Partial Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 411:
    return "Length Required";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 417:
    return "Expectation Failed";
  case 422:
    return "Unprocessable Content";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Unknown";
  }
}

namespace {

response with_type(int status, std::string body, const char* type) {
  response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.add("Content-Type", type);
  return r;
}

} // namespace

response response::text(int status, std::string body) {
  return with_type(status, std::move(body), "text/plain; charset=utf-8");
}

response response::json(int status, std::string body) {
  return with_type(status, std::move(body), "application/json");
}

response response::html(int status, std::string body) {
  return with_type(status, std::move(body), "text/html; charset=utf-8");
}

response response::status_only(int status) {
  std::string body(reason_phrase(status));
  body += '\n';
  return text(status, std::move(body));
}

void router::route(std::string method, std::string path, handler h) {
  // A method goes verbatim into a 405's Allow field: one that is not a token could break the
  // response (CR LF, ','), and could never match a request anyway (found by
  // tests/fuzz/http_router_fuzz.cpp). Neither could a path with a query or a control byte.
  if (!is_token(method)) {
    throw std::invalid_argument("zokio::http::router::route: the method is not a token: \"" +
                                method + "\"");
  }
  if (!is_routable_path(path)) {
    throw std::invalid_argument("zokio::http::router::route: the path must start with '/' and "
                                "hold no space, control byte, '?' or '#': \"" +
                                path + "\"");
  }
  if (!h) {
    throw std::invalid_argument("zokio::http::router::route: empty handler for " + method + " " +
                                path);
  }
  for (entry& e : m_routes) {
    if (e.method == method && e.path == path) {
      e.h = std::move(h);
      return;
    }
  }
  m_routes.push_back(entry{std::move(method), std::move(path), std::move(h)});
}

router::match router::find(std::string_view method, std::string_view path) const {
  match m;
  const handler* get = nullptr;
  bool path_known = false;
  bool has_head = false;
  for (const entry& e : m_routes) {
    if (e.path != path) {
      continue;
    }
    path_known = true;
    if (e.method == method) {
      m.h = &e.h;
      return m;
    }
    if (e.method == "GET") {
      get = &e.h;
    }
    has_head = has_head || e.method == "HEAD";
    if (!m.allow.empty()) {
      m.allow += ", ";
    }
    m.allow += e.method;
  }
  if (method == "HEAD" && get != nullptr) {
    m.h = get;
    m.allow.clear();
    return m;
  }
  if (!path_known) {
    m.status = 404;
    return m;
  }
  if (get != nullptr && !has_head) {
    m.allow += ", HEAD";
  }
  m.status = 405;
  return m;
}

} // namespace zokio::http
