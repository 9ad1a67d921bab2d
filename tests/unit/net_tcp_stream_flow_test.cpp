#include <zokio/net/tcp_stream.hpp>

#include <zokio/net/tcp_listener.hpp>

#include "loopback.hpp"
#include "net/tcp_impl.hpp"
#include "zokio_test.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

// The paths a bulk transfer takes through tcp_stream (docs/decisions.md, "A writer may not run
// ahead of its reader"): a write the socket takes only in part and whose rest is queued, writes
// past a loop turn's inline budget that go to uv_write whole, a bulk reader that reads the socket
// itself instead of waiting for a loop turn, and a write cancelled while partly written. Every
// byte is checked against a pattern that differs from one position to the next, so a lost,
// repeated or reordered piece is found. Real sockets on 127.0.0.1, both ends on one worker.

using namespace std::chrono_literals;
using zokio::net::tcp_listener;
using zokio::net::tcp_stream;
using zokio::testing::connected_pair;
using zokio::testing::pair_of_streams;

namespace {

/// The byte at stream position `i`.
std::byte pattern_at(std::uint64_t i) noexcept {
  return static_cast<std::byte>(((i * 0x9dU) ^ (i >> 11) ^ (i >> 23)) & 0xffU);
}

std::vector<std::byte> pattern(std::uint64_t from, std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = pattern_at(from + i);
  }
  return v;
}

/// The first position in `got` (stream positions from `at`) that is not the pattern, or -1.
long long mismatch(std::span<const std::byte> got, std::uint64_t at) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != pattern_at(at + i)) {
      return static_cast<long long>(at + i);
    }
  }
  return -1;
}

zokio::task<zokio::result<pair_of_streams>> new_pair() {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return l.error();
  }
  co_return co_await connected_pair(&l.value());
}

struct received {
  std::uint64_t bytes = 0;
  long long first_bad = -1; // stream position of the first wrong byte
  std::string error;
};

/// Reads until EOF, alternating a 64 KiB read (a bulk reader) with a 7-byte one (served from
/// read-ahead), and checks every byte.
zokio::task<received> check_until_eof(tcp_stream* s) {
  received r;
  std::vector<std::byte> big(64 * 1024);
  std::vector<std::byte> small(7);
  for (std::uint64_t k = 0;; ++k) {
    std::span<std::byte> buf = k % 8 == 7 ? std::span<std::byte>(small) : std::span<std::byte>(big);
    const zokio::result<std::size_t> n = co_await s->read_some(buf);
    if (!n.ok()) {
      r.error = n.error().message();
      co_return r;
    }
    if (n.value() == 0) {
      co_return r;
    }
    if (r.first_bad < 0) {
      r.first_bad = mismatch(buf.first(n.value()), r.bytes);
    }
    r.bytes += n.value();
  }
}

// --- a write taken in part, its rest queued, then more writes: the order holds -------------------

/// Sizes of the writes, in order: tiny ones, ones around 64 KiB and around a loop turn's inline
/// budget, and ones far larger than the socket's buffers (taken in part by uv_try_write, the rest
/// queued with uv_write).
const std::vector<std::size_t>& write_sizes() {
  // (Bounded: a mutant without a budget must still build and run.)
  constexpr std::size_t budget =
      std::min<std::size_t>(zokio::detail::tcp_inline_write_budget, 1024 * 1024);
  static const std::vector<std::size_t> sizes = {1,
                                                 7,
                                                 4096,
                                                 65535,
                                                 65536,
                                                 65537,
                                                 6 * 1024 * 1024,
                                                 3,
                                                 64 * 1024,
                                                 64 * 1024,
                                                 100,
                                                 64 * 1024,
                                                 9 * 1024 * 1024,
                                                 1,
                                                 200 * 1024,
                                                 2,
                                                 4 * 1024 * 1024,
                                                 budget - 1,
                                                 budget,
                                                 budget + 1,
                                                 5};
  return sizes;
}

