#include <zokio/http/client.hpp>

#include <zokio/net/tcp_stream.hpp>
#include <zokio/runtime/errors.hpp>
#include <zokio/time/timeout.hpp>
#include <zokio/util/error.hpp>

#include "http/response_parser.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <span>
#include <string>
#include <utility>
#include <vector>

// The client's pool lives on the heap so that the client object can move while requests' tasks
// hold a pointer to it. It is touched only by tasks on the client's worker, between awaits, so
// it needs no lock. Each request parses its response in a `response_reader` of its own frame.

namespace zokio::http {

namespace detail {

namespace {
using clock = std::chrono::steady_clock;
} // namespace

/// A connection and when it went back to the pool.
struct pooled_connection {
  net::tcp_stream stream;
  clock::time_point idle_since;
};

struct client_state {
  explicit client_state(client_options o) : opt(std::move(o)) {}

  client_options opt;
  std::vector<pooled_connection> idle; // oldest first; a request takes the newest
  std::uint64_t connections = 0;       // opened so far
  std::uint64_t generation = 0;        // close() increments it: older connections are not kept

  /// Closes the pooled connections that waited past idle_timeout.
  void expire(clock::time_point now) noexcept {
    std::size_t old = 0;
    while (old < idle.size() && now - idle[old].idle_since > opt.idle_timeout) {
      ++old;
    }
    idle.erase(idle.begin(), idle.begin() + static_cast<std::ptrdiff_t>(old)); // closes them
  }
};

namespace {

std::span<const std::byte> bytes(std::string_view s) noexcept {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

/// RFC 9110 9.2.2: a repeat has the effect of one request.
bool idempotent(std::string_view method) noexcept {
  for (std::string_view m : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"}) {
    if (method == m) {
      return true;
    }
  }
  return false;
}

/// Whether a pooled connection can carry a request: the server has not closed it. The stream
/// keeps reading while no reader waits, so the server's FIN or reset may already have been
/// taken from the socket; the socket still says so: a peek returns 0 (EOF, also once a reset
/// was reported) or an error. Only "nothing to read" (EAGAIN) means alive; bytes still in the
/// kernel mean unusable. (Bytes sent unasked that the stream has already taken in are not seen
/// here; a server that says "408" before closing also closes, and that is seen.) A system
/// call, not an await: a timeout over a read would cost a task and a loop turn per request.
bool still_usable(const net::tcp_stream& s) noexcept {
  char b = 0;
  const ssize_t n = ::recv(s.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/// A pooled connection that still works (the newest first), or an empty stream.
net::tcp_stream take_pooled(client_state* st) {
  st->expire(clock::now());
  while (!st->idle.empty()) {
    net::tcp_stream s = std::move(st->idle.back().stream);
    st->idle.pop_back();
    if (still_usable(s)) {
      return s;
    }
  }
  return {};
}

/// After a complete response that lets the connection live: back to the pool, or closed.
void give_back(client_state* st, net::tcp_stream s, std::uint64_t generation) {
  const clock::time_point now = clock::now();
  st->expire(now);
  if (generation == st->generation && st->idle.size() < st->opt.max_idle_connections) {
    st->idle.push_back({std::move(s), now});
  }
}

enum class outcome { response, retry, failed };

/// Reads the response to the request just written on `s`. `keep_alive`: whether the connection
/// may carry another request after it.
task<outcome> read_response(net::tcp_stream& s, response_parser& rd, bool may_retry,
                            result<client_response>& out, bool& keep_alive) {
  bool got_any = false;
  char buf[8192];
  for (;;) {
    const result<std::size_t> n =
        co_await s.read_some(std::as_writable_bytes(std::span<char>(buf)));
    if (!n.ok() || n.value() == 0) {
      if (may_retry && !got_any) {
        co_return outcome::retry; // closed under the request, before any byte of a response
      }
      if (!n.ok()) {
        out = n.error();
        co_return outcome::failed;
      }
      if (rd.finish()) {
        keep_alive = false;
        out = std::move(rd.resp());
        co_return outcome::response;
      }
      out = std::errc::connection_reset;
      co_return outcome::failed;
    }
    got_any = true;
    const response_parser::step st = rd.parse(buf, n.value());
    if (st.st == response_parser::state::complete) {
      // Bytes after the response were not asked for: the connection is not reused.
      keep_alive = rd.keep_alive() && st.consumed == n.value();
      out = std::move(rd.resp());
      co_return outcome::response;
    }
    if (st.st == response_parser::state::error) {
      out = rd.too_big() ? std::errc::message_size : std::errc::bad_message;
      co_return outcome::failed;
    }
  }
}

task<result<client_response>> do_request(client_state* st, std::string method, std::string head,
                                         std::string body) {
  const bool is_head = method == "HEAD";
  for (bool resent = false;; resent = true) {
    const std::uint64_t generation = st->generation;
    net::tcp_stream s = take_pooled(st);
    const bool reused = s.is_open();
    if (!reused) {
      result<net::tcp_stream> c = co_await net::tcp_stream::connect(st->opt.host, st->opt.port);
      if (!c.ok()) {
        co_return c.error();
      }
      s = std::move(c).value();
      (void)s.set_nodelay(true);
      ++st->connections;
    }
    const result<void> w = co_await s.write_all(bytes(head), bytes(body));
    if (!w.ok()) {
      // Not all of it went out: the server cannot have acted on it, whatever the method.
      if (reused && !resent) {
        continue;
      }
      co_return w.error();
    }
    response_parser rd(st->opt.max_response_bytes, is_head);
    result<client_response> r = std::errc::connection_reset;
    bool keep_alive = false;
    switch (co_await read_response(s, rd, reused && !resent && idempotent(method), r, keep_alive)) {
    case outcome::retry:
      continue;
    case outcome::failed:
      co_return r;
    case outcome::response:
      break;
    }
    if (keep_alive) {
      give_back(st, std::move(s), generation);
    }
    co_return r;
  }
}

} // namespace

} // namespace detail

client::client(client_options options)
    : m_state(std::make_unique<detail::client_state>(std::move(options))) {}

client::~client() = default;
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

task<result<client_response>> client::request(std::string method, std::string target,
                                              std::string body, http::headers extra) {
  detail::client_state* st = m_state.get();
  std::string head;
  head.reserve(128);
  head += method;
  head += ' ';
  head += target;
  head += " HTTP/1.1\r\n";
  if (!extra.contains("Host")) {
    head += "Host: ";
    head += st->opt.host;
    if (st->opt.port != 80) {
      head += ':';
      head += std::to_string(st->opt.port);
    }
    head += "\r\n";
  }
  for (const auto& [name, value] : extra) {
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    head += "Content-Length: ";
    head += std::to_string(body.size());
    head += "\r\n";
  }
  head += "\r\n";
  // A request that fails, times out or is cancelled closes its connection: the stream is a
  // local of do_request, destroyed as it unwinds.
  co_return co_await zokio::timeout(
      st->opt.timeout, detail::do_request(st, std::move(method), std::move(head), std::move(body)));
}

void client::close() noexcept {
  if (m_state) {
    m_state->idle.clear();
    ++m_state->generation;
  }
}

std::uint64_t client::connections() const noexcept {
  return m_state ? m_state->connections : 0;
}

std::size_t client::idle_connections() const noexcept {
  return m_state ? m_state->idle.size() : 0;
}

} // namespace zokio::http
