#pragma once

#include <zokio/http/request.hpp>
#include <zokio/http/response.hpp>
#include <zokio/http/router.hpp>
#include <zokio/runtime/stats.hpp>
#include <zokio/sync/event.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/result.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

// An HTTP/1.1 server on llhttp.
//
// Ownership and threads:
// - The `server` object is shared by every worker that serves: each runs a task of its own
//   (a listener on its share of the one bound socket, accept loop, a task_scope of connection
//   tasks) that only reads the options and the router, and updates the counters (atomics, relaxed).
// - Each worker's listener, connection set and connection tasks belong to that worker.
//   `shutdown()` only sets an event (thread-safe); each worker's task then stops its own
//   listener and connections on its own thread.
// - The server must outlive `serve()`.

namespace zokio::http {

using namespace std::chrono_literals;

/// Limits and timeouts: `http::server srv{{.port = 8080, .max_connections = 10000}}`.
struct server_options {
  /// A numeric address (see `net::tcp_listener::bind`).
  std::string host = "127.0.0.1";
  /// 0 picks a free port (`server::port()` once listening).
  std::uint16_t port = 8080;
  /// Serve on workers 0 .. workers-1, each accepting on its own share of the one bound socket
  /// (`tcp_listener::share`), so a second server on the port fails with `address_in_use`. Must
  /// not exceed the runtime's workers.
  unsigned workers = 1;
  /// Open connections over all workers; a connection over it is closed at once and counted in
  /// `connections_rejected`.
  std::size_t max_connections = 10000;
  /// The header section (request line, header fields and the blank line's CRLF), to the byte:
  /// a section of exactly this many bytes is served, one byte more is 431 and close.
  std::size_t max_header_bytes = 16 * 1024;
  /// Request body; over it: 413 and close, answered from the headers (Content-Length) before the
  /// body is read, or as soon as a chunked body passes it.
  std::size_t max_body_bytes = 1024 * 1024;
  /// From a connection's accept (or a request's first byte) to the end of its headers; over it:
  /// 408 and close (slowloris).
  std::chrono::milliseconds header_timeout = 10s;
  /// How long a keep-alive connection may wait for its next request (over it the connection
  /// is closed), and the longest pause while a body is being received (over it: 408 and close).
  std::chrono::milliseconds idle_timeout = 60s;
  /// From the end of a request's headers to the end of its body: the whole body must arrive
  /// within it, however steadily it trickles (a client sending a byte every `idle_timeout` / 2
  /// is cut off); over it: 408 and close. With `Expect: 100-continue` it counts from the
  /// `100 Continue`. Raise it with `max_body_bytes` for big uploads over slow links.
  std::chrono::milliseconds body_timeout = 60s;
  /// How long one write of responses (those of the requests that arrived together, in one
  /// writev) may wait for the peer to take them; over it the connection is closed (a peer that
  /// sends requests but never reads the responses). While a write waits, the connection parses
  /// no further request, so what it holds stays bounded: the responses of one write (at most
  /// 16; they are written as soon as they reach 64 KiB) plus the stream's read-ahead of at
  /// most 64 KiB. Enforced by the worker's sweeper (no timer per write): the connection is
  /// closed at most 1 s (a quarter of the shortest timeout, if less) after the deadline.
  std::chrono::milliseconds write_timeout = 30s;
  /// After `shutdown()`: how long requests in flight may take before their connections are
  /// cancelled.
  std::chrono::milliseconds shutdown_timeout = 10s;
  /// listen(2) backlog of each worker's listener.
  int backlog = 1024;
};

/// The server's counters, updated by every worker (relaxed atomics).
struct server_counters {
  /// Methods counted apart; anything else is "OTHER".
  static constexpr std::array<std::string_view, 8> methods = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER"};
  /// Latency histogram bounds, in seconds (the last bucket is +Inf).
  static constexpr std::array<double, 8> latency_bounds = {0.0001, 0.0005, 0.001, 0.005,
                                                           0.01,   0.05,   0.25,  1.0};

