#pragma once

// Raw HTTP/1.1 over a real loopback socket, for the HTTP tests: write bytes as they are, read
// responses with a small parser of their own (independent of the server's llhttp).

#include <zokio/net/tcp_stream.hpp>
#include <zokio/task/task.hpp>
#include <zokio/time/timeout.hpp>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zokio::testing {

struct raw_response {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n.size() == name.size()) {
        bool same = true;
        for (std::size_t i = 0; i < n.size(); ++i) {
          if (std::tolower(static_cast<unsigned char>(n[i])) !=
              std::tolower(static_cast<unsigned char>(name[i]))) {
            same = false;
          }
        }
        if (same) {
          return v;
        }
      }
    }
    return std::nullopt;
  }
};

/// A connection that keeps the bytes it read past the last response.
class raw_client {
public:
  explicit raw_client(net::tcp_stream s) : m_s(std::move(s)) {}

  static task<std::optional<raw_client>> connect(std::uint16_t port) {
    result<net::tcp_stream> s = co_await net::tcp_stream::connect(std::string("127.0.0.1"), port);
    if (!s.ok()) {
      co_return std::nullopt;
    }
    co_return raw_client(std::move(s).value());
  }

  task<bool> send(std::string bytes) {
    const result<void> w =
        co_await m_s.write_all(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
    co_return w.ok();
  }

  /// Reads more bytes (within 5 s); false on EOF, error or timeout.
  task<bool> fill() {
    char tmp[16384];
    const result<std::size_t> n = co_await zokio::timeout(
        std::chrono::seconds(5), m_s.read_some(std::as_writable_bytes(std::span<char>(tmp))));
    if (!n.ok() || n.value() == 0) {
      co_return false;
    }
    m_buf.append(tmp, n.value());
    co_return true;
  }

  /// The next response (a HEAD response when `head`: no body whatever Content-Length says);
  /// nothing if the connection ended first or it is not a response this parser understands.
  task<std::optional<raw_response>> response(bool head = false) {
    std::size_t end = 0;
    while ((end = m_buf.find("\r\n\r\n")) == std::string::npos) {
      if (!co_await fill()) {
        co_return std::nullopt;
      }
    }
    raw_response r;
    const std::string head_text = m_buf.substr(0, end);
    m_buf.erase(0, end + 4);
    std::size_t line_end = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
      co_return std::nullopt;
    }
    r.status = std::atoi(status_line.c_str() + 9);
    r.reason = status_line.substr(13);
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head_text.find("\r\n", start);
      const std::string line = head_text.substr(start, line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) {
        co_return std::nullopt;
      }
      std::size_t v = colon + 1;
      while (v < line.size() && line[v] == ' ') {
        ++v;
      }
      r.headers.emplace_back(line.substr(0, colon), line.substr(v));
    }
    if (r.status == 100) {
      co_return r; // an interim response: the final one follows
    }
    std::size_t length = 0;
    if (const auto cl = r.header("Content-Length"); cl && !head) {
      length = static_cast<std::size_t>(std::strtoull(cl->c_str(), nullptr, 10));
    }
    while (m_buf.size() < length) {
      if (!co_await fill()) {
        co_return std::nullopt;
      }
    }
    r.body = m_buf.substr(0, length);
    m_buf.erase(0, length);
    co_return r;
  }

  /// Whether the server closes the connection (EOF or reset) within 5 s, reading (and
  /// dropping) anything before it.
  task<bool> closed() {
    for (;;) {
      char tmp[4096];
      const result<std::size_t> n = co_await zokio::timeout(
          std::chrono::seconds(5), m_s.read_some(std::as_writable_bytes(std::span<char>(tmp))));
      if (!n.ok()) {
        co_return n.error() != zokio::errc::timed_out;
      }
      if (n.value() == 0) {
        co_return true;
      }
    }
  }

  net::tcp_stream& stream() noexcept { return m_s; }
  const std::string& buffered() const noexcept { return m_buf; }

private:
  net::tcp_stream m_s;
  std::string m_buf;
};

} // namespace zokio::testing
