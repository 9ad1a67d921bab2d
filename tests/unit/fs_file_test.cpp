#include <zokio/fs/file.hpp>

#include <zokio/fs/read_file.hpp>
#include <zokio/fs/write_file.hpp>
#include <zokio/net/udp.hpp>

#include "temp_dir.hpp"
#include "zokio_test.hpp"

#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using zokio::testing::baseline_fds;
using zokio::testing::fd_targets;
using zokio::testing::open_fds;
using zokio::testing::temp_dir;

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

zokio::task<bool> write_then_read(std::string path, std::size_t n) {
  const std::string data = pattern(n, 7);
  zokio::result<void> w = co_await zokio::fs::write_file(path, data);
  EXPECT_TRUE(w.ok()) << w.error().message();
  zokio::result<std::string> r = co_await zokio::fs::read_file(path);
  EXPECT_TRUE(r.ok()) << r.error().message();
  co_return r.ok() && *r == data;
}

TEST(fs_file, write_then_read_10_mib) {
  temp_dir dir;
  const std::size_t fds = baseline_fds();
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(write_then_read(dir.file("big"), 10u << 20)));
  EXPECT_TRUE(rt.block_on(write_then_read(dir.file("empty"), 0)));
  EXPECT_EQ(std::filesystem::file_size(dir.file("big")), 10u << 20);
  zokio::testing::expect_clean_shutdown(rt);
  EXPECT_EQ(open_fds(), fds) << fd_targets();
}

zokio::task<void> offsets(std::string path) {
  using zokio::fs::open_flags;
  zokio::result<zokio::fs::file> opened = co_await zokio::fs::file::open(
      path, open_flags::read_write | open_flags::create | open_flags::truncate, 0600);
  EXPECT_TRUE(opened.ok());
  zokio::fs::file f = std::move(opened).value();
  EXPECT_TRUE(f.is_open());

  const std::string a = "hello", b = "world";
  zokio::result<std::size_t> n = co_await f.write_at(std::as_bytes(std::span(a)), 0);
  EXPECT_EQ(*n, 5u);
  n = co_await f.write_at(std::as_bytes(std::span(b)), 100); // leaves a hole of zeros
  EXPECT_EQ(*n, 5u);
  EXPECT_TRUE((co_await f.fsync()).ok());
  EXPECT_EQ((co_await f.size()).value(), 105u);

  std::string buf(5, '?');
  n = co_await f.read_at(std::as_writable_bytes(std::span(buf)), 100);
  EXPECT_EQ(*n, 5u);
  EXPECT_EQ(buf, "world");
  n = co_await f.read_at(std::as_writable_bytes(std::span(buf)), 3);
  EXPECT_EQ(*n, 5u);
  EXPECT_EQ(buf, std::string("lo\0\0\0", 5));
  n = co_await f.read_at(std::as_writable_bytes(std::span(buf)), 102); // a short read at the end
  EXPECT_EQ(*n, 3u);
  n = co_await f.read_at(std::as_writable_bytes(std::span(buf)), 105); // at the end
  EXPECT_EQ(*n, 0u);

  EXPECT_TRUE((co_await f.close()).ok());
  EXPECT_FALSE(f.is_open());
  EXPECT_TRUE((co_await f.close()).ok()); // closing twice is fine
  zokio::result<std::size_t> closed = co_await f.read_at(std::as_writable_bytes(std::span(buf)), 0);
  EXPECT_EQ(closed.error(), std::errc::bad_file_descriptor);

  zokio::result<zokio::fs::file> again = co_await zokio::fs::file::open(
      path, open_flags::write | open_flags::create | open_flags::exclusive);
  EXPECT_EQ(again.error(), std::errc::file_exists);
}

TEST(fs_file, read_at_and_write_at_use_their_offsets) {
  temp_dir dir;
  const std::size_t fds = baseline_fds();
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(offsets(dir.file("f")));
  zokio::testing::expect_clean_shutdown(rt);
  EXPECT_EQ(open_fds(), fds) << fd_targets();
}

zokio::task<void> huge_offsets(std::string path) {
  using zokio::fs::open_flags;
  EXPECT_TRUE((co_await zokio::fs::write_file(path, "abcdefgh")).ok());
  zokio::result<zokio::fs::file> f = co_await zokio::fs::file::open(path, open_flags::read_write);
  EXPECT_TRUE(f.ok());
  if (!f.ok()) {
    co_return;
  }
  // Offsets that do not fit an off_t (libuv would take them, as negative numbers, for "use the
  // file position") fail before anything is read or written.
  std::string buf(8, '-');
  const auto read_buf = std::as_writable_bytes(std::span(buf));
  const zokio::result<std::size_t> r = co_await f->read_at(read_buf, std::uint64_t{1} << 63);
  EXPECT_EQ(r.error(), std::errc::invalid_argument);
  EXPECT_EQ(buf, "--------");
  const std::string zz = "zz";
  const auto zz_bytes = std::as_bytes(std::span(zz));
  EXPECT_EQ((co_await f->write_at(zz_bytes, UINT64_MAX)).error(), std::errc::invalid_argument);
  EXPECT_EQ((co_await f->write_at(zz_bytes, std::uint64_t{1} << 63)).error(),
            std::errc::invalid_argument);
  // A large offset that fits is fine: past the end, nothing to read.
  const zokio::result<std::size_t> last = co_await f->read_at(read_buf, std::uint64_t{1} << 40);
  EXPECT_TRUE(last.ok() && last.value() == 0);
  EXPECT_EQ(::lseek(f->native_handle(), 0, SEEK_CUR), 0); // the position never moved
  EXPECT_TRUE((co_await f->close()).ok());
  const zokio::result<std::string> after = co_await zokio::fs::read_file(path);
  EXPECT_TRUE(after.ok() && after.value() == "abcdefgh");
}

