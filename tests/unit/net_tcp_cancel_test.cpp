#include <zokio/net/tcp_listener.hpp>

#include <zokio/net/tcp_stream.hpp>

#include "loopback.hpp"
#include "zokio_test.hpp"

#include <array>
#include <string>
#include <vector>

// Cancellation of tasks blocked in accept, read, connect and write (DESIGN.md, Cancellation):
// the pending operation stops, result-returning awaits give operation_canceled, nothing leaks,
// and the runtime shuts down clean.

using namespace std::chrono_literals;
using zokio::net::tcp_listener;
using zokio::net::tcp_stream;

namespace {

using zokio::testing::connected_pair;
using zokio::testing::pair_of_streams;

zokio::task<std::error_code> accept_once(tcp_listener* l) {
  zokio::result<tcp_stream> s = co_await l->accept();
  co_return s.error();
}

zokio::task<zokio::result<std::size_t>> read_once(tcp_stream* s, std::span<std::byte> buf) {
  co_return co_await s->read_some(buf);
}

zokio::task<zokio::result<void>> write_once(tcp_stream* s, std::span<const std::byte> data) {
  co_return co_await s->write_all(data);
}

zokio::task<std::error_code> connect_once(std::uint16_t port) {
  zokio::result<tcp_stream> s = co_await tcp_stream::connect("127.0.0.1", port);
  co_return s.error();
}

// --- accept --------------------------------------------------------------------------------------

zokio::task<std::string> cancel_accept() {
  zokio::result<tcp_listener> bound = tcp_listener::bind("127.0.0.1", 0);
  if (!bound.ok()) {
    co_return "bind failed";
  }
  tcp_listener l = std::move(bound).value();
  auto h = zokio::spawn(accept_once(&l));
  co_await zokio::sleep_for(10ms);
  if (h.is_finished()) {
    co_return "accept did not wait";
  }
  h.cancel();
  if (const std::error_code e = co_await h; e != std::errc::operation_canceled) {
    co_return "cancelled accept gave: " + e.message();
  }
  // The listener lost nothing and keeps working.
  zokio::result<pair_of_streams> p = co_await connected_pair(&l);
  if (!p.ok()) {
    co_return "accept after a cancelled accept: " + p.error().message();
  }
  // Closing the listener completes a waiting acceptor with operation_canceled too.
  auto h2 = zokio::spawn(accept_once(&l));
  co_await zokio::sleep_for(5ms);
  l.close();
  if (const std::error_code e = co_await h2; e != std::errc::operation_canceled) {
    co_return "accept on a closed listener gave: " + e.message();
  }
  if ((co_await l.accept()).error() != std::errc::bad_file_descriptor) {
    co_return "accept after close did not give bad_file_descriptor";
  }
  co_return "";
}

TEST(tcp_cancel, accept_is_withdrawn_and_the_listener_keeps_working) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(zokio::testing::block_on_within(rt, 10s, "the cancelled accept to be withdrawn",
                                            cancel_accept()),
            "");
  zokio::testing::expect_clean_shutdown(rt);
}

// --- read_some -----------------------------------------------------------------------------------

zokio::task<std::string> cancel_read() {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind failed";
  }
  zokio::result<pair_of_streams> p = co_await connected_pair(&l.value());
  if (!p.ok()) {
    co_return "pair: " + p.error().message();
  }
  tcp_stream& server = p.value().server;
  tcp_stream& client = p.value().client;
  std::array<std::byte, 16> buf{};

  auto h = zokio::spawn(read_once(&server, buf));
  co_await zokio::sleep_for(10ms);
  if (h.is_finished()) {
    co_return "read did not wait";
  }
  h.cancel();
  if (const auto r = co_await h; r.error() != std::errc::operation_canceled) {
    co_return "cancelled read gave: " + (r.ok() ? std::string("data") : r.error().message());
  }

  // The stream is still usable: bytes sent after the cancellation reach the next read.
  const std::string msg = "after cancel";
  if (!(co_await client.write_all(std::as_bytes(std::span(msg)))).ok()) {
    co_return "write failed";
  }
  std::string got(msg.size(), '\0');
  if (!(co_await server.read_exact(std::as_writable_bytes(std::span(got)))).ok() || got != msg) {
    co_return "read after cancel got '" + got + "'";
  }

  // zokio::timeout of a read: timed_out, and again the stream stays usable.
  const auto t = co_await zokio::timeout(50ms, read_once(&server, buf));
  if (t.error() != std::errc::timed_out) {
    co_return "timeout(read) did not time out";
  }
  const std::string late = "late";
  if (!(co_await client.write_all(std::as_bytes(std::span(late)))).ok()) {
    co_return "write after timeout failed";
  }
  std::string got2(late.size(), '\0');
  if (!(co_await server.read_exact(std::as_writable_bytes(std::span(got2)))).ok() || got2 != late) {
    co_return "read after timeout got '" + got2 + "'";
  }
  co_return "";
}

TEST(tcp_cancel, read_is_withdrawn_and_the_stream_stays_usable) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(
      zokio::testing::block_on_within(rt, 10s, "the cancelled read to be withdrawn", cancel_read()),
      "");
  zokio::testing::expect_clean_shutdown(rt);
}

