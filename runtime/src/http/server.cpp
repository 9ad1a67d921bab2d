#include <zokio/http/server.hpp>

#include <zokio/diag/metrics.hpp>
#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/runtime/errors.hpp>
#include <zokio/task/scope.hpp>
#include <zokio/task/spawn.hpp>
#include <zokio/time/sleep.hpp>
#include <zokio/time/timeout.hpp>
#include <zokio/util/error.hpp>

#include "http/request_parser.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

// The server's machinery: one `server_worker` per serving worker (in the frame of that worker's
// task), one `connection` per accepted socket (in the frame of its task, a child of the worker's
// task_scope). A connection is touched only by its own task and, at shutdown, by its worker's
// task (same thread), which closes the stream of a connection that waits idle for a request.

namespace zokio::http {

struct server::bound {
  net::tcp_listener listener;
};

namespace detail {

namespace {

using clock = std::chrono::steady_clock;

/// What an idle connection reads into (in the connection itself): a whole small request fits.
constexpr std::size_t small_buffer_size = 512;
/// What a connection reads into while a request is bigger than that: taken from the worker's
/// pool and given back once the connection is idle again, so that an idle keep-alive
/// connection holds no buffer of its own.
constexpr std::size_t read_buffer_size = 8 * 1024;
/// Buffers a worker keeps for reuse; more are freed when given back.
constexpr std::size_t max_pooled_buffers = 256;
/// Responses queued for one writev before it is flushed even with more pipelined requests, and
/// the bytes of them past which it is flushed too. While a flush waits for the peer, no further
/// request is parsed: this is what one connection holds of responses.
constexpr std::size_t max_batched_responses = 16;
constexpr std::size_t max_batched_bytes = 64 * 1024;
/// A body up to this size is copied behind its head in the connection's output buffer (one
/// buffer for the writev instead of two); a bigger one is written from the response's string.
constexpr std::size_t inline_body_max = 1024;
/// Output buffers a worker keeps for reuse, and the capacity past which one is freed instead.
constexpr std::size_t max_pooled_out = 256;
constexpr std::size_t max_pooled_out_capacity = 16 * 1024;
/// After an error response: how long and how much to read (and discard) before closing, so the
/// client sees the response instead of a reset.
constexpr auto linger_time = 1s;
constexpr std::size_t linger_bytes = 256 * 1024;

std::size_t method_index(std::string_view m) noexcept {
  for (std::size_t i = 0; i + 1 < server_counters::methods.size(); ++i) {
    if (server_counters::methods[i] == m) {
      return i;
    }
  }
  return server_counters::methods.size() - 1;
}

/// "Date: Tue, 01 Dec 2026 13:07:36 GMT\r\n", formatted once a second per thread.
std::string_view http_date_line() {
  thread_local std::time_t last = 0;
  thread_local char text[64] = {};
  thread_local std::size_t len = 0;
  const std::time_t now = std::time(nullptr);
  if (now != last || len == 0) {
    last = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::strftime(text, sizeof text, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  }
  return {text, len};
}

/// Writes `v` in decimal just before `end`; returns where it begins.
char* number_text(std::size_t v, char* end) noexcept {
  char* p = end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return p;
}

/// The fields the server writes itself, whatever the handler set (any case).
bool server_owned_field(std::string_view name) noexcept {
  return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
         iequals(name, "Connection") || iequals(name, "Date");
}

std::span<const std::byte> bytes(std::string_view s) noexcept {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

/// The worker's free read buffers. Thread-local: a connection runs on one worker all its life.
thread_local std::vector<std::unique_ptr<std::byte[]>> t_buffer_pool;

std::unique_ptr<std::byte[]> take_buffer() {
  if (t_buffer_pool.empty()) {
    return std::make_unique_for_overwrite<std::byte[]>(read_buffer_size);
  }
  std::unique_ptr<std::byte[]> b = std::move(t_buffer_pool.back());
  t_buffer_pool.pop_back();
  return b;
}

void give_back(std::unique_ptr<std::byte[]>& b) {
  if (b && t_buffer_pool.size() < max_pooled_buffers) {
    t_buffer_pool.push_back(std::move(b));
  }
  b.reset();
}

/// The worker's free output buffers (response heads and small bodies waiting for a writev): a
/// connection holds one only while it has output, so an idle one holds none, and a response
/// costs no allocation of its own.
thread_local std::vector<std::string> t_out_pool;

void take_out(std::string& out) {
  if (out.capacity() > std::string().capacity() || t_out_pool.empty()) {
    return;
  }
  out = std::move(t_out_pool.back());
  t_out_pool.pop_back();
}

void give_back_out(std::string& out) {
  out.clear();
  if (out.capacity() <= max_pooled_out_capacity && t_out_pool.size() < max_pooled_out) {
    t_out_pool.push_back(std::move(out));
  }
  out = std::string();
}

} // namespace

class connection;

/// One serving worker: its listener, its connection tasks, the connections alive.
struct server_worker {
  server_worker(server* s, net::tcp_listener l) noexcept : srv(s), listener(std::move(l)) {}

  /// One worker's share of `serve()`: accept and serve until the server's stop event.
  static task<void> run(server* srv, net::tcp_listener l);

  server* srv;
  net::tcp_listener listener;
  task_scope conns;
  std::unordered_set<connection*> live;
  bool stopping = false;

  task<void> accept_loop();
  /// Closes, every little while, the connections idle past their deadline and those whose
  /// write has waited past its own; ends at the stop.
  task<void> sweep();
  void close_idle() noexcept;
};

class connection {
public:
  connection(server_worker& w, net::tcp_stream s);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  task<void> run();
  /// At shutdown: closes the stream if the connection waits for a request.
  void close_if_idle() noexcept {
    if (m_idle) {
      m_stream.close();
    }
  }
  /// From the worker's sweeper: closes the stream if the connection has waited for a request
  /// past its deadline. True if it did.
  bool expire_if_idle(clock::time_point now) noexcept {
    if (!m_idle || now < m_idle_deadline || !m_stream.is_open()) {
      return false;
    }
    m_stream.close();
    return true;
  }
  /// From the worker's sweeper: closes the stream if a write has waited for the peer past its
  /// deadline (the peer does not read); the write then fails as cancelled. True if it did.
  bool expire_if_write_stalled(clock::time_point now) noexcept {
    if (!m_writing || now < m_write_deadline || !m_stream.is_open()) {
      return false;
    }
    m_stream.close();
    return true;
  }

private:
  void queue(response&& r, bool head, bool close);
  void queue_raw(std::string_view bytes);
  void count(std::string_view method, int status) noexcept;
  /// Writes the output queued (call only when there is some: has_output()). The connection's
  /// own loop writes with begin_flush() and end_flush() around its own co_await (no task of
  /// its own per response); other callers use flush().
  task<bool> flush();
  std::span<const std::span<const std::byte>> begin_flush();
  bool end_flush(const result<void>& w);
  bool has_output() const noexcept { return m_out_count > 0; }
  task<void> fail(int status);
  task<void> linger();

  server& m_srv;
  server_worker& m_w;
  server_counters& m_counters;
  net::tcp_stream m_stream;
  request_parser m_parser; // the request being parsed, and then handled
  request& m_req;
  bool m_idle = false; // waiting for a request's first byte, until m_idle_deadline
  clock::time_point m_idle_deadline;
  // A write in progress, due by m_write_deadline. The sweeper enforces it rather than a timer
  // of its own, which would cost a task per flush although nearly every write completes at
  // once (the socket takes it all).
  bool m_writing = false;
  clock::time_point m_write_deadline;

  // Responses serialized and waiting for one writev: heads and small bodies in m_out (from the
  // worker's pool while there is output), each bigger body in m_bodies, written after the bytes
  // of m_out before its offset.
  struct big_body {
    std::size_t at; // offset in m_out
    std::string bytes;
  };
  std::string m_out;
  std::vector<big_body> m_bodies;
  std::size_t m_out_count = 0;                     // responses in m_out
  std::size_t m_out_bytes = 0;                     // of m_out and m_bodies
  std::vector<std::span<const std::byte>> m_spans; // the output as the buffers of one writev

  std::byte m_small[small_buffer_size];
};

connection::connection(server_worker& w, net::tcp_stream s)
    : m_srv(*w.srv), m_w(w), m_counters(w.srv->m_counters), m_stream(std::move(s)),
      m_parser({.max_header_bytes = w.srv->m_options.max_header_bytes,
                .max_body_bytes = w.srv->m_options.max_body_bytes}),
      m_req(m_parser.req()) {
  m_w.live.insert(this);
}

connection::~connection() {
  m_w.live.erase(this);
  m_counters.connections_open.fetch_sub(1, std::memory_order_relaxed);
}

void connection::count(std::string_view method, int status) noexcept {
  const int cls = status / 100;
  if (cls >= 1 && cls <= 5) {
    m_counters.requests[method_index(method)][static_cast<std::size_t>(cls - 1)].fetch_add(
        1, std::memory_order_relaxed);
  }
}

void connection::queue_raw(std::string_view bytes) {
  take_out(m_out);
  m_out += bytes;
  m_out_bytes += bytes.size();
  ++m_out_count;
}

void connection::queue(response&& r, bool head, bool close) {
  using namespace std::string_view_literals;
  // The head's size is known before it is written: one resize, then plain copies (no append
  // that looks for a terminator or checks the capacity piece by piece).
  char status[24];
  char* status_end = status + sizeof status;
  char* status_begin = number_text(static_cast<std::size_t>(r.status), status_end);
  const std::string_view reason = reason_phrase(r.status);
  const std::string_view date = http_date_line();
  const bool bodyless_status = r.status < 200 || r.status == 204 || r.status == 304;
  char length[24];
  char* length_end = length + sizeof length;
  char* length_begin = bodyless_status ? length_end : number_text(r.body.size(), length_end);
  const std::string_view connection = close                        ? "Connection: close\r\n"sv
                                      : m_req.version_minor() == 0 ? "Connection: keep-alive\r\n"sv
                                                                   : ""sv;
  const bool inline_body = !head && !bodyless_status && r.body.size() <= inline_body_max;
  std::size_t size = "HTTP/1.1 "sv.size() + static_cast<std::size_t>(status_end - status_begin) +
                     1 + reason.size() + 2 + date.size() + connection.size() + 2;
  for (const auto& [name, value] : r.headers) {
    if (!server_owned_field(name)) {
      size += name.size() + 2 + value.size() + 2;
    }
  }
  if (!bodyless_status) {
    size += "Content-Length: "sv.size() + static_cast<std::size_t>(length_end - length_begin) + 2;
  }
  if (inline_body) {
    size += r.body.size();
  }
  take_out(m_out);
  const std::size_t before = m_out.size();
  m_out.resize(before + size);
  char* p = m_out.data() + before;
  const auto put = [&p](std::string_view v) noexcept {
    std::memcpy(p, v.data(), v.size());
    p += v.size();
  };
  put("HTTP/1.1 "sv);
  put({status_begin, static_cast<std::size_t>(status_end - status_begin)});
  put(" "sv);
  put(reason);
  put("\r\n"sv);
  put(date);
  for (const auto& [name, value] : r.headers) {
    if (!server_owned_field(name)) {
      put(name);
      put(": "sv);
      put(value);
      put("\r\n"sv);
    }
  }
  if (!bodyless_status) {
    put("Content-Length: "sv);
    put({length_begin, static_cast<std::size_t>(length_end - length_begin)});
    put("\r\n"sv);
  }
  put(connection);
  put("\r\n"sv);
  if (inline_body) {
    put(r.body);
  } else if (!head && !bodyless_status) {
    m_out_bytes += r.body.size();
    m_bodies.push_back({m_out.size(), std::move(r.body)});
  }
  m_out_bytes += size;
  ++m_out_count;
}

std::span<const std::span<const std::byte>> connection::begin_flush() {
  std::vector<std::span<const std::byte>>& bufs = m_spans;
  bufs.clear();
  std::size_t from = 0;
  for (const big_body& b : m_bodies) {
    if (b.at > from) {
      bufs.push_back(bytes(std::string_view(m_out).substr(from, b.at - from)));
    }
    bufs.push_back(bytes(b.bytes));
    from = b.at;
  }
  if (m_out.size() > from) {
    bufs.push_back(bytes(std::string_view(m_out).substr(from)));
  }
  m_writing = true;
  m_write_deadline = clock::now() + m_srv.m_options.write_timeout;
  return {bufs.data(), bufs.size()};
}

bool connection::end_flush(const result<void>& w) {
  m_writing = false;
  const std::size_t total = m_out_bytes;
  give_back_out(m_out);
  m_bodies.clear();
  m_out_count = 0;
  m_out_bytes = 0;
  if (!w.ok()) {
    return false;
  }
  m_counters.bytes_out.fetch_add(total, std::memory_order_relaxed);
  return true;
}

task<bool> connection::flush() {
  const result<void> w = co_await m_stream.write_all(begin_flush());
  co_return end_flush(w);
}

task<void> connection::linger() {
  // Half-close, then read what the client still sends until it closes (bounded), so that the
  // response is not destroyed by a reset for unread data.
  if (!(co_await m_stream.shutdown()).ok()) {
    co_return;
  }
  const auto deadline = clock::now() + linger_time;
  std::size_t drained = 0;
  std::vector<std::byte> scratch(4096);
  while (drained < linger_bytes) {
    const result<std::size_t> n = co_await zokio::timeout_at(deadline, m_stream.read_some(scratch));
    if (!n.ok() || n.value() == 0) {
      break;
    }
    drained += n.value();
  }
}

task<void> connection::fail(int status) {
  response r = response::status_only(status);
  count(m_parser.headers_done() ? m_req.method() : std::string_view("OTHER"), status);
  queue(std::move(r), false, true);
  if (co_await flush()) {
    co_await linger();
  }
}

task<void> connection::run() {
  const server_options& opt = m_srv.m_options;
  std::unique_ptr<std::byte[]> big; // from the pool while a request outgrows m_small
  const char* base = reinterpret_cast<const char*>(m_small);
  std::size_t pos = 0;
  std::size_t end = 0;
  // The first request's headers are due within header_timeout of the accept; a later one's
  // within header_timeout of its first byte (its clock starts when its headers need a second
  // read: most requests come whole in one, and never read the clock for it).
  clock::time_point header_deadline = clock::now() + opt.header_timeout;
  bool header_clock = true;
  bool first_request = true;
  for (;;) {
    m_parser.next();
    if (!first_request) {
      header_clock = false;
    }
    bool continue_sent = false;
    bool body_started = false; // waiting for body bytes has begun, due by body_deadline
    clock::time_point body_deadline;
    for (bool complete = false; !complete;) {
      if (pos == end) {
        if (has_output() && !end_flush(co_await m_stream.write_all(begin_flush()))) {
          co_return;
        }
        if (m_parser.headers_done() && m_parser.expect_continue() && !continue_sent) {
          continue_sent = true;
          queue_raw("HTTP/1.1 100 Continue\r\n\r\n"); // under write_timeout too
          if (!co_await flush()) {
            co_return;
          }
        }
        result<std::size_t> n = std::errc::operation_canceled;
        const bool idle = !m_parser.started();
        std::span<std::byte> into(m_small, small_buffer_size);
        if (idle) {
          give_back(big);
        } else {
          if (!big) {
            big = take_buffer();
          }
          into = std::span<std::byte>(big.get(), read_buffer_size);
        }
        base = reinterpret_cast<const char*>(into.data());
        if (idle) {
          if (m_w.stopping) {
            co_return; // shutting down: no new request on this connection
          }
          // No timer of its own while idle (the common wait of a keep-alive connection): the
          // worker's sweeper closes the stream once m_idle_deadline has passed.
          m_idle = true;
          m_idle_deadline = first_request ? header_deadline : clock::now() + opt.idle_timeout;
          n = co_await m_stream.read_some(into);
          m_idle = false;
        } else if (!m_parser.headers_done()) {
          if (!header_clock) {
            header_clock = true;
            header_deadline = clock::now() + opt.header_timeout;
          }
          n = co_await zokio::timeout_at(header_deadline, m_stream.read_some(into));
        } else {
          // The body: the whole of it within body_timeout, no pause longer than idle_timeout.
          const clock::time_point now = clock::now();
          if (!body_started) {
            body_started = true;
            body_deadline = now + opt.body_timeout;
          }
          n = co_await zokio::timeout_at(std::min(body_deadline, now + opt.idle_timeout),
                                         m_stream.read_some(into));
        }
        if (!n.ok()) {
          if (n.error() == zokio::errc::timed_out) {
            m_counters.timeouts.fetch_add(1, std::memory_order_relaxed);
            if (!idle) {
              co_await fail(408); // slowloris: part of a request, too slowly
            }
          }
          co_return;
        }
        if (n.value() == 0) {
          co_return; // EOF: between requests, or a truncated one nobody waits for
        }
        m_counters.bytes_in.fetch_add(n.value(), std::memory_order_relaxed);
        pos = 0;
        end = n.value();
      }
      const request_parser::step st = m_parser.parse(base + pos, end - pos);
      if (st.st == request_parser::state::error) {
        m_counters.parse_errors.fetch_add(1, std::memory_order_relaxed);
        co_await fail(m_parser.error_status());
        co_return;
      }
      pos += st.consumed;
      complete = st.st == request_parser::state::complete;
    }
    first_request = false;

    const auto t0 = clock::now();
    response r;
    const router::match m = m_srv.m_router.find(m_req.method(), m_req.path());
    if (m.h == nullptr) {
      r = response::status_only(m.status);
      if (m.status == 405) {
        r.set_header("Allow", m.allow);
      }
    } else {
      // The handler's task is awaited here, in this frame: no task of the server's own around
      // it per request.
      bool threw = false;
      try {
        r = co_await (*m.h)(m_req);
      } catch (const operation_cancelled&) {
        throw;
      } catch (...) {
        threw = true;
        m_counters.handler_errors.fetch_add(1, std::memory_order_relaxed);
      }
      if (threw) {
        r = response::status_only(500);
      }
    }
    const auto ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
    const double secs = static_cast<double>(ns) / 1e9;
    std::size_t b = 0;
    while (b < server_counters::latency_bounds.size() &&
           secs > server_counters::latency_bounds[b]) {
      ++b;
    }
    m_counters.latency_buckets[b].fetch_add(1, std::memory_order_relaxed);
    m_counters.latency_sum_ns.fetch_add(ns, std::memory_order_relaxed);
    count(m_req.method(), r.status);

    const bool close = !m_req.keep_alive() || m_w.stopping;
    queue(std::move(r), m_req.method() == "HEAD", close);
    if (close) {
      if (co_await flush()) {
        (void)co_await m_stream.shutdown();
      }
      co_return;
    }
    if (m_out_count >= max_batched_responses || m_out_bytes >= max_batched_bytes) {
      if (!co_await flush()) {
        co_return;
      }
    }
  }
}

task<void> serve_connection(server_worker* w, net::tcp_stream s) {
  connection c(*w, std::move(s));
  co_await c.run();
}

void server_worker::close_idle() noexcept {
  for (connection* c : live) {
    c->close_if_idle();
  }
}

task<void> server_worker::sweep() {
  const server_options& o = srv->m_options;
  const auto every =
      std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::min({o.idle_timeout, o.header_timeout, o.write_timeout}) / 4),
                 std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  for (;;) {
    const result<void> r = co_await zokio::timeout(every, srv->m_stop.wait());
    if (r.ok() || r.error() != zokio::errc::timed_out) {
      co_return; // stopping, or cancelled
    }
    const clock::time_point now = clock::now();
    for (connection* c : live) {
      if (c->expire_if_idle(now) || c->expire_if_write_stalled(now)) {
        srv->m_counters.timeouts.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
}

task<void> server_worker::accept_loop() {
  server_counters& k = srv->m_counters;
  // The pause after a failed accept: doubled while accepts keep failing, back to the shortest
  // after one succeeds.
  constexpr std::chrono::milliseconds backoff_min = 10ms;
  constexpr std::chrono::milliseconds backoff_max = 1s;
  std::chrono::milliseconds backoff = backoff_min;
  for (;;) {
    result<net::tcp_stream> s = co_await listener.accept();
    if (!s.ok()) {
      if (stopping || s.error() == std::errc::operation_canceled ||
          s.error() == std::errc::bad_file_descriptor) {
        co_return;
      }
      // Out of descriptors (or memory): the connection waits in the backlog; the connections
      // already open keep being served, and this worker backs off instead of spinning.
      k.accept_errors.fetch_add(1, std::memory_order_relaxed);
      co_await zokio::sleep_for(backoff);
      backoff = std::min(backoff * 2, backoff_max);
      continue;
    }
    backoff = backoff_min;
    k.connections_accepted.fetch_add(1, std::memory_order_relaxed);
    if (k.connections_open.fetch_add(1, std::memory_order_relaxed) >=
        srv->m_options.max_connections) {
      k.connections_open.fetch_sub(1, std::memory_order_relaxed);
      k.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      s.value().close();
      continue;
    }
    (void)s.value().set_nodelay(true);
    conns.spawn(serve_connection(this, std::move(s).value()), {.name = "http connection"});
  }
}

task<void> server_worker::run(server* srv, net::tcp_listener l) {
  server_worker w(srv, std::move(l));
  w.conns.spawn(w.accept_loop(), {.name = "http accept"});
  w.conns.spawn(w.sweep(), {.name = "http idle sweeper"});
  bool cancelled = false;
  try {
    co_await srv->m_stop.wait();
  } catch (const operation_cancelled&) {
    cancelled = true;
  }
  w.stopping = true;
  w.listener.close(); // the accept loop ends
  w.close_idle();
  if (!cancelled) {
    // Requests in flight finish; past the deadline the close is cancelled, which cancels the
    // connections still open (and waits for them).
    (void)co_await zokio::timeout(srv->m_options.shutdown_timeout, w.conns.close());
  }
  co_await w.conns.close(); // throws operation_cancelled once all unwound, if cancelled
}

task<void> open_and_run(server* srv, net::tcp_listener_share share) {
  result<net::tcp_listener> l = net::tcp_listener::open(std::move(share));
  if (!l.ok()) {
    std::fprintf(stderr, "zokio http: a worker cannot listen on the shared socket: %s\n",
                 l.error().message().c_str());
    co_return;
  }
  co_await server_worker::run(srv, std::move(l).value());
}

task<response> metrics_handler(server* srv, std::function<runtime_stats()> stats) {
  std::string text;
  if (stats) {
    text = zokio::diag::to_prometheus(stats());
  }
  text += srv->counters().to_prometheus();
  co_return response::text(200, std::move(text))
      .set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
}

task<response> healthz_handler() {
  co_return response::text(200, "ok\n");
}

} // namespace detail

server::server(server_options options) : m_options(std::move(options)) {}

server::~server() = default;

result<void> server::listen() {
  if (m_bound) {
    return {};
  }
  // Bound once; the other workers listen on shares of this socket (tcp_listener::share), so a
  // second server on the same port fails with address_in_use instead of sharing it silently.
  result<net::tcp_listener> l =
      net::tcp_listener::bind(m_options.host, m_options.port, {.backlog = m_options.backlog});
  if (!l.ok()) {
    return l.error();
  }
  m_port.store(l.value().local_port(), std::memory_order_release);
  m_bound = std::make_unique<bound>(bound{std::move(l).value()});
  return {};
}

task<result<void>> server::serve() {
  if (m_options.workers == 0) {
    co_return std::errc::invalid_argument;
  }
  try {
    (void)zokio::detail::current_runtime_worker(m_options.workers - 1);
  } catch (const std::out_of_range&) {
    co_return std::errc::invalid_argument; // more serving workers than the runtime has
  }
  if (const result<void> r = listen(); !r.ok()) {
    co_return r.error();
  }
  net::tcp_listener first = std::move(m_bound->listener);
  std::vector<net::tcp_listener_share> shares; // all made before any worker starts serving
  for (unsigned w = 1; w < m_options.workers; ++w) {
    result<net::tcp_listener_share> share = first.share();
    if (!share.ok()) {
      co_return share.error();
    }
    shares.push_back(std::move(share).value());
  }
  std::vector<join_handle<void>> others;
  for (unsigned w = 1; w < m_options.workers; ++w) {
    others.push_back(
        spawn_on(w, detail::open_and_run(this, std::move(shares[w - 1])), {.name = "http worker"}));
  }
  bool cancelled = false;
  try {
    co_await detail::server_worker::run(this, std::move(first));
  } catch (const operation_cancelled&) {
    cancelled = true;
  }
  if (cancelled) {
    // The other workers stop on their own (their tasks are cancelled too); the server must
    // outlive them, as it must outlive serve().
    for (join_handle<void>& h : others) {
      h.cancel();
    }
    throw operation_cancelled{};
  }
  for (join_handle<void>& h : others) {
    co_await h;
  }
  co_return result<void>{};
}

void server::shutdown() noexcept {
  m_stop.set();
}

void server::add_observability_routes(std::function<runtime_stats()> runtime_stats) {
  route("GET", "/metrics", [this, fn = std::move(runtime_stats)](const request&) {
    return detail::metrics_handler(this, fn);
  });
  route("GET", "/healthz", [](const request&) { return detail::healthz_handler(); });
}

std::uint64_t server_counters::responses_of_class(int cls) const noexcept {
  if (cls < 1 || cls > 5) {
    return 0;
  }
  std::uint64_t n = 0;
  for (const auto& row : requests) {
    n += row[static_cast<std::size_t>(cls - 1)].load(std::memory_order_relaxed);
  }
  return n;
}

std::uint64_t server_counters::responses() const noexcept {
  std::uint64_t n = 0;
  for (int c = 1; c <= 5; ++c) {
    n += responses_of_class(c);
  }
  return n;
}

std::string server_counters::to_prometheus() const {
  std::string out;
  auto line = [&out](std::string_view s) {
    out += s;
    out += '\n';
  };
  auto counter = [&](const char* name, const char* help, const char* type,
                     const std::atomic<std::uint64_t>& v) {
    out += "# HELP zokio_http_";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE zokio_http_";
    out += name;
    out += ' ';
    out += type;
    out += "\nzokio_http_";
    out += name;
    out += ' ';
    out += std::to_string(v.load(std::memory_order_relaxed));
    out += '\n';
  };
  line("# HELP zokio_http_requests_total Responses sent, by request method and status class.");
  line("# TYPE zokio_http_requests_total counter");
  for (std::size_t m = 0; m < methods.size(); ++m) {
    for (std::size_t c = 0; c < 5; ++c) {
      const std::uint64_t v = requests[m][c].load(std::memory_order_relaxed);
      if (v == 0 && !(m == 0 && c == 1)) {
        continue; // only what happened, and GET 2xx always
      }
      out += "zokio_http_requests_total{method=\"";
      out += methods[m];
      out += "\",status=\"";
      out += std::to_string(c + 1);
      out += "xx\"} ";
      out += std::to_string(v);
      out += '\n';
    }
  }
  line("# HELP zokio_http_request_duration_seconds Time from a complete request to its response.");
  line("# TYPE zokio_http_request_duration_seconds histogram");
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < latency_buckets.size(); ++b) {
    cumulative += latency_buckets[b].load(std::memory_order_relaxed);
    char le[32];
    if (b < latency_bounds.size()) {
      std::snprintf(le, sizeof le, "%g", latency_bounds[b]);
    } else {
      std::snprintf(le, sizeof le, "+Inf");
    }
    out += "zokio_http_request_duration_seconds_bucket{le=\"";
    out += le;
    out += "\"} ";
    out += std::to_string(cumulative);
    out += '\n';
  }
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.9f",
                static_cast<double>(latency_sum_ns.load(std::memory_order_relaxed)) / 1e9);
  out += "zokio_http_request_duration_seconds_sum ";
  out += sum;
  out += "\nzokio_http_request_duration_seconds_count ";
  out += std::to_string(cumulative);
  out += '\n';
  counter("connections_open", "Connections open now.", "gauge", connections_open);
  counter("connections_accepted_total", "Connections accepted.", "counter", connections_accepted);
  counter("connections_rejected_total", "Connections closed at once: max_connections were open.",
          "counter", connections_rejected);
  counter("accept_errors_total",
          "Accepts that failed for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS, "
          "ENOMEM); the server backed off and kept serving.",
          "counter", accept_errors);
  counter("parse_errors_total", "Requests refused as malformed or over a limit.", "counter",
          parse_errors);
  counter("timeouts_total", "Connections closed by the header, body, idle or write timeout.",
          "counter", timeouts);
  counter("handler_errors_total", "Handlers that threw (answered 500).", "counter", handler_errors);
  counter("bytes_in_total", "Bytes received.", "counter", bytes_in);
  counter("bytes_out_total", "Bytes sent.", "counter", bytes_out);
  return out;
}

} // namespace zokio::http
