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

// A keep-alive HTTP/1.1 client over one connection.
//
// Ownership and threads: a client owns its connection (a net::tcp_stream) and its llhttp
// parser (in a heap `detail::client_state`). Like the stream, it belongs to the worker of the
// task that first uses it; one request at a time.

namespace zokio::http {

namespace detail {
struct client_state;
}

struct client_options {
  /// An IPv4/IPv6 literal or a name (resolved on the thread pool at each connect).
  std::string host = "127.0.0.1";
  std::uint16_t port = 80;
  /// The most one request may take, connecting included; past it: `zokio::errc::timed_out`
  /// and the connection is closed (the next request reconnects).
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  /// Response headers plus body; over it: `std::errc::message_size` and the connection closes.
  std::size_t max_response_bytes = 8 * 1024 * 1024;
};

/// What a request got back.
struct client_response {
  int status = 0;
  http::headers headers;
  std::string body;
};

/// `http::client c{{.host = "127.0.0.1", .port = 8080}}; auto r = co_await c.get("/hello");`
///
/// Keeps the connection open between requests (HTTP/1.1 keep-alive) and reconnects when the
/// server closed it: a request that finds the kept connection closed before any byte of its
/// response arrived is sent once more on a new connection. Responses framed by Content-Length,
/// chunked, or by the end of the connection are parsed by llhttp. A HEAD response has no body.
///
/// Errors (values): the connect errors of `net::tcp_stream::connect`, `connection_reset`,
/// `zokio::errc::timed_out`, `std::errc::message_size` (over `max_response_bytes`),
/// `std::errc::bad_message` (a response llhttp refuses). After an error the connection is closed.
/// Cancellation: the request stops and the connection is closed; the await returns
/// `std::errc::operation_canceled`. The client must outlive the returned task. Move-only.
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

  /// Closes the kept connection (the next request reconnects).
  void close() noexcept;
  /// Connections opened so far (1 while keep-alive holds).
  std::uint64_t connections() const noexcept;

private:
  std::unique_ptr<detail::client_state> m_state;
};

} // namespace zokio::http
