#include <zokio/io/buffered_reader.hpp>
#include <zokio/io/buffered_writer.hpp>

#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/task/spawn.hpp>
#include <zokio/task/yield.hpp>
#include <zokio/time/sleep.hpp>
#include <zokio/time/timeout.hpp>

#include "loopback.hpp"
#include "zokio_test.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

// buffered_reader and buffered_writer over real loopback sockets: lines cut at every byte,
// limits, end of stream, cancellation that loses nothing, and 1 MiB checked byte for byte.

using namespace std::chrono_literals;
using zokio::io::buffered_reader;
using zokio::io::buffered_writer;
using zokio::net::tcp_listener;
using zokio::net::tcp_stream;

namespace {

using reader = buffered_reader<tcp_stream&>;
using writer = buffered_writer<tcp_stream&>;

/// A stream of the tcp_stream shape that is not a tcp_stream: its operations are tasks, take no
/// site and write one buffer at a time (so the writer's fallback paths run), and it counts them.
struct counting_stream {
  tcp_stream* m_stream;
  std::size_t m_reads = 0;
  std::size_t m_writes = 0;

  zokio::task<zokio::result<std::size_t>> read_some(std::span<std::byte> buf) {
    ++m_reads;
    co_return co_await m_stream->read_some(buf);
  }
  zokio::task<zokio::result<void>> write_all(std::span<const std::byte> buf) {
    ++m_writes;
    co_return co_await m_stream->write_all(buf);
  }
};

static_assert(zokio::io::async_read_stream<tcp_stream>);
static_assert(zokio::io::async_write_stream<tcp_stream>);
static_assert(zokio::io::async_read_stream<counting_stream>);
static_assert(zokio::io::async_write_stream<counting_stream>);
static_assert(!zokio::io::async_read_stream<int>);
static_assert(!zokio::io::async_write_stream<std::string>);

// An lvalue is borrowed, an rvalue owned (as std::views::all).
static_assert(std::is_same_v<decltype(buffered_reader(std::declval<tcp_stream&>())), reader>);
static_assert(std::is_same_v<decltype(buffered_reader(std::declval<tcp_stream>())),
                             buffered_reader<tcp_stream>>);
static_assert(std::is_same_v<decltype(buffered_writer(std::declval<tcp_stream&>(),
                                                      zokio::io::buffered_writer_options{})),
                             writer>);

std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

std::string string_of(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

zokio::task<zokio::result<void>> send(tcp_stream* s, std::string data) {
  co_return co_await s->write_all(bytes_of(data));
}

/// Sends `data` in chunks of 1 to `max_chunk` bytes (1: byte by byte), letting the reader run
/// between chunks, then half-closes.
zokio::task<zokio::result<void>> send_in_chunks(tcp_stream* s, std::string data,
                                                std::size_t max_chunk, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> size(1, max_chunk);
  for (std::size_t at = 0; at < data.size();) {
    const std::size_t n = std::min(size(rng), data.size() - at);
    const zokio::result<void> r =
        co_await s->write_all(bytes_of(std::string_view(data).substr(at, n)));
    if (!r.ok()) {
      co_return r;
    }
    at += n;
    co_await zokio::yield_now();
  }
  co_return co_await s->shutdown();
}

zokio::task<zokio::result<std::string>> read_line_of(reader* in) {
  co_return co_await in->read_line();
}

using body_fn = zokio::task<void> (*)(tcp_stream& server, tcp_stream& client);

zokio::task<void> with_pair(body_fn body) {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  CO_REQUIRE(l.ok());
  zokio::result<zokio::testing::pair_of_streams> p =
      co_await zokio::testing::connected_pair(&l.value());
  CO_REQUIRE(p.ok());
  CO_REQUIRE(p.value().client.set_nodelay(true).ok());
  co_await body(p.value().server, p.value().client);
}

/// Runs `body` with a connected pair on a one-worker runtime, then asserts a clean shutdown; once
/// as usual and once under force_async, where every await of the stream suspends (none completes
/// inline, as a read of bytes already received does otherwise).
void run(const char* what, body_fn body) {
  for (const bool force_async : {false, true}) {
    SCOPED_TRACE(force_async ? "force_async" : "default options");
    zokio::runtime rt{{.workers = 1, .force_async = force_async}};
    zokio::testing::block_on_within(rt, 30s, what, with_pair(body));
    zokio::testing::expect_clean_shutdown(rt);
  }
}

/// Lines of random lengths (0 to 300 bytes) and random endings ("\n" or "\r\n").
std::vector<std::string> random_lines(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> len(0, 300);
  std::uniform_int_distribution<int> ch('!', '~');
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < count; ++i) {
    std::string line(len(rng), ' ');
    for (char& c : line) {
      c = static_cast<char>(ch(rng));
    }
    lines.push_back(line);
  }
  return lines;
}

// --- lines ---------------------------------------------------------------------------------------

zokio::task<void> every_split_point(tcp_stream& server, tcp_stream& client) {
  // Every cut of these bytes between two reads, the CRLF cut in the middle included.
  const std::string text = "first line\r\nsecond\n\r\nlast\r\n";
  const std::vector<std::string> want = {"first line", "second", "", "last"};
  reader in(server, {.capacity = 4});
  for (std::size_t cut = 1; cut < text.size(); ++cut) {
    CO_REQUIRE((co_await send(&client, text.substr(0, cut))).ok());
    // Take in (some of) the first part before the rest is sent.
    const zokio::result<std::span<const std::byte>> first = co_await in.fill_buf();
    CO_REQUIRE(first.ok());
    CO_REQUIRE(!first.value().empty());
    CO_REQUIRE((co_await send(&client, text.substr(cut))).ok());
    for (const std::string& line : want) {
      const zokio::result<std::string> got = co_await in.read_line();
      CO_REQUIRE(got.ok());
      EXPECT_EQ(got.value(), line) << "cut at " << cut;
    }
    EXPECT_TRUE(in.buffered().empty()) << "cut at " << cut;
  }
}

TEST(buffered_reader, a_line_cut_at_every_byte_boundary_reads_whole) {
  run("lines cut at every byte", every_split_point);
}

template <std::size_t MaxChunk>
zokio::task<void> lines_in_chunks(tcp_stream& server, tcp_stream& client) {
  const std::vector<std::string> lines = random_lines(300, 7 + MaxChunk);
  std::string text;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    text += lines[i] + (i % 3 == 0 ? "\r\n" : "\n");
  }
  auto sending = zokio::spawn(send_in_chunks(&client, text, MaxChunk, 11));
  // A small capacity: the buffer refills often and grows for the long lines.
  reader in(server, {.capacity = 16, .max_line = 512});
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const zokio::result<std::string> got = co_await in.read_line();
    CO_REQUIRE(got.ok());
    EXPECT_EQ(got.value(), lines[i]) << "line " << i;
    EXPECT_LE(in.buffer_size(), 512u);
  }
  const zokio::result<std::string> end = co_await in.read_line();
  EXPECT_EQ(end.error(), zokio::io::error::eof);
  // GCC 12 cannot take `(co_await x).ok()` in a template: name the result first.
  const zokio::result<void> sent = co_await sending;
  EXPECT_TRUE(sent.ok());
}

