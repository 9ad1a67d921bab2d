#include <zokio/net/tcp_stream.hpp>

#include <zokio/net/tcp_listener.hpp>

#include "zokio_test.hpp"

#include <array>
#include <cstring>
#include <random>
#include <string>
#include <vector>

// Echo traffic over real loopback sockets: many concurrent clients against an in-process echo
// server on one or two workers (SO_REUSEPORT), every byte checked.

using namespace std::chrono_literals;
using zokio::net::tcp_listener;
using zokio::net::tcp_stream;

namespace {

constexpr std::size_t max_message = 64 * 1024;

zokio::task<void> echo_connection(tcp_stream s) {
  std::vector<std::byte> buf(max_message);
  for (;;) {
    const zokio::result<std::size_t> n = co_await s.read_some(buf);
    if (!n.ok() || n.value() == 0) {
      co_return;
    }
    if (!(co_await s.write_all(std::span<const std::byte>(buf.data(), n.value()))).ok()) {
      co_return;
    }
  }
}

/// Accepts until cancelled; each connection gets a task of its own (detached).
zokio::task<int> accept_loop(tcp_listener l) {
  int accepted = 0;
  for (;;) {
    zokio::result<tcp_stream> s = co_await l.accept();
    if (!s.ok()) {
      if (s.error() == std::errc::operation_canceled) {
        co_return accepted;
      }
      ADD_FAILURE() << "accept: " << s.error().message();
      co_return accepted;
    }
    ++accepted;
    EXPECT_TRUE(s.value().set_nodelay(true).ok());
    zokio::spawn(echo_connection(std::move(s).value()), {.name = "echo"}).detach();
  }
}

/// Binds on the current worker (sharing `port` with SO_REUSEPORT) and accepts until cancelled.
zokio::task<int> bind_and_accept(std::uint16_t port) {
  zokio::result<tcp_listener> l =
      tcp_listener::bind("127.0.0.1", port, {.backlog = 1024, .reuse_port = true});
  if (!l.ok()) {
    ADD_FAILURE() << "bind: " << l.error().message();
    co_return 0;
  }
  co_return co_await accept_loop(std::move(l).value());
}

struct client_report {
  std::uint64_t bytes = 0;
  int mismatches = 0;
  std::string error;
};

/// Sends `messages` messages of random sizes (1 byte to 64 KiB), reads each echo back and
/// compares it byte for byte.
zokio::task<client_report> echo_client(std::uint16_t port, unsigned seed, int messages) {
  client_report rep;
  zokio::result<tcp_stream> c = co_await tcp_stream::connect("127.0.0.1", port);
  if (!c.ok()) {
    rep.error = "connect: " + c.error().message();
    co_return rep;
  }
  tcp_stream s = std::move(c).value();
  (void)s.set_nodelay(true);
  std::mt19937 rng(seed);
  // A random pattern twice the largest message; each message is a random window of it.
  std::vector<std::byte> pattern(2 * max_message);
  for (auto& b : pattern) {
    b = static_cast<std::byte>(rng());
  }
  std::vector<std::byte> in(max_message);
  std::uniform_int_distribution<std::size_t> size_of(1, max_message);
  std::uniform_int_distribution<std::size_t> offset_of(0, max_message);
  for (int m = 0; m < messages; ++m) {
    const std::size_t size = size_of(rng);
    const std::span<const std::byte> out(pattern.data() + offset_of(rng), size);
    if (zokio::result<void> w = co_await s.write_all(out); !w.ok()) {
      rep.error = "write: " + w.error().message();
      co_return rep;
    }
    const std::span<std::byte> echo(in.data(), size);
    if (zokio::result<void> r = co_await s.read_exact(echo); !r.ok()) {
      rep.error = "read: " + r.error().message();
      co_return rep;
    }
    if (std::memcmp(out.data(), echo.data(), size) != 0) {
      ++rep.mismatches;
    }
    rep.bytes += size;
  }
  co_return rep;
}

struct echo_totals {
  std::uint64_t bytes = 0;
  int mismatches = 0;
  int failed_clients = 0;
  int accepted = 0;
  std::vector<int> accepted_per_worker;
};

zokio::task<echo_totals> echo_run(unsigned workers, int clients, int messages) {
  echo_totals t;
  zokio::result<tcp_listener> l =
      tcp_listener::bind("127.0.0.1", 0, {.backlog = 1024, .reuse_port = true});
  if (!l.ok()) {
    ADD_FAILURE() << "bind: " << l.error().message();
    co_return t;
  }
  const std::uint16_t port = l.value().local_port();
  EXPECT_NE(port, 0);
  std::vector<zokio::join_handle<int>> servers;
  servers.push_back(zokio::spawn(accept_loop(std::move(l).value()), {.name = "accept-0"}));
  for (unsigned w = 1; w < workers; ++w) {
    servers.push_back(zokio::spawn_on(w, bind_and_accept(port), {.name = "accept-n"}));
  }
  co_await zokio::sleep_for(5ms); // let the other workers bind before clients connect

  std::vector<zokio::join_handle<client_report>> hs;
  hs.reserve(static_cast<std::size_t>(clients));
  for (int i = 0; i < clients; ++i) {
    auto client = echo_client(port, 1000u + static_cast<unsigned>(i), messages);
    hs.push_back(zokio::spawn_on(static_cast<unsigned>(i) % workers, std::move(client)));
  }
  for (auto& h : hs) {
    const client_report r = co_await h;
    t.bytes += r.bytes;
    t.mismatches += r.mismatches;
    if (!r.error.empty()) {
      ++t.failed_clients;
      ADD_FAILURE() << r.error;
    }
  }
  for (auto& h : servers) {
    h.cancel();
  }
  for (auto& h : servers) {
    const int n = co_await h;
    t.accepted += n;
    t.accepted_per_worker.push_back(n);
  }
  co_return t;
}

void run_echo(unsigned workers) {
  constexpr int clients = 200;
  constexpr int messages = 100;
  zokio::runtime rt{{.workers = workers}};
  const echo_totals t = rt.block_on(echo_run(workers, clients, messages));
  EXPECT_EQ(t.failed_clients, 0);
  EXPECT_EQ(t.mismatches, 0);
  EXPECT_EQ(t.accepted, clients);
  EXPECT_GT(t.bytes, std::uint64_t{clients} * messages); // at least a byte per message
  const zokio::runtime_stats s = rt.stats();
  EXPECT_EQ(s.tasks_failed, 0u);
  // SO_REUSEPORT spread the connections: every worker's listener accepted some.
  ASSERT_EQ(t.accepted_per_worker.size(), workers);
  for (int n : t.accepted_per_worker) {
    EXPECT_GT(n, 0);
  }
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(tcp_echo, two_hundred_clients_on_one_worker) {
  run_echo(1);
}

TEST(tcp_echo, two_hundred_clients_on_two_workers_with_reuse_port) {
  run_echo(2);
}

// --- one exchange under force_async: every await goes through the loop ---------------------------

zokio::task<std::string> force_async_echo() {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind: " + l.error().message();
  }
  const std::uint16_t port = l.value().local_port();
  auto server = zokio::spawn(accept_loop(std::move(l).value()));
  zokio::result<tcp_stream> c = co_await tcp_stream::connect("127.0.0.1", port);
  if (!c.ok()) {
    co_return "connect: " + c.error().message();
  }
  tcp_stream s = std::move(c).value();
  const std::string msg = "hello, forced asynchrony";
  for (int i = 0; i < 20; ++i) {
    if (!(co_await s.write_all(std::as_bytes(std::span(msg)))).ok()) {
      co_return "write failed";
    }
    std::string back(msg.size(), '\0');
    if (!(co_await s.read_exact(std::as_writable_bytes(std::span(back)))).ok()) {
      co_return "read failed";
    }
    if (back != msg) {
      co_return "mismatch";
    }
  }
  s.close();
  server.cancel();
  (void)co_await server;
  co_return "";
}

TEST(tcp_echo, force_async_exchange_never_completes_inline) {
  zokio::runtime rt{{.workers = 1, .force_async = true}};
  EXPECT_EQ(rt.block_on(force_async_echo()), "");
  const zokio::runtime_stats s = rt.stats();
  EXPECT_GT(s.awaits, 40u);
  EXPECT_EQ(s.awaits_inline, 0u);
  EXPECT_EQ(s.sync_fallbacks, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- writev, half-close, EOF, names, addresses ---------------------------------------------------

zokio::task<std::string> read_all(tcp_stream* s) {
  std::string got;
  std::array<std::byte, 7> buf{}; // small on purpose: several reads, some from the stream buffer
  for (;;) {
    const zokio::result<std::size_t> n = co_await s->read_some(buf);
    if (!n.ok()) {
      co_return "error: " + n.error().message();
    }
    if (n.value() == 0) {
      co_return got;
    }
    got.append(reinterpret_cast<const char*>(buf.data()), n.value());
  }
}

zokio::task<std::string> writev_and_half_close() {
  zokio::result<tcp_listener> l = tcp_listener::bind("localhost", 0);
  if (!l.ok()) {
    co_return "bind: " + l.error().message();
  }
  // A name, resolved with uv_getaddrinfo; the listener is on 127.0.0.1 only, and "localhost"
  // may resolve to ::1 first: connect tries each address in turn.
  auto connecting = zokio::spawn(tcp_stream::connect("localhost", l.value().local_port()));
  zokio::result<tcp_stream> accepted = co_await l.value().accept();
  zokio::result<tcp_stream> c = co_await connecting;
  if (!accepted.ok() || !c.ok()) {
    co_return "connect/accept failed";
  }
  tcp_stream server = std::move(accepted).value();
  tcp_stream client = std::move(c).value();

  const zokio::result<zokio::net::socket_address> peer = server.peer_address();
  const zokio::result<zokio::net::socket_address> local = client.local_address();
  if (!peer.ok() || !local.ok() || !(peer.value() == local.value()) ||
      peer.value().ip() != "127.0.0.1" || client.local_port() != local.value().port()) {
    co_return "addresses do not match";
  }

  const std::string a = "GET / HTTP/1.1\r\n", b = "Host: x\r\n", c2 = "\r\n";
  // GCC 12 cannot keep a C array in a coroutine frame ("array used as initializer").
  const std::array<std::span<const std::byte>, 4> parts = {
      std::as_bytes(std::span(a)), std::as_bytes(std::span(b)), std::span<const std::byte>{},
      std::as_bytes(std::span(c2))};
  if (!(co_await client.write_all(std::span<const std::span<const std::byte>>(parts))).ok()) {
    co_return "writev failed";
  }
  if (!(co_await client.write_all(std::as_bytes(std::span(b)), std::as_bytes(std::span(c2))))
           .ok()) {
    co_return "writev (two buffers) failed";
  }
  if (!(co_await client.shutdown()).ok()) {
    co_return "shutdown failed";
  }
  if ((co_await client.shutdown()).error() != std::errc::not_connected) {
    co_return "second shutdown did not fail with not_connected";
  }
  const std::string got = co_await read_all(&server);
  if (got != a + b + c2 + b + c2) {
    co_return "server got '" + got + "'";
  }
  // EOF is sticky.
  std::array<std::byte, 4> buf{};
  if ((co_await server.read_some(buf)).value() != 0) {
    co_return "EOF not repeated";
  }
  // Half-closed: the other direction still works.
  const std::string reply = "reply";
  if (!(co_await server.write_all(std::as_bytes(std::span(reply)))).ok()) {
    co_return "reply failed";
  }
  server.close();
  const std::string back = co_await read_all(&client);
  if (back != reply) {
    co_return "client got '" + back + "'";
  }
  // read_exact past EOF.
  std::array<std::byte, 4> more{};
  if ((co_await client.read_exact(more)).error() != zokio::errc::eof) {
    co_return "read_exact past EOF did not fail with zokio::errc::eof";
  }
  // Use after close.
  if ((co_await server.read_some(buf)).error() != std::errc::bad_file_descriptor ||
      (co_await server.write_all(std::as_bytes(std::span(reply)))).error() !=
          std::errc::bad_file_descriptor ||
      server.is_open() || server.local_port() != 0 || server.native_handle() != -1) {
    co_return "a closed stream did not report bad_file_descriptor";
  }
  co_return "";
}

TEST(tcp_stream, writev_half_close_eof_and_addresses) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(writev_and_half_close()), "");
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> write_everything(tcp_stream* s, std::span<const std::byte> data) {
  co_return (co_await s->write_all(data)).ok();
}

zokio::task<std::string> buffered_reads_and_backpressure() {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind failed";
  }
  auto connecting = zokio::spawn(tcp_stream::connect("127.0.0.1", l.value().local_port()));
  zokio::result<tcp_stream> accepted = co_await l.value().accept();
  zokio::result<tcp_stream> c = co_await connecting;
  if (!accepted.ok() || !c.ok()) {
    co_return "connect/accept failed";
  }
  tcp_stream server = std::move(accepted).value();
  tcp_stream client = std::move(c).value();
  // Start the reader once so libuv reads; then send far more than the overflow bound while
  // nobody reads: the stream must stop at its bound and lose nothing.
  std::array<std::byte, 1> one{};
  const std::string first = "x";
  if (!(co_await client.write_all(std::as_bytes(std::span(first)))).ok() ||
      (co_await server.read_some(one)).value() != 1) {
    co_return "first byte";
  }
  // Far more than the socket buffers plus the stream's 64 KiB bound can hold.
  std::vector<std::byte> big(32 * 1024 * 1024);
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<std::byte>(i * 7 + i / 251);
  }
  auto writer = zokio::spawn(write_everything(&client, big));
  co_await zokio::sleep_for(50ms); // the writer fills the socket buffers and the overflow
  if (writer.is_finished()) {
    co_return "the unread stream did not push back on the writer";
  }
  std::vector<std::byte> got(big.size());
  if (!(co_await server.read_exact(got)).ok()) {
    co_return "read_exact failed";
  }
  if (!co_await writer) {
    co_return "write failed";
  }
  if (got != big) {
    co_return "data corrupted";
  }
  co_return "";
}

TEST(tcp_stream, unread_bytes_are_bounded_and_kept_in_order) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(buffered_reads_and_backpressure()), "");
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