TEST(fs_file, offsets_above_int64_max_are_rejected_and_change_nothing) {
  temp_dir dir;
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(huge_offsets(dir.file("f")));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> missing(std::string path) {
  zokio::result<std::string> r = co_await zokio::fs::read_file(path);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error(), std::errc::no_such_file_or_directory);
  zokio::result<zokio::fs::file> f = co_await zokio::fs::file::open(path);
  EXPECT_EQ(f.error(), std::errc::no_such_file_or_directory);
  EXPECT_THROW(f.value(), std::system_error);
  zokio::result<void> w = co_await zokio::fs::write_file(path + "/nope/x", "data");
  EXPECT_EQ(w.error(), std::errc::no_such_file_or_directory);
}

TEST(fs_file, a_missing_file_is_no_such_file_or_directory) {
  temp_dir dir;
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(missing(dir.file("missing")));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<zokio::result<std::string>> read_one(std::string path) {
  co_return co_await zokio::fs::read_file(path);
}

zokio::task<void> cancel_reads(std::string path, std::string expected, std::size_t* cancelled,
                               std::size_t* completed) {
  // Many reads at once: when they are cancelled some wait for a pool thread (libuv drops those),
  // some run on one (they are waited for and their result discarded), some are done.
  std::vector<zokio::join_handle<zokio::result<std::string>>> hs;
  for (int i = 0; i < 32; ++i) {
    hs.push_back(zokio::spawn(read_one(path)));
  }
  co_await zokio::yield_now();
  // Half at once, the others a little apart, so that reads are caught at every stage.
  for (std::size_t i = 0; i < hs.size(); ++i) {
    hs[i].cancel();
    if (i >= hs.size() / 2) {
      co_await zokio::sleep_for(100us);
    }
  }
  for (auto& h : hs) {
    try {
      zokio::result<std::string> r = co_await h;
      if (r.ok()) {
        EXPECT_EQ(*r, expected);
        ++*completed;
      } else {
        EXPECT_EQ(r.error(), std::errc::operation_canceled) << r.error().message();
        ++*cancelled;
      }
    } catch (const zokio::operation_cancelled&) {
      ++*cancelled; // cancelled before it started
    }
  }
}

TEST(fs_file, a_cancelled_read_is_canceled_or_completes_and_leaks_nothing) {
  temp_dir dir;
  const std::string data = pattern(1u << 20, 3);
  {
    zokio::runtime rt{{.workers = 1}};
    EXPECT_TRUE(rt.block_on(zokio::fs::write_file(dir.file("f"), data)).ok());
    zokio::testing::expect_clean_shutdown(rt);
  }
  const std::size_t fds = baseline_fds();
  std::size_t cancelled = 0, completed = 0;
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(cancel_reads(dir.file("f"), data, &cancelled, &completed));
  EXPECT_EQ(cancelled + completed, 32u);
  EXPECT_GT(cancelled, 0u);
  zokio::testing::expect_clean_shutdown(rt);
  EXPECT_EQ(open_fds(), fds) << fd_targets(); // files opened by discarded requests were closed too
}

zokio::task<void> read_forever(std::string path, std::atomic<int>* reads) {
  for (;;) {
    zokio::result<std::string> r = co_await zokio::fs::read_file(path);
    if (!r.ok()) {
      EXPECT_EQ(r.error(), std::errc::operation_canceled);
      co_return;
    }
    ++*reads;
  }
}

zokio::task<void> start_reader(std::string path, std::atomic<int>* reads) {
  zokio::spawn_on(1, read_forever(std::move(path), reads)).detach();
  co_return;
}

TEST(fs_file, shutdown_cancels_a_task_reading_files) {
  temp_dir dir;
  const std::size_t fds = baseline_fds();
  std::atomic<int> reads{0};
  zokio::runtime rt{{.workers = 2}};
  rt.block_on(zokio::fs::write_file(dir.file("f"), pattern(256u << 10, 5))).value();
  rt.block_on(start_reader(dir.file("f"), &reads)); // worker 1 reads on its own thread
  // Bounded: a runtime that never runs the reader fails here in seconds, not at ctest's timeout.
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (reads.load() < 3 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_GE(reads.load(), 3) << "worker 1 never read the file three times in 10 s";
  zokio::testing::expect_clean_shutdown(rt);
  EXPECT_EQ(open_fds(), fds) << fd_targets();
}

zokio::task<void> udp_and_files(std::string path) {
  EXPECT_TRUE((co_await zokio::fs::write_file(path, "force async")).ok());
  zokio::result<std::string> r = co_await zokio::fs::read_file(path);
  EXPECT_EQ(*r, "force async");
  zokio::fs::file f = (co_await zokio::fs::file::open(path)).value();
  std::string buf(5, '?');
  EXPECT_EQ((co_await f.read_at(std::as_writable_bytes(std::span(buf)), 6)).value(), 5u);
  EXPECT_EQ(buf, "async");
  EXPECT_TRUE((co_await f.close()).ok());
  EXPECT_TRUE((co_await f.close()).ok()); // no request at all, and still through the loop

  auto a = zokio::net::udp_socket::bind("127.0.0.1", 0).value();
  auto b = zokio::net::udp_socket::bind("127.0.0.1", 0).value();
  const std::string msg = "ping";
  EXPECT_EQ(
      (co_await a.send_to(std::as_bytes(std::span(msg)), "127.0.0.1", b.local_port())).value(), 4u);
  std::string in(16, '\0');
  zokio::result<zokio::net::datagram_info> got =
      co_await b.recv_from(std::as_writable_bytes(std::span(in)));
  EXPECT_EQ(got->size, 4u);
  EXPECT_EQ(in.substr(0, 4), "ping");
  EXPECT_EQ(got->port, a.local_port());
}

TEST(fs_file, force_async_files_and_udp_never_complete_inline) {
  temp_dir dir;
  zokio::runtime rt{{.workers = 1, .force_async = true}};
  rt.block_on(udp_and_files(dir.file("f")));
  const zokio::runtime_stats s = rt.stats();
  EXPECT_GT(s.awaits, 10u);
  EXPECT_EQ(s.awaits_inline, 0u);
  EXPECT_EQ(s.sync_fallbacks, 0u);
  EXPECT_EQ(s.awaits_suspended, s.awaits);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> occupy_pool(std::chrono::milliseconds d) {
  co_await zokio::spawn_blocking([d] { std::this_thread::sleep_for(d); });
}

zokio::task<std::chrono::steady_clock::duration> read_while_pool_busy(std::string path,
                                                                      unsigned jobs) {
  std::vector<zokio::join_handle<void>> hs;
  for (unsigned i = 0; i < jobs; ++i) {
    hs.push_back(zokio::spawn(occupy_pool(500ms)));
  }
  co_await zokio::sleep_for(20ms); // every job has reached a pool thread (or its queue)
  const auto start = std::chrono::steady_clock::now();
  zokio::result<std::string> r = co_await zokio::fs::read_file(path);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(*r, "not starved");
  for (auto& h : hs) {
    co_await h;
  }
  co_return took;
}

// spawn_blocking jobs run on a pool of their own, so more long jobs than libuv's pool has
// threads (UV_THREADPOOL_SIZE, 4 by default) cannot hold file requests back.
TEST(fs_file, file_io_is_not_starved_by_blocking_jobs) {
  temp_dir dir;
  unsigned uv_pool = 4;
  if (const char* env = std::getenv("UV_THREADPOOL_SIZE")) {
    uv_pool = static_cast<unsigned>(std::atoi(env));
  }
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(zokio::fs::write_file(dir.file("f"), "not starved")).value();
  const auto took = rt.block_on(read_while_pool_busy(dir.file("f"), uv_pool + 1));
  // Queued behind the jobs it would take at least 480 ms.
  EXPECT_LT(took, 200ms);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace

namespace {

zokio::task<void> occupy(std::chrono::milliseconds d) {
  co_await zokio::spawn_blocking([d] { std::this_thread::sleep_for(d); });
}

zokio::task<zokio::result<zokio::fs::file>> open_one(std::string path) {
  co_return co_await zokio::fs::file::open(std::move(path));
}

/// Opens run on the blocking pool: with its one thread busy, an open waits in the queue, and
/// cancelling it drops it from there at once instead of waiting for the thread.
zokio::task<bool> cancel_queued_open(std::string path) {
  auto busy = zokio::spawn(occupy(300ms));
  co_await zokio::sleep_for(20ms); // the job holds the pool's only thread
  const auto start = std::chrono::steady_clock::now();
  auto opening = zokio::spawn(open_one(path));
  co_await zokio::sleep_for(10ms);
  opening.cancel();
  const zokio::result<zokio::fs::file> f = co_await opening;
  const auto took = std::chrono::steady_clock::now() - start;
  co_await busy;
  EXPECT_LT(took, 250ms) << "the cancelled open waited for the busy thread";
  co_return !f.ok() && f.error() == std::errc::operation_canceled;
}

TEST(fs_file, a_cancelled_open_still_queued_is_dropped_at_once) {
  temp_dir dir;
  std::FILE* f = std::fopen(dir.file("f").c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  zokio::runtime rt{{.workers = 1, .max_blocking_threads = 1}};
  EXPECT_TRUE(rt.block_on(cancel_queued_open(dir.file("f"))));
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