TEST(buffered_reader, lines_sent_byte_by_byte) {
  run("300 lines sent byte by byte", lines_in_chunks<1>);
}

TEST(buffered_reader, lines_sent_in_random_chunks) {
  run("300 lines sent in random chunks", lines_in_chunks<37>);
}

zokio::task<void> many_lines_in_one_read(tcp_stream& server, tcp_stream& client) {
  std::string text;
  for (int i = 0; i < 1000; ++i) {
    text += "line " + std::to_string(i) + "\n";
  }
  CO_REQUIRE(text.size() < 16 * 1024);
  CO_REQUIRE((co_await send(&client, text)).ok());
  CO_REQUIRE((co_await client.shutdown()).ok());
  counting_stream counted{&server};
  buffered_reader in(counted, {.capacity = 16 * 1024});
  for (int i = 0; i < 1000; ++i) {
    const zokio::result<std::string> got = co_await in.read_line();
    CO_REQUIRE(got.ok());
    EXPECT_EQ(got.value(), "line " + std::to_string(i));
  }
  EXPECT_EQ((co_await in.read_line()).error(), zokio::io::error::eof);
  // The lines were served from the buffer, not one read each.
  EXPECT_LT(counted.m_reads, 100u);
}

TEST(buffered_reader, many_lines_in_one_read_are_served_from_the_buffer) {
  run("1000 lines", many_lines_in_one_read);
}

