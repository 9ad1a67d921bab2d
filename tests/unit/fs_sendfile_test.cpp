#include <zokio/fs/sendfile.hpp>

#include <zokio/net/tcp_listener.hpp>

#include "loopback.hpp"
#include "temp_dir.hpp"
#include "zokio_test.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

// fs::sendfile over real loopback sockets from a temp file: every byte checked, the EAGAIN
// fallback made to run, offsets and the end of the file, errors, and cancellation (the request
// in flight is waited for, nothing leaks, the runtime shuts down clean).

using namespace std::chrono_literals;
using zokio::fs::file;
using zokio::net::tcp_listener;
using zokio::net::tcp_stream;

namespace {

using zokio::testing::connected_pair;
using zokio::testing::pair_of_streams;

using zokio::testing::baseline_fds;
using zokio::testing::open_fds;
using zokio::testing::temp_dir;

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x >> 32);
  }
  return s;
}

/// Writes `data` to a new file at `path` (before the runtime starts: plain blocking I/O).
void write_plain(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

/// Reads `s` until EOF (or an error, when `tolerate_errors`), `chunk` bytes at a time with
/// `pause` between reads, and returns what it read.
zokio::task<zokio::result<std::string>>
read_all(tcp_stream s, std::size_t chunk, std::chrono::milliseconds pause, bool tolerate_errors) {
  std::string got;
  std::vector<std::byte> buf(chunk);
  for (;;) {
    const zokio::result<std::size_t> n = co_await s.read_some(buf);
    if (!n.ok()) {
      if (tolerate_errors) {
        break;
      }
      co_return n.error();
    }
    if (n.value() == 0) {
      break;
    }
    got.append(reinterpret_cast<const char*>(buf.data()), n.value());
    if (pause.count() > 0) {
      co_await zokio::sleep_for(pause);
    }
  }
  co_return got;
}

zokio::task<zokio::result<file>> open_read(std::string path) {
  co_return co_await file::open(std::move(path), zokio::fs::open_flags::read);
}

/// Where two strings first differ, for a readable failure.
std::string first_difference(const std::string& got, const std::string& want) {
  if (got.size() != want.size()) {
    return "got " + std::to_string(got.size()) + " bytes, want " + std::to_string(want.size());
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      return "bytes differ at " + std::to_string(i);
    }
  }
  return "";
}

// --- a whole file
// ---------------------------------------------------------------------------------