zokio::task<void> ordered_stream(bool writev) {
  zokio::result<pair_of_streams> p = co_await new_pair();
  CO_REQUIRE(p.ok());
  tcp_stream& client = p.value().client;
  std::uint64_t total = 0;
  for (std::size_t n : write_sizes()) {
    total += n;
  }
  const std::vector<std::byte> data = pattern(0, static_cast<std::size_t>(total));
  auto reader = zokio::spawn(check_until_eof(&p.value().server));
  std::uint64_t at = 0;
  for (std::size_t n : write_sizes()) {
    const std::span<const std::byte> piece(data.data() + at, n);
    zokio::result<void> w;
    if (writev && n >= 3) {
      // Three buffers in one writev: the split falls inside the part the socket takes at once
      // or inside the queued rest, depending on the size.
      const std::size_t a = n / 3;
      w = co_await client.write_all(piece.first(a), piece.subspan(a, 1), piece.subspan(a + 1));
    } else {
      w = co_await client.write_all(piece);
    }
    CO_REQUIRE(w.ok());
    at += n;
  }
  CO_REQUIRE((co_await client.shutdown()).ok());
  const received r = co_await reader;
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.first_bad, -1) << "the byte at this position is not the one written there";
  EXPECT_EQ(r.bytes, total);
}

TEST(tcp_stream_flow, partly_taken_writes_and_queued_rests_keep_byte_order) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 30s, "the ordered stream", ordered_stream(false));
  zokio::testing::block_on_within(rt, 30s, "the ordered writev stream", ordered_stream(true));
  const zokio::runtime_stats s = rt.stats();
  EXPECT_GT(s.awaits_inline, 0u);
  EXPECT_GT(s.awaits_suspended, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(tcp_stream_flow, force_async_stream_keeps_byte_order_and_never_completes_inline) {
  zokio::runtime rt{{.workers = 1, .force_async = true}};
  zokio::testing::block_on_within(rt, 30s, "the ordered stream under force_async",
                                  ordered_stream(false));
  const zokio::runtime_stats s = rt.stats();
  EXPECT_EQ(s.awaits_inline, 0u);
  EXPECT_EQ(s.sync_fallbacks, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- the inline write budget
// ----------------------------------------------------------------------

zokio::task<void> budget_of_one_turn(const zokio::runtime* rt) {
  zokio::result<pair_of_streams> p = co_await new_pair();
  CO_REQUIRE(p.ok());
  tcp_stream& client = p.value().client;
  // Room for far more than the budget at once, so that the socket takes every write below whole.
  constexpr int room = 4 * 1024 * 1024;
  CO_REQUIRE(::setsockopt(client.native_handle(), SOL_SOCKET, SO_SNDBUF, &room, sizeof room) == 0);
  CO_REQUIRE(::setsockopt(p.value().server.native_handle(), SOL_SOCKET, SO_RCVBUF, &room,
                          sizeof room) == 0);
  constexpr std::size_t piece = 16 * 1024;
  // The budget's worth of pieces (bounded by the room: a mutant without a budget must still
  // build, and fail below).
  constexpr std::size_t pieces =
      std::min<std::size_t>(zokio::detail::tcp_inline_write_budget, room / 2) / piece;
  EXPECT_EQ(pieces * piece, zokio::detail::tcp_inline_write_budget);
  const std::vector<std::byte> data = pattern(0, pieces * piece + 1);
  zokio::runtime_stats before = rt->stats();
  // The budget's worth of 16 KiB writes in one turn (nothing here suspends): all inline.
  for (std::size_t i = 0; i < pieces; ++i) {
    CO_REQUIRE((co_await client.write_all(std::span(data).subspan(i * piece, piece))).ok());
  }
  zokio::runtime_stats after = rt->stats();
  EXPECT_EQ(after.awaits_inline - before.awaits_inline, pieces);
  EXPECT_EQ(after.awaits_suspended - before.awaits_suspended, 0u);
  // The turn's budget is spent: the next write, of one byte, goes through the loop.
  before = after;
  CO_REQUIRE((co_await client.write_all(std::span(data).subspan(pieces * piece, 1))).ok());
  after = rt->stats();
  EXPECT_EQ(after.awaits_suspended - before.awaits_suspended, 1u);
  EXPECT_EQ(after.awaits_inline - before.awaits_inline, 0u);
  // The loop turned: the budget is back, a write completes inline again.
  before = after;
  const std::vector<std::byte> more = pattern(pieces * piece + 1, 10);
  CO_REQUIRE((co_await client.write_all(more)).ok());
  after = rt->stats();
  EXPECT_EQ(after.awaits_inline - before.awaits_inline, 1u);
  CO_REQUIRE((co_await client.shutdown()).ok());
  const received r = co_await check_until_eof(&p.value().server);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.first_bad, -1);
  EXPECT_EQ(r.bytes, pieces * piece + 11);
}

TEST(tcp_stream_flow, writes_past_a_turns_inline_budget_go_through_the_loop) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 10s, "the budget test", budget_of_one_turn(&rt));
  zokio::testing::expect_clean_shutdown(rt);
}