zokio::task<void> read_until_keeps_the_delimiter(tcp_stream& server, tcp_stream& client) {
  CO_REQUIRE((co_await send(&client, "a;bc;;d")).ok());
  CO_REQUIRE((co_await client.shutdown()).ok());
  reader in(server);
  EXPECT_EQ((co_await in.read_until(';')).value(), "a;");
  EXPECT_EQ((co_await in.read_until(';')).value(), "bc;");
  EXPECT_EQ((co_await in.read_until(';')).value(), ";");
  EXPECT_EQ((co_await in.read_until(';')).value(), "d"); // cut by the end of the stream
  EXPECT_EQ((co_await in.read_until(';')).error(), zokio::io::error::eof);
}

TEST(buffered_reader, read_until_includes_the_delimiter) {
  run("read_until", read_until_keeps_the_delimiter);
}

// --- limits --------------------------------------------------------------------------------------

zokio::task<void> line_at_the_limit(tcp_stream& server, tcp_stream& client) {
  constexpr std::size_t max_line = 1024;
  reader in(server, {.capacity = 64, .max_line = max_line});
  // Exactly max_line bytes, "\n" included: accepted.
  CO_REQUIRE((co_await send(&client, std::string(max_line - 1, 'a') + "\n")).ok());
  const zokio::result<std::string> exact = co_await in.read_line();
  CO_REQUIRE(exact.ok());
  EXPECT_EQ(exact.value(), std::string(max_line - 1, 'a'));
  // "\r\n" counts 2.
  CO_REQUIRE((co_await send(&client, std::string(max_line - 2, 'b') + "\r\n")).ok());
  const zokio::result<std::string> crlf = co_await in.read_line();
  CO_REQUIRE(crlf.ok());
  EXPECT_EQ(crlf.value(), std::string(max_line - 2, 'b'));
  // One byte more: message_size, and the bytes stay buffered, no more than the limit.
  CO_REQUIRE((co_await send(&client, std::string(max_line, 'c') + "\nok\n")).ok());
  const zokio::result<std::string> over = co_await in.read_line();
  EXPECT_EQ(over.error(), std::errc::message_size);
  EXPECT_LE(in.buffer_size(), max_line);
  EXPECT_EQ(in.buffered().size(), max_line);
  EXPECT_EQ((co_await in.read_line()).error(), std::errc::message_size)
      << "the line is still there";
  // Skipping the long line: drop what is buffered, then the rest of it up to its "\n".
  in.consume(in.buffered().size());
  EXPECT_EQ((co_await in.read_line()).value(), "");
  EXPECT_EQ((co_await in.read_line()).value(), "ok");
  // The grown buffer went back to the capacity once drained.
  EXPECT_LE(in.buffer_size(), 64u);
}

TEST(buffered_reader, a_line_at_the_limit_passes_and_one_byte_more_fails) {
  run("lines at the limit", line_at_the_limit);
}

zokio::task<void> endless_line(tcp_stream& server, tcp_stream& client) {
  // 32 MiB without a newline (more than the socket buffers take): the reader stops at its limit
  // and the writer is pushed back.
  auto flooding = zokio::spawn(send(&client, std::string(32 * 1024 * 1024, 'x')));
  reader in(server); // default limits: capacity 8 KiB, max_line 64 KiB
  const zokio::result<std::string> got = co_await in.read_line();
  EXPECT_EQ(got.error(), std::errc::message_size);
  EXPECT_LE(in.buffer_size(), 64u * 1024);
  EXPECT_EQ(in.buffered().size(), 64u * 1024);
  EXPECT_FALSE(flooding.is_finished()) << "the unread rest was not pushed back";
  // Cancelling the blocked write closes the sending side.
  flooding.cancel();
  EXPECT_EQ((co_await flooding).error(), std::errc::operation_canceled);
}

