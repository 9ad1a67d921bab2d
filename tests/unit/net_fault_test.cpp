#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>

#include "loopback.hpp"
#include "zokio_test.hpp"

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <sys/socket.h>

// Fault injection at the TCP layer (issue #6): what a server needs to survive a peer that never
// reads or that resets while a write waits. A time limit over a write to a peer that never reads
// ends it (and closes the stream, as a cancelled write does); a reset under a waiting write
// fails it with the peer's error at once. Both over real loopback sockets; each ends with a clean
// runtime shutdown.

using namespace std::chrono_literals;
using zokio::net::tcp_listener;
using zokio::net::tcp_stream;
using zokio::testing::connected_pair;
using zokio::testing::pair_of_streams;

namespace {

/// More than the kernel's buffers of a loopback connection hold (4 MiB each way at most here):
/// a write of it waits for the peer to read.
constexpr std::size_t blocking_size = 64 * 1024 * 1024;

/// A connected pair over loopback whose `server` side the test leaves silent (it never reads),
/// or an empty optional (and a test failure).
zokio::task<std::optional<pair_of_streams>> pair_with_a_silent_peer() {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    ADD_FAILURE() << "bind: " << l.error().message();
    co_return std::nullopt;
  }
  zokio::result<pair_of_streams> p = co_await connected_pair(&l.value());
  if (!p.ok()) {
    ADD_FAILURE() << "connected_pair: " << p.error().message();
    co_return std::nullopt;
  }
  co_return std::move(p).value();
}

zokio::task<void> timed_out_write_to_a_peer_that_never_reads() {
  std::optional<pair_of_streams> p = co_await pair_with_a_silent_peer();
  CO_REQUIRE(p.has_value());
  std::vector<std::byte> big(blocking_size, std::byte{0x6b});
  const auto t0 = std::chrono::steady_clock::now();
  const zokio::result<void> w = co_await zokio::timeout(300ms, p->client.write_all(big));
  const auto took = std::chrono::steady_clock::now() - t0;
  CO_REQUIRE(!w.ok());
  EXPECT_EQ(w.error(), zokio::errc::timed_out);
  EXPECT_GE(took, 250ms) << "the write ended before its time limit";
  EXPECT_LT(took, 20s);
  // As a cancelled write: the stream is closed (how much reached the peer is unknown), and the
  // peer reads a prefix of the data, then the end.
  EXPECT_FALSE(p->client.is_open());
  std::vector<std::byte> got(1024 * 1024);
  std::size_t total = 0;
  for (;;) {
    const zokio::result<std::size_t> n =
        co_await zokio::timeout(10s, p->server.read_some(std::span<std::byte>(got)));
    CO_REQUIRE(n.ok() || n.error() == std::errc::connection_reset);
    if (!n.ok() || n.value() == 0) {
      break;
    }
    for (std::size_t i = 0; i < n.value(); ++i) {
      if (got[i] != std::byte{0x6b}) {
        ADD_FAILURE() << "byte " << total + i << " is not what was written";
        co_return;
      }
    }
    total += n.value();
  }
  EXPECT_LT(total, blocking_size);
}

TEST(NetFault, ATimeLimitEndsAWriteToAPeerThatNeverReads) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 40s, "the timed-out write",
                                  timed_out_write_to_a_peer_that_never_reads());
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> reset_under_a_waiting_write() {
  std::optional<pair_of_streams> p = co_await pair_with_a_silent_peer();
  CO_REQUIRE(p.has_value());
  std::vector<std::byte> big(blocking_size, std::byte{0x72});
  auto h = zokio::spawn(
      [](tcp_stream* s, std::vector<std::byte>* b) -> zokio::task<zokio::result<void>> {
        co_return co_await s->write_all(*b);
      }(&p->client, &big));
  co_await zokio::sleep_for(100ms);
  CO_REQUIRE(!h.is_finished()); // the write waits for the peer
  // The peer aborts: SO_LINGER 0, then close, sends RST.
  const linger abort_on_close{1, 0};
  CO_REQUIRE(::setsockopt(p->server.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
                          sizeof abort_on_close) == 0);
  p->server.close();
  const zokio::result<zokio::result<void>> w = co_await zokio::timeout(20s, h);
  CO_REQUIRE(w.ok()); // the write did not wait on after the reset
  CO_REQUIRE(!w.value().ok());
  const std::error_code e = w.value().error();
  EXPECT_TRUE(e == std::errc::connection_reset || e == std::errc::broken_pipe) << e.message();
  // The stream is still the task's to close, and reading it says the connection is gone.
  std::array<std::byte, 8> buf{};
  const zokio::result<std::size_t> r = co_await p->client.read_some(buf);
  EXPECT_TRUE(!r.ok() || r.value() == 0);
  p->client.close();
}

TEST(NetFault, APeerResetFailsAWaitingWriteAtOnce) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 40s, "the write under a reset",
                                  reset_under_a_waiting_write());
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