zokio::task<std::string> send_whole(std::string path, const std::string* data,
                                    std::chrono::milliseconds pause, std::size_t read_chunk,
                                    int small_buffers) {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind failed";
  }
  zokio::result<pair_of_streams> p = co_await connected_pair(&l.value());
  if (!p.ok()) {
    co_return "pair: " + p.error().message();
  }
  tcp_stream& client = p.value().client;
  if (small_buffers > 0) {
    // Small socket buffers (and no autotuning) fill at once: sendfile meets EAGAIN.
    const int size = small_buffers;
    if (::setsockopt(client.native_handle(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0 ||
        ::setsockopt(p.value().server.native_handle(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size) !=
            0) {
      co_return "setsockopt failed";
    }
  }
  auto reader = zokio::spawn(read_all(std::move(p.value().server), read_chunk, pause, false));

  zokio::result<file> f = co_await open_read(path);
  if (!f.ok()) {
    co_return "open: " + f.error().message();
  }
  const zokio::result<std::uint64_t> sent =
      co_await zokio::fs::sendfile(f.value(), client, 0, data->size());
  if (!sent.ok()) {
    co_return "sendfile: " + sent.error().message();
  }
  if (sent.value() != data->size()) {
    co_return "sendfile returned " + std::to_string(sent.value());
  }
  if (!(co_await client.shutdown()).ok()) {
    co_return "shutdown failed";
  }
  const zokio::result<std::string> got = co_await reader;
  if (!got.ok()) {
    co_return "reader: " + got.error().message();
  }
  co_return first_difference(got.value(), *data);
}

TEST(fs_sendfile, sends_32_mib_and_every_byte_arrives) {
  temp_dir dir;
  const std::string data = pattern(32u << 20, 1);
  write_plain(dir.file("big"), data);
  const zokio::detail::sendfile_counters before = zokio::detail::sendfile_stats();
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(send_whole(dir.file("big"), &data, 0ms, 256 * 1024, 0)), "");
  const zokio::detail::sendfile_counters after = zokio::detail::sendfile_stats();
  EXPECT_GT(after.requests, before.requests);
  EXPECT_GT(after.bytes_zero_copy, before.bytes_zero_copy); // not all of it went the copying way
  EXPECT_EQ(after.bytes_zero_copy + after.bytes_copied -
                (before.bytes_zero_copy + before.bytes_copied),
            data.size());
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(fs_sendfile, slow_reader_makes_it_fall_back_and_wait_for_the_socket) {
  temp_dir dir;
  const std::string data = pattern(256u << 10, 2);
  write_plain(dir.file("slow"), data);
  const zokio::detail::sendfile_counters before = zokio::detail::sendfile_stats();
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(send_whole(dir.file("slow"), &data, 1ms, 8 * 1024, 8 * 1024)), "");
  const zokio::detail::sendfile_counters after = zokio::detail::sendfile_stats();
  EXPECT_GT(after.fallback_chunks, before.fallback_chunks); // the EAGAIN path ran
  EXPECT_GT(after.bytes_zero_copy, before.bytes_zero_copy); // and sendfile resumed after it
  EXPECT_EQ(after.bytes_zero_copy + after.bytes_copied -
                (before.bytes_zero_copy + before.bytes_copied),
            data.size());
  zokio::testing::expect_clean_shutdown(rt);
}

// --- ranges, the end of the file, errors ---------------------------------------------------------

zokio::task<std::string> ranges(std::string path, const std::string* data) {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind failed";
  }
  zokio::result<pair_of_streams> p = co_await connected_pair(&l.value());
  if (!p.ok()) {
    co_return "pair: " + p.error().message();
  }
  tcp_stream& client = p.value().client;
  auto reader = zokio::spawn(read_all(std::move(p.value().server), 64 * 1024, 0ms, false));
  zokio::result<file> opened = co_await open_read(path);
  if (!opened.ok()) {
    co_return "open: " + opened.error().message();
  }
  file& f = opened.value();
  const std::uint64_t size = data->size();
  std::string want;

  struct step {
    std::uint64_t offset;
    std::uint64_t length;
    std::uint64_t expect;
  };
  const step steps[] = {
      {1000, 5000, 5000},                                       // the middle
      {size - 100, 1000, 100},                                  // past the end: what exists
      {size, 10, 0},                                            // at the end
      {size + 10, 50, 0},                                       // past the end
      {12345, 0, 0},                                            // nothing asked
      {7, std::numeric_limits<std::uint64_t>::max(), size - 7}, // "the rest of the file"
      {std::numeric_limits<std::uint64_t>::max() - 5, 100, 0},  // an offset off_t cannot hold
  };
  for (const step& s : steps) {
    const zokio::result<std::uint64_t> r =
        co_await zokio::fs::sendfile(f, client, s.offset, s.length);
    if (s.offset > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      if (r.error() != std::errc::invalid_argument) {
        co_return "a huge offset did not give invalid_argument";
      }
      continue;
    }
    if (!r.ok()) {
      co_return "sendfile(" + std::to_string(s.offset) + "): " + r.error().message();
    }
    if (r.value() != s.expect) {
      co_return "sendfile(" + std::to_string(s.offset) + ", " + std::to_string(s.length) +
          ") returned " + std::to_string(r.value());
    }
    if (s.expect > 0) {
      want += data->substr(s.offset, s.expect);
    }
  }

  // Closed objects: bad_file_descriptor, and nothing is sent.
  file closed;
  if ((co_await zokio::fs::sendfile(closed, client, 0, 10)).error() !=
      std::errc::bad_file_descriptor) {
    co_return "a closed file did not give bad_file_descriptor";
  }
  tcp_stream unconnected;
  if ((co_await zokio::fs::sendfile(f, unconnected, 0, 10)).error() !=
      std::errc::bad_file_descriptor) {
    co_return "a closed stream did not give bad_file_descriptor";
  }

  if (!(co_await client.shutdown()).ok()) {
    co_return "shutdown failed";
  }
  const zokio::result<std::string> got = co_await reader;
  if (!got.ok()) {
    co_return "reader: " + got.error().message();
  }
  co_return first_difference(got.value(), want);
}