TEST(buffered_reader, an_endless_line_fails_with_bounded_memory) {
  run("a 32 MiB line", endless_line);
}

// --- end of stream -------------------------------------------------------------------------------

zokio::task<void> eof_mid_line(tcp_stream& server, tcp_stream& client) {
  CO_REQUIRE((co_await send(&client, "complete\r\npartial")).ok());
  CO_REQUIRE((co_await client.shutdown()).ok());
  reader in(server);
  EXPECT_EQ((co_await in.read_line()).value(), "complete");
  EXPECT_EQ((co_await in.read_line()).value(), "partial");
  const zokio::result<std::string> end = co_await in.read_line();
  EXPECT_EQ(end.error(), zokio::io::error::eof);
  EXPECT_EQ(end.error().message(), "end of stream");
  EXPECT_EQ((co_await in.read_line()).error(), zokio::io::error::eof) << "the end is sticky";
}

TEST(buffered_reader, eof_mid_line_returns_the_partial_line_then_eof) {
  run("EOF mid-line", eof_mid_line);
}

zokio::task<void> eof_clean(tcp_stream& server, tcp_stream& client) {
  CO_REQUIRE((co_await client.shutdown()).ok());
  reader in(server);
  const zokio::result<std::string> end = co_await in.read_line();
  EXPECT_EQ(end.error(), zokio::io::error::eof);
  EXPECT_NE(end.error(), std::errc::connection_reset);
  std::array<std::byte, 8> buf{};
  EXPECT_EQ((co_await in.read_some(buf)).value(), 0u);
  const zokio::result<std::span<const std::byte>> fill = co_await in.fill_buf();
  CO_REQUIRE(fill.ok());
  EXPECT_TRUE(fill.value().empty());
  EXPECT_EQ((co_await in.read_exact(1)).error(), zokio::io::error::eof);
}

TEST(buffered_reader, eof_with_nothing_buffered_is_eof) {
  run("a clean EOF", eof_clean);
}

// --- read_exact and read_some --------------------------------------------------------------------

std::string pattern(std::size_t n, std::size_t salt) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 31 + salt * 7 + i / 253) & 0xff);
  }
  return s;
}

zokio::task<void> exact_across_small_writes(tcp_stream& server, tcp_stream& client) {
  // Frames of a 4-byte length and a payload: small ones, and some larger than the reader's
  // max(capacity, max_line) that go straight to the caller's buffer.
  const std::vector<std::size_t> sizes = {0, 1, 3, 4, 100, 4096, 5000, 70000, 2, 200000, 9};
  std::string text;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto n = static_cast<std::uint32_t>(sizes[i]);
    text += std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                        static_cast<char>(n >> 8), static_cast<char>(n)};
    text += pattern(sizes[i], i);
  }
  auto sending = zokio::spawn(send_in_chunks(&client, text, 700, 3));
  reader in(server, {.capacity = 256, .max_line = 8 * 1024});
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    std::array<std::byte, 4> header{};
    CO_REQUIRE((co_await in.read_exact(header)).ok());
    const std::size_t n = (std::to_integer<std::size_t>(header[0]) << 24) |
                          (std::to_integer<std::size_t>(header[1]) << 16) |
                          (std::to_integer<std::size_t>(header[2]) << 8) |
                          std::to_integer<std::size_t>(header[3]);
    CO_REQUIRE(n == sizes[i]);
    const zokio::result<std::vector<std::byte>> payload = co_await in.read_exact(n);
    CO_REQUIRE(payload.ok());
    EXPECT_TRUE(string_of(payload.value()) == pattern(n, i)) << "frame " << i << " corrupted";
    EXPECT_LE(in.buffer_size(), 8u * 1024);
  }
  EXPECT_EQ((co_await in.read_exact(1)).error(), zokio::io::error::eof);
  EXPECT_TRUE((co_await sending).ok());
}

