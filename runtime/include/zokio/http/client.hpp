#pragma once

#include <zokio/http/request.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

// A keep-alive HTTP/1.1 client with a pool of connections to one host:port.
//
// Ownership and threads: a client owns its idle connections (net::tcp_streams, in a heap
// `detail::client_state`); a request owns the connection it uses until it ends, then gives it
// back to the pool or closes it. Like the streams, the client belongs to the worker of the task
// that first uses it: requests may run concurrently from any number of tasks on that worker.

namespace zokio::http {

namespace detail {
struct client_state;
}

struct client_options {
  /// An IPv4/IPv6 literal or a name (resolved on the thread pool at each connect).
  std::string host = "127.0.0.1";
  std::uint16_t port = 80;
  /// The most one request may take, connecting included; past it: `zokio::errc::timed_out`
  /// and the request's connection is closed (the pooled ones stay).
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  /// Response headers plus body; over it: `std::errc::message_size` and the connection closes.
  std::size_t max_response_bytes = 8 * 1024 * 1024;
  /// Kept-alive connections to `host:port` held open for reuse while no request uses them; a
  /// connection whose request ends while that many wait is closed. 0: every request opens a
  /// connection of its own and closes it.
  std::size_t max_idle_connections = 8;
  /// How long a connection may wait in the pool and still be reused; an older one is closed
  /// instead (checked whenever a request takes or gives back a connection). Keep it below the
  /// server's keep-alive timeout (`server_options::idle_timeout`, 60 s by default).
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
};

/// What a request got back.
struct client_response {
  int status = 0;
  http::headers headers;
  std::string body;
};

/// `http::client c{{.host = "127.0.0.1", .port = 8080}}; auto r = co_await c.get("/hello");`
///
/// Connections (HTTP/1.1 keep-alive) are kept in a pool between requests, at most
/// `max_idle_connections` of them and each for at most `idle_timeout`; a request takes the
/// connection used most recently, or opens one when none waits, so N requests one after the
/// other use one connection and N at once use N. A pooled connection the server has closed
/// meanwhile (its EOF or reset has arrived) is closed and the next one (or a new one) is used.
/// When the server closes it just as the request goes out, the request is sent once more on a
/// new connection only when that is safe: its bytes could not all be written (so the server
/// cannot have acted on it), or its method is idempotent (GET, HEAD, PUT, DELETE, OPTIONS,
/// TRACE) and no byte of a response came back. A POST that may have reached the server is
/// never sent twice; it fails with `connection_reset`. A request on a connection it just opened
/// is never resent.
///
/// Responses framed by Content-Length, chunked, or by the end of the connection are parsed by
/// llhttp. A HEAD response has no body. A connection goes back to the pool only after a
/// complete response that lets it live (no `Connection: close`, not framed by the end of the
/// connection, no byte after it).
///
/// Errors (values): the connect errors of `net::tcp_stream::connect`, `connection_reset`,
/// `zokio::errc::timed_out`, `std::errc::message_size` (over `max_response_bytes`),
/// `std::errc::bad_message` (a response llhttp refuses, or whose status is outside 100-599). After
/// an error the request's connection is closed. Cancellation: the request stops and its connection
/// is closed; the await returns `std::errc::operation_canceled`. The client must outlive the
/// returned tasks. Move-only.
class client {
public:
  explicit client(client_options options = {});
  ~client();
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Sends `method target` with `body` (Content-Length, when not empty or when the method is
  /// POST/PUT/PATCH) and `extra` headers (`Host` is added unless given), and reads the response.
  task<result<client_response>> request(std::string method, std::string target,
                                        std::string body = {}, http::headers extra = {});
  task<result<client_response>> get(std::string target) {
    return request("GET", std::move(target));
  }
  task<result<client_response>> post(std::string target, std::string body) {
    return request("POST", std::move(target), std::move(body));
  }

  /// Closes the pooled connections; those that requests use now are closed when their request
  /// ends instead of going back to the pool. The next request opens a new connection.
  void close() noexcept;
  /// Connections opened so far (1 for any number of requests one after the other, while the
  /// server keeps it alive).
  std::uint64_t connections() const noexcept;
  /// Connections waiting in the pool now.
  std::size_t idle_connections() const noexcept;

private:
  std::unique_ptr<detail::client_state> m_state;
};

} // namespace zokio::http