  /// Responses by request method and status class (index 0 = 1xx ... 4 = 5xx).
  std::array<std::array<std::atomic<std::uint64_t>, 5>, methods.size()> requests{};
  /// Handler latency (request complete to response ready), cumulative buckets counted apart.
  std::array<std::atomic<std::uint64_t>, latency_bounds.size() + 1> latency_buckets{};
  std::atomic<std::uint64_t> latency_sum_ns{0};
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_accepted{0};
  /// Closed at once because `max_connections` were open.
  std::atomic<std::uint64_t> connections_rejected{0};
  /// Accepts that failed for want of a resource (EMFILE, ENFILE, ENOBUFS, ENOMEM): the
  /// connection stays in the kernel's backlog and the worker retries after a pause that doubles
  /// while the failures last (10 ms to 1 s).
  std::atomic<std::uint64_t> accept_errors{0};
  /// Requests llhttp refused (400) or over a limit (413, 431).
  std::atomic<std::uint64_t> parse_errors{0};
  /// Connections closed by a timeout: `header_timeout` (408), `body_timeout` (408),
  /// `idle_timeout` (between requests; 408 within a body) or `write_timeout`.
  std::atomic<std::uint64_t> timeouts{0};
  /// Handlers that threw (each answered 500).
  std::atomic<std::uint64_t> handler_errors{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};

  /// Responses with a status in [100*cls, 100*cls+99] for every method.
  std::uint64_t responses_of_class(int cls) const noexcept;
  /// Every response counted.
  std::uint64_t responses() const noexcept;
  /// The counters in Prometheus text exposition format, prefixed `zokio_http_`.
  std::string to_prometheus() const;
};

namespace detail {
struct server_worker;
class connection;
} // namespace detail

/// An HTTP/1.1 server.
///
/// ```
/// http::server srv{{.host = "127.0.0.1", .port = 8080}};
/// srv.route("GET", "/hello", [](const http::request&) -> task<http::response> {
///   co_return http::response::text(200, "hello\n");
/// });
/// co_await srv.serve();  // until srv.shutdown()
/// ```
///
/// Protocol: keep-alive by default for HTTP/1.1, `Connection: close` honoured, HTTP/1.0 closes
/// unless it asked for keep-alive; pipelined requests are answered in order (responses of
/// requests that arrived together go out in one writev); bodies by Content-Length or chunked;
/// `Expect: 100-continue` answered once the headers pass the limits; HEAD gets the GET
/// response's headers without its body; every response has `Date` and `Content-Length`.
/// Malformed requests (llhttp, with no lenient flag), and requests with both Content-Length and
/// Transfer-Encoding, get 400 and the connection is closed; the server keeps serving others.
class server {
public:
  explicit server(server_options options = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Adds a route (see `router::route`). Before `serve()` only.
  void route(std::string method, std::string path, handler h) {
    m_router.route(std::move(method), std::move(path), std::move(h));
  }
  http::router& router() noexcept { return m_router; }

  /// Adds `GET /metrics` (Prometheus text: `stats()` of the runtime, when given, then the
  /// HTTP counters) and `GET /healthz` ("ok"). `runtime_stats` is called on each scrape, on the
  /// serving worker; it must be callable from any worker.
  void add_observability_routes(std::function<runtime_stats()> runtime_stats = {});

  /// Binds worker 0's listener now (on the current worker, which must be worker 0 when
  /// `workers` > 1), so that `port()` is known before `serve()`. Errors: as
  /// `net::tcp_listener::bind`. Idempotent once it succeeded.
  result<void> listen();

  /// Serves until `shutdown()`: listens (if `listen()` was not called), runs an accept loop on
  /// each of the `workers` workers and returns once every worker has stopped, its connections
  /// included. Errors: `std::errc::invalid_argument` when `workers` is 0 or more than the
  /// runtime has; the bind errors of worker 0 (another worker that cannot bind says so on
  /// stderr and serves nowhere). Call it once, from a task on worker 0.
  /// Cancellation: stops at once, as a shutdown with no grace: listeners closed, connections
  /// cancelled and unwound before it returns; the await then throws `operation_cancelled`.
  task<result<void>> serve();

  /// Graceful stop, callable from any thread, any number of times: every worker stops
  /// accepting, closes its idle connections and lets requests in flight finish (a request half
  /// received gets its response once the rest arrives), each connection closing after its
  /// response; after `shutdown_timeout` the remaining connections are cancelled.
  void shutdown() noexcept;

  /// The bound port, 0 before listening.
  std::uint16_t port() const noexcept { return m_port.load(std::memory_order_acquire); }
  const server_options& options() const noexcept { return m_options; }
  const server_counters& counters() const noexcept { return m_counters; }

private:
  friend struct detail::server_worker;
  friend class detail::connection;

  server_options m_options;
  http::router m_router;
  server_counters m_counters;
  zokio::event m_stop;
  std::atomic<std::uint16_t> m_port{0};
  struct bound;
  std::unique_ptr<bound> m_bound; // worker 0's listener from listen() until serve() takes it
};

} // namespace zokio::http