TEST(buffered_reader, read_exact_across_many_small_writes) {
  run("read_exact of frames", exact_across_small_writes);
}

zokio::task<void> exact_with_early_eof(tcp_stream& server, tcp_stream& client) {
  const std::string small = pattern(10, 1);
  const std::string large = pattern(70000, 2);
  CO_REQUIRE((co_await send(&client, small)).ok());
  reader in(server, {.capacity = 64, .max_line = 1024});
  // Through the buffer: 10 of 16 bytes come before the end; they stay buffered.
  std::array<std::byte, 16> sixteen{};
  EXPECT_EQ((co_await zokio::timeout(50ms, in.read_exact(sixteen))).error(), std::errc::timed_out)
      << "read_exact returned early";
  EXPECT_EQ(string_of(in.buffered()), small) << "the timed-out read_exact consumed bytes";
  CO_REQUIRE((co_await send(&client, large)).ok());
  CO_REQUIRE((co_await client.shutdown()).ok());
  // Straight into the caller's buffer (more than max(capacity, max_line)): 70010 of 100000.
  std::vector<std::byte> big(100000);
  EXPECT_EQ((co_await in.read_exact(big)).error(), zokio::io::error::eof);
  EXPECT_TRUE(string_of(in.buffered()) == small + large) << "bytes of a failed read_exact lost";
  EXPECT_TRUE(string_of(std::span(big).first(small.size() + large.size())) == small + large);
  // They can still be read, all but the last 100 bytes exactly.
  const zokio::result<std::vector<std::byte>> again = co_await in.read_exact(small.size());
  CO_REQUIRE(again.ok());
  EXPECT_EQ(string_of(again.value()), small);
  const zokio::result<std::vector<std::byte>> most = co_await in.read_exact(large.size() - 100);
  CO_REQUIRE(most.ok());
  EXPECT_TRUE(string_of(most.value()) == large.substr(0, large.size() - 100));
  // Through the buffer at the end of the stream: 100 of 200 bytes, which stay buffered.
  std::array<std::byte, 200> tail{};
  EXPECT_EQ((co_await in.read_exact(tail)).error(), zokio::io::error::eof);
  EXPECT_TRUE(string_of(in.buffered()) == large.substr(large.size() - 100));
  std::string rest;
  std::array<std::byte, 30> chunk{};
  for (;;) {
    const zokio::result<std::size_t> n = co_await in.read_some(chunk);
    CO_REQUIRE(n.ok());
    if (n.value() == 0) {
      break;
    }
    rest += string_of(std::span(chunk).first(n.value()));
  }
  EXPECT_TRUE(rest == large.substr(large.size() - 100));
  EXPECT_LE(in.buffer_size(), 1024u) << "the buffer grown for the failed read was kept";
}

TEST(buffered_reader, read_exact_with_early_eof_keeps_the_bytes_buffered) {
  run("read_exact at EOF", exact_with_early_eof);
}

// --- cancellation --------------------------------------------------------------------------------

zokio::task<void> cancelled_read_line(tcp_stream& server, tcp_stream& client) {
  reader in(server);
  CO_REQUIRE((co_await send(&client, "hel")).ok());
  auto waiting = zokio::spawn(read_line_of(&in));
  co_await zokio::sleep_for(20ms);
  CO_REQUIRE(!waiting.is_finished());
  waiting.cancel();
  EXPECT_EQ((co_await waiting).error(), std::errc::operation_canceled);
  EXPECT_EQ(string_of(in.buffered()), "hel") << "bytes the cancelled read took are gone";
  CO_REQUIRE((co_await send(&client, "lo\r")).ok());
  // A time limit is a cancellation too.
  EXPECT_EQ((co_await zokio::timeout(20ms, in.read_line())).error(), std::errc::timed_out);
  CO_REQUIRE((co_await send(&client, "\nworld\n")).ok());
  EXPECT_EQ((co_await in.read_line()).value(), "hello");
  EXPECT_EQ((co_await in.read_line()).value(), "world");
}