// --- a bulk reader reads the socket itself
// ---------------------------------------------------------

/// Puts up to `limit` pattern bytes into `fd` without blocking; returns how many it took.
std::size_t fill_socket(int fd, std::size_t limit) {
  const std::vector<std::byte> data = pattern(0, limit);
  std::size_t sent = 0;
  while (sent < limit) {
    const ssize_t n = ::send(fd, data.data() + sent, limit - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      break; // EAGAIN: the buffers are full
    }
    sent += static_cast<std::size_t>(n);
  }
  return sent;
}

zokio::task<void> bulk_reader_drains_without_the_loop(const zokio::runtime* rt) {
  zokio::result<pair_of_streams> p = co_await new_pair();
  CO_REQUIRE(p.ok());
  tcp_stream& server = p.value().server;
  tcp_stream& client = p.value().client;
  // Bytes waiting in the kernel before the reader comes: several 64 KiB reads' worth.
  const std::size_t sent = fill_socket(client.native_handle(), 1024 * 1024);
  CO_REQUIRE(sent >= 4 * 64 * 1024);
  co_await zokio::sleep_for(5ms); // let loopback deliver what is in flight
  std::vector<std::byte> buf(64 * 1024);
  std::uint64_t got = 0;
  const zokio::runtime_stats before = rt->stats();
  std::uint64_t reads = 0;
  while (got < sent) {
    const zokio::result<std::size_t> n = co_await server.read_some(buf);
    CO_REQUIRE(n.ok() && n.value() > 0);
    EXPECT_EQ(mismatch(std::span(buf).first(n.value()), got), -1);
    got += n.value();
    ++reads;
  }
  const zokio::runtime_stats after = rt->stats();
  EXPECT_EQ(got, sent);
  // The first read waits for the loop, which fills its buffer; the reads after it find their
  // bytes in the socket and complete without suspending.
  EXPECT_GT(after.awaits_inline - before.awaits_inline, 0u) << "of " << reads << " reads";
  // The end of the stream, found by a read of the reader's own (its previous read was full).
  client.close();
  co_await zokio::sleep_for(5ms);
  const zokio::result<std::size_t> eof = co_await server.read_some(buf);
  CO_REQUIRE(eof.ok());
  EXPECT_EQ(eof.value(), 0u);
  const zokio::result<std::size_t> again = co_await server.read_some(buf);
  CO_REQUIRE(again.ok());
  EXPECT_EQ(again.value(), 0u);
}

TEST(tcp_stream_flow, a_bulk_reader_reads_waiting_bytes_without_suspending) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 10s, "the bulk reader",
                                  bulk_reader_drains_without_the_loop(&rt));
  zokio::testing::expect_clean_shutdown(rt);
}

// --- a write cancelled while partly written
// -------------------------------------------------------

zokio::task<void> cancelled_partly_written() {
  zokio::result<pair_of_streams> p = co_await new_pair();
  CO_REQUIRE(p.ok());
  tcp_stream& server = p.value().server; // does not read until the write was cancelled
  tcp_stream& client = p.value().client;
  constexpr std::size_t size = 48 * 1024 * 1024; // more than the loopback buffers hold
  const std::vector<std::byte> data = pattern(0, size);
  const zokio::result<void> w = co_await zokio::timeout(100ms, client.write_all(data));
  CO_REQUIRE(!w.ok());
  EXPECT_EQ(w.error(), zokio::errc::timed_out);
  EXPECT_FALSE(client.is_open()); // a cancelled write closes its stream
  // The peer reads what got through: a prefix of the data, in order, then the end.
  const received r = co_await check_until_eof(&server);
  EXPECT_TRUE(r.error.empty() ||
              r.error == std::make_error_code(std::errc::connection_reset).message())
      << r.error;
  EXPECT_EQ(r.first_bad, -1);
  EXPECT_GT(r.bytes, 0u);
  EXPECT_LT(r.bytes, size);
}

TEST(tcp_stream_flow, a_write_cancelled_while_partly_written_leaves_an_ordered_prefix) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "the cancelled write", cancelled_partly_written());
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