// --- write_all -----------------------------------------------------------------------------------

zokio::task<std::string> cancel_write() {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind failed";
  }
  zokio::result<pair_of_streams> p = co_await connected_pair(&l.value());
  if (!p.ok()) {
    co_return "pair: " + p.error().message();
  }
  tcp_stream& server = p.value().server; // never reads
  tcp_stream& client = p.value().client;

  // More than the socket buffers hold: the write blocks in libuv's queue.
  std::vector<std::byte> big(64 * 1024 * 1024, std::byte{0x5a});
  auto h = zokio::spawn(write_once(&client, big));
  co_await zokio::sleep_for(50ms);
  if (h.is_finished()) {
    co_return "the write did not block";
  }
  h.cancel();
  if (const auto r = co_await h; r.error() != std::errc::operation_canceled) {
    co_return "cancelled write gave: " + (r.ok() ? std::string("success") : r.error().message());
  }
  // A cancelled write closes the stream: how much reached the peer is unknown.
  if (client.is_open()) {
    co_return "the stream is still open after a cancelled write";
  }
  if ((co_await client.write_all(big)).error() != std::errc::bad_file_descriptor) {
    co_return "write after a cancelled write did not give bad_file_descriptor";
  }
  (void)server;
  co_return "";
}

zokio::task<std::string> close_under_a_write() {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind failed";
  }
  zokio::result<pair_of_streams> p = co_await connected_pair(&l.value());
  if (!p.ok()) {
    co_return "pair: " + p.error().message();
  }
  tcp_stream& client = p.value().client;
  std::vector<std::byte> big(64 * 1024 * 1024, std::byte{0x33});
  auto h = zokio::spawn(write_once(&client, big));
  co_await zokio::sleep_for(20ms);
  client.close(); // another task closes the stream under the pending write
  if (const auto r = co_await h; r.error() != std::errc::operation_canceled) {
    co_return "write under close gave: " + (r.ok() ? std::string("success") : r.error().message());
  }
  co_return "";
}

TEST(tcp_cancel, blocked_write_is_cancelled_by_closing_the_stream) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(zokio::testing::block_on_within(rt, 10s, "the cancelled write to end", cancel_write()),
            "");
  EXPECT_EQ(zokio::testing::block_on_within(rt, 10s, "a write to end when its stream closes",
                                            close_under_a_write()),
            "");
  zokio::testing::expect_clean_shutdown(rt);
}

// --- connect -------------------------------------------------------------------------------------

// A listener that never accepts, with backlog 1: the kernel completes two handshakes, then drops
// further SYNs, so the next connect hangs (until the SYN retries give up, minutes later).
zokio::task<std::string> cancel_connect() {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0, {.backlog = 1});
  if (!l.ok()) {
    co_return "bind failed";
  }
  const std::uint16_t port = l.value().local_port();
  std::vector<tcp_stream> parked;
  bool timed_out = false;
  for (int i = 0; i < 16 && !timed_out; ++i) {
    auto r = co_await zokio::timeout(1s, tcp_stream::connect("127.0.0.1", port));
    if (!r.ok()) {
      if (r.error() != std::errc::timed_out) {
        co_return "timeout(connect) gave: " + r.error().message();
      }
      timed_out = true;
    } else {
      parked.push_back(std::move(r).value());
    }
  }
  if (!timed_out) {
    co_return "no connect ever blocked";
  }
  auto h = zokio::spawn(connect_once(port));
  co_await zokio::sleep_for(50ms);
  if (h.is_finished()) {
    co_return "the connect did not block";
  }
  h.cancel();
  if (const std::error_code e = co_await h; e != std::errc::operation_canceled) {
    co_return "cancelled connect gave: " + e.message();
  }
  co_return "";
}

TEST(tcp_cancel, blocked_connect_is_cancelled_and_timeout_works) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(
      zokio::testing::block_on_within(rt, 10s, "the cancelled connect to end", cancel_connect()),
      "");
  zokio::testing::expect_clean_shutdown(rt);
}

// --- shutdown cancels whatever is still pending --------------------------------------------------

zokio::task<void> park_in_read(tcp_stream s) {
  std::array<std::byte, 8> buf{};
  (void)co_await s.read_some(buf);
}

zokio::task<void> park_in_accept(tcp_listener l) {
  (void)co_await l.accept();
}

zokio::task<std::string> leave_tasks_blocked() {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind failed";
  }
  zokio::result<pair_of_streams> p = co_await connected_pair(&l.value());
  if (!p.ok()) {
    co_return "pair failed";
  }
  zokio::spawn(park_in_read(std::move(p.value().server))).detach();
  zokio::spawn(park_in_read(std::move(p.value().client))).detach();
  zokio::spawn(park_in_accept(std::move(l).value())).detach();
  co_await zokio::sleep_for(5ms);
  co_return "";
}

TEST(tcp_cancel, runtime_shutdown_unblocks_io_waits_cleanly) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_EQ(zokio::testing::block_on_within(rt, 10s, "the blocked tasks to be set up",
                                            leave_tasks_blocked()),
            "");
  EXPECT_GE(rt.stats().handles_active, 1u); // the blocked reads and the accept are external work
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