TEST(buffered_reader, a_cancelled_read_line_loses_nothing) {
  run("a cancelled read_line", cancelled_read_line);
}

zokio::task<void> concurrent_operations(tcp_stream& server, tcp_stream& client) {
  reader in(server);
  auto waiting = zokio::spawn(read_line_of(&in));
  co_await zokio::sleep_for(10ms);
  CO_REQUIRE(!waiting.is_finished());
  bool threw = false;
  try {
    (void)co_await in.read_line();
  } catch (const std::logic_error&) {
    threw = true;
  }
  EXPECT_TRUE(threw) << "a second concurrent read_line was accepted";
  CO_REQUIRE((co_await send(&client, "one\n")).ok());
  EXPECT_EQ((co_await waiting).value(), "one");
}

TEST(buffered_reader, a_second_concurrent_operation_throws_logic_error) {
  run("concurrent read_line", concurrent_operations);
}

// --- ownership -----------------------------------------------------------------------------------

zokio::task<void> owned_stream(tcp_stream& server, tcp_stream& client) {
  CO_REQUIRE((co_await send(&client, "one\ntwo\n")).ok());
  buffered_reader in(std::move(server)); // an rvalue: the reader owns the stream
  static_assert(std::is_same_v<decltype(in), buffered_reader<tcp_stream>>);
  EXPECT_FALSE(server.is_open()) << "the reader did not take the stream";
  EXPECT_EQ((co_await in.read_line()).value(), "one");
  // A writer can borrow the reader's stream.
  buffered_writer out(in.get());
  CO_REQUIRE((co_await out.write("reply\n")).ok());
  CO_REQUIRE((co_await out.flush()).ok());
  buffered_reader back(client);
  EXPECT_EQ((co_await back.read_line()).value(), "reply");
  // into_inner gives the stream back; the buffered bytes are the caller's to take first.
  EXPECT_EQ(string_of(in.buffered()), "two\n");
  tcp_stream again = std::move(in).into_inner();
  EXPECT_TRUE(again.is_open());
}

TEST(buffered_reader, owns_a_moved_stream_and_gives_it_back) {
  run("an owning reader", owned_stream);
}

// --- writer --------------------------------------------------------------------------------------

zokio::task<zokio::result<std::string>> read_n(tcp_stream* s, std::size_t n) {
  buffered_reader in(*s);
  zokio::result<std::vector<std::byte>> got = co_await in.read_exact(n);
  if (!got.ok()) {
    co_return got.error();
  }
  co_return string_of(got.value());
}

/// Writes `payload` through `out` in writes of 1 to 300 bytes, every tenth of 8 to 100 KiB, and
/// a last one of at most 100 bytes, then flushes. Counts the writes in `*writes`.
template <typename Writer>
zokio::task<bool> write_in_pieces(Writer* out, const std::string* payload, std::size_t* writes) {
  std::mt19937 rng(17);
  std::uniform_int_distribution<std::size_t> small(1, 300);
  std::uniform_int_distribution<std::size_t> large(8 * 1024, 100 * 1024);
  const std::size_t last = payload->size() - 100;
  for (std::size_t at = 0; at < payload->size(); ++*writes) {
    const std::size_t n = at >= last
                              ? payload->size() - at
                              : std::min(*writes % 10 == 9 ? large(rng) : small(rng), last - at);
    const zokio::result<void> r = co_await out->write(std::string_view(*payload).substr(at, n));
    if (!r.ok()) {
      co_return false;
    }
    at += n;
  }
  EXPECT_FALSE(out->buffered().empty()) << "the last writes are small: they wait for the flush";
  const zokio::result<void> flushed = co_await out->flush();
  EXPECT_TRUE(out->buffered().empty());
  co_return flushed.ok();
}