TEST(fs_sendfile, offset_and_length_pick_a_range_and_stop_at_the_end) {
  temp_dir dir;
  const std::string data = pattern((1u << 20) + 123, 3);
  write_plain(dir.file("ranges"), data);
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(ranges(dir.file("ranges"), &data)), "");
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(fs_sendfile, every_await_suspends_under_force_async) {
  temp_dir dir;
  const std::string data = pattern((1u << 20) + 123, 4);
  write_plain(dir.file("forced"), data);
  zokio::runtime rt{{.workers = 1, .force_async = true}};
  EXPECT_EQ(rt.block_on(ranges(dir.file("forced"), &data)), "");
  // What force_async promises, checked on the counters: awaits happened, none completed inline,
  // every one suspended (or failed as cancelled), and each suspension was resumed once.
  const zokio::runtime_stats s = rt.stats();
  EXPECT_GT(s.awaits, 0u);
  EXPECT_EQ(s.awaits_inline, 0u);
  EXPECT_EQ(s.sync_fallbacks, 0u);
  EXPECT_EQ(s.awaits, s.awaits_suspended + s.awaits_cancelled);
  EXPECT_EQ(s.resumes_from_loop + s.resumes_from_task + s.resumes_cross_thread, s.awaits_suspended);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- cancellation --------------------------------------------------------------------------------

zokio::task<zokio::result<std::uint64_t>> send_task(file* f, tcp_stream* s, std::uint64_t n) {
  co_return co_await zokio::fs::sendfile(*f, *s, 0, n);
}

/// Cancels a sendfile after `delay`, with a peer that reads (`reading`) or never does.
zokio::task<std::string> cancel_once(std::string path, std::uint64_t size,
                                     std::chrono::milliseconds delay, bool reading,
                                     int* cancelled) {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind failed";
  }
  zokio::result<pair_of_streams> p = co_await connected_pair(&l.value());
  if (!p.ok()) {
    co_return "pair: " + p.error().message();
  }
  tcp_stream& client = p.value().client;
  tcp_stream& server = p.value().server;
  zokio::join_handle<zokio::result<std::string>> reader;
  if (reading) {
    reader = zokio::spawn(read_all(std::move(server), 256 * 1024, 0ms, true));
  }
  zokio::result<file> f = co_await open_read(path);
  if (!f.ok()) {
    co_return "open: " + f.error().message();
  }
  auto h = zokio::spawn(send_task(&f.value(), &client, size));
  if (delay.count() > 0) {
    co_await zokio::sleep_for(delay);
  } else {
    co_await zokio::yield_now();
  }
  if (!reading && h.is_finished()) {
    co_return "the transfer did not block on a peer that never reads";
  }
  h.cancel();
  const zokio::result<std::uint64_t> r = co_await h;
  if (r.ok()) {
    if (r.value() != size) {
      co_return "finished with " + std::to_string(r.value()) + " bytes";
    }
  } else if (r.error() != std::errc::operation_canceled) {
    co_return "cancelled sendfile gave: " + r.error().message();
  } else {
    ++*cancelled;
    if (client.is_open()) {
      co_return "the stream is still open after a cancelled sendfile";
    }
  }
  client.close();
  if (reading) {
    (void)co_await reader; // EOF or reset: the stream was closed under it
  }
  co_return "";
}

TEST(fs_sendfile, cancelling_returns_operation_canceled_and_leaks_nothing) {
  temp_dir dir;
  const std::uint64_t size = 32u << 20;
  write_plain(dir.file("cancel"), pattern(size, 5));
  const std::size_t fds = baseline_fds();
  {
    zokio::runtime rt{{.workers = 1}};
    int cancelled = 0;
    // A peer that never reads: the transfer blocks once the socket buffers are full.
    EXPECT_EQ(rt.block_on(cancel_once(dir.file("cancel"), size, 50ms, false, &cancelled)), "");
    EXPECT_EQ(cancelled, 1);
    // A peer that reads: the cancellation lands wherever the transfer is, often on a sendfile
    // request that a pool thread runs (it is waited for).
    const zokio::detail::sendfile_counters before = zokio::detail::sendfile_stats();
    for (int i = 0; i < 8; ++i) {
      EXPECT_EQ(rt.block_on(cancel_once(dir.file("cancel"), size, std::chrono::milliseconds(i),
                                        true, &cancelled)),
                "")
          << "delay " << i << " ms";
    }
    EXPECT_GT(zokio::detail::sendfile_stats().requests, before.requests);
    EXPECT_GE(cancelled, 2);
    zokio::testing::expect_clean_shutdown(rt);
  }
  EXPECT_EQ(open_fds(), fds); // the duplicated descriptors were closed too
}

} // namespace