/// 1 MiB through a buffered_writer, checked byte for byte; the stream is a tcp_stream
/// (two-buffer writev) or a counting_stream (one buffer at a time).
template <bool Counted>
zokio::task<void> large_flush(tcp_stream& server, tcp_stream& client) {
  const std::string payload = pattern(1024 * 1024, 5);
  auto receiving = zokio::spawn(read_n(&server, payload.size()));
  counting_stream counted{&client};
  std::size_t writes = 0;
  bool ok = false;
  if constexpr (Counted) {
    buffered_writer out(counted);
    ok = co_await write_in_pieces(&out, &payload, &writes);
  } else {
    buffered_writer out(client);
    ok = co_await write_in_pieces(&out, &payload, &writes);
  }
  EXPECT_TRUE(ok);
  const zokio::result<std::string> got = co_await receiving;
  CO_REQUIRE(got.ok());
  EXPECT_TRUE(got.value() == payload) << "the bytes arrived changed or out of order";
  if constexpr (Counted) {
    // Small writes were gathered: far fewer writes reached the stream.
    EXPECT_LT(counted.m_writes, writes / 4);
    EXPECT_GT(counted.m_writes, 0u);
  }
}

TEST(buffered_writer, flush_keeps_the_order_of_one_mib) {
  run("1 MiB through a buffered_writer", large_flush<false>);
}

TEST(buffered_writer, flush_keeps_the_order_of_one_mib_one_buffer_at_a_time) {
  run("1 MiB through a buffered_writer on a counting stream", large_flush<true>);
}

zokio::task<void> write_after_peer_closed(tcp_stream& server, tcp_stream& client) {
  server.close();
  writer out(client, {.capacity = 1024});
  // A write that fits only fills the buffer; the broken connection shows when bytes go out.
  // The first of them may still reach the kernel before the peer's reset comes back.
  const std::string chunk(700, 'z');
  std::error_code failed;
  for (int i = 0; i < 2000 && !failed; ++i) {
    zokio::result<void> r = co_await out.write(chunk);
    if (r.ok()) {
      r = co_await out.flush();
    }
    failed = r.error();
    if (!failed) {
      co_await zokio::sleep_for(1ms);
    }
  }
  EXPECT_TRUE(failed == std::errc::broken_pipe || failed == std::errc::connection_reset ||
              failed == std::errc::connection_aborted)
      << "writing to a closed peer gave: " << failed.message();
  EXPECT_TRUE(out.buffered().empty()) << "a failed flush empties the buffer";
  // And again, without a crash.
  EXPECT_FALSE((co_await out.write(std::string(5000, 'y'))).ok());
}

TEST(buffered_writer, writing_to_a_closed_peer_gives_an_error_value) {
  run("writes to a closed peer", write_after_peer_closed);
}

zokio::task<zokio::result<void>> write_through(writer* out, const std::string* data) {
  co_return co_await out->write(*data);
}

zokio::task<void> cancelled_write(tcp_stream& server, tcp_stream& client) {
  // The peer never reads: a large write blocks once the socket buffers are full.
  writer out(client);
  CO_REQUIRE((co_await out.write("header\n")).ok());
  EXPECT_EQ(string_of(out.buffered()), "header\n");
  const std::string big(32 * 1024 * 1024, 'w');
  auto writing = zokio::spawn(write_through(&out, &big));
  co_await zokio::sleep_for(20ms);
  CO_REQUIRE(!writing.is_finished());
  writing.cancel();
  EXPECT_EQ((co_await writing).error(), std::errc::operation_canceled);
  // As tcp_stream's write_all: how much reached the peer is unknown, so the stream is closed and
  // the buffer emptied.
  EXPECT_TRUE(out.buffered().empty());
  EXPECT_FALSE(client.is_open());
  EXPECT_EQ((co_await out.write(big)).error(), std::errc::bad_file_descriptor);
  (void)server;
}

TEST(buffered_writer, a_cancelled_write_closes_the_stream_and_empties_the_buffer) {
  run("a cancelled write", cancelled_write);
}

} // namespace
