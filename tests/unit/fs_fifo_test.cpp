#include <zokio/fs/read_file.hpp>

#include <zokio/fs/file.hpp>
#include <zokio/fs/sendfile.hpp>
#include <zokio/fs/write_file.hpp>

#include "loopback.hpp"
#include "temp_dir.hpp"
#include "zokio_test.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

// Files that cannot seek: read_file, write_file and sendfile on a real FIFO with a peer thread,
// cancelling an open that waits for a peer, and a process whose open of a FIFO never returns
// still exiting after shutdown() gave up on it.

using namespace std::chrono_literals;

namespace {

using zokio::fs::file;
using zokio::fs::open_flags;
using zokio::testing::baseline_fds;
using zokio::testing::fd_targets;
using zokio::testing::open_fds;
using zokio::testing::temp_dir;

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
  }
  return s;
}

/// Ends the test binary with a message if the test is still running after `limit`: a FIFO
/// peer that never comes would otherwise block a pool thread, and the test, for ever.
class hang_guard {
public:
  explicit hang_guard(std::chrono::seconds limit)
      : m_thread([this, limit] {
          std::unique_lock<std::mutex> lock(m_mutex);
          if (!m_done.wait_for(lock, limit, [this] { return m_finished; })) {
            std::fprintf(stderr, "fs_fifo_test: still running after %llds: hung\n",
                         static_cast<long long>(limit.count()));
            std::_Exit(1);
          }
        }) {}
  ~hang_guard() {
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      m_finished = true;
    }
    m_done.notify_all();
    m_thread.join();
  }
  hang_guard(const hang_guard&) = delete;
  hang_guard& operator=(const hang_guard&) = delete;

private:
  std::mutex m_mutex;
  std::condition_variable m_done;
  bool m_finished = false;
  std::thread m_thread; // last: it reads the members above
};

std::string make_fifo(const temp_dir& dir) {
  std::string path = dir.file("fifo");
  if (::mkfifo(path.c_str(), 0600) != 0) {
    throw std::runtime_error("mkfifo failed");
  }
  return path;
}

/// The writing end, on a thread: waits (without blocking in open) until a reader has the FIFO
/// open, writes `data` and closes it. Gives up after 10 s.
void write_peer(std::string path, std::string data, std::atomic<bool>* ok) {
  // A reader that fails and leaves must fail the test, not kill it: SIGPIPE is sent to the
  // writing thread, so blocking it here is enough.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  int fd = -1;
  while ((fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
    if (errno != ENXIO || std::chrono::steady_clock::now() > give_up) {
      return; // ENXIO: no reader yet
    }
    std::this_thread::sleep_for(1ms);
  }
  (void)::fcntl(fd, F_SETFL, 0); // blocking writes from here: the reader drains the FIFO
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  ok->store(done == data.size());
}

/// The reading end, on a thread: opens without waiting for a writer, then reads until the
/// writer has come and gone. Gives up after 10 s.
void read_peer(std::string path, std::string* got) {
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return;
  }
  char buf[16384];
  while (std::chrono::steady_clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      continue; // no writer yet (a FIFO that never had one reports nothing)
    }
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      got->append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break; // the writer closed it
    }
  }
  ::close(fd);
}

zokio::task<zokio::result<std::string>> read_whole(std::string path) {
  co_return co_await zokio::fs::read_file(std::move(path));
}

TEST(fs_fifo, read_file_reads_a_fifo_to_its_end) {
  hang_guard guard(60s);
  temp_dir dir;
  const std::string path = make_fifo(dir);
  const std::string data = pattern(300 * 1024); // several times the pipe's buffer
  std::atomic<bool> wrote{false};
  std::thread peer(write_peer, path, data, &wrote);
  zokio::runtime rt{{.workers = 1}};
  const zokio::result<std::string> got = rt.block_on(read_whole(path));
  peer.join();
  ASSERT_TRUE(got.ok()) << got.error().message(); // "Illegal seek" before the fix
  EXPECT_TRUE(wrote.load());
  EXPECT_EQ(got.value().size(), data.size());
  EXPECT_TRUE(got.value() == data);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<zokio::result<void>> write_whole(std::string path, const std::string* data) {
  co_return co_await zokio::fs::write_file(std::move(path), *data);
}

TEST(fs_fifo, write_file_writes_a_fifo) {
  hang_guard guard(60s);
  temp_dir dir;
  const std::string path = make_fifo(dir);
  const std::string data = pattern(300 * 1024);
  std::string got;
  std::thread peer(read_peer, path, &got);
  zokio::runtime rt{{.workers = 2}};
  const zokio::result<void> w = rt.block_on(write_whole(path, &data));
  peer.join();
  ASSERT_TRUE(w.ok()) << w.error().message(); // "Illegal seek" before the fix
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<zokio::result<std::string>> read_stream(zokio::net::tcp_stream s) {
  std::string got;
  std::vector<std::byte> buf(64 * 1024);
  for (;;) {
    const zokio::result<std::size_t> n = co_await s.read_some(buf);
    if (!n.ok()) {
      co_return n.error();
    }
    if (n.value() == 0) {
      co_return got;
    }
    got.append(reinterpret_cast<const char*>(buf.data()), n.value());
  }
}

zokio::task<std::string> send_fifo(std::string path, std::size_t size) {
  zokio::result<zokio::net::tcp_listener> l = zokio::net::tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind: " + l.error().message();
  }
  auto p = co_await zokio::testing::connected_pair(&l.value());
  if (!p.ok()) {
    co_return "pair: " + p.error().message();
  }
  auto reader = zokio::spawn(read_stream(std::move(p.value().server)));
  zokio::result<file> f = co_await file::open(path, open_flags::read);
  if (!f.ok()) {
    co_return "open: " + f.error().message();
  }
  // A pipe has no offsets: only 0, "from where it is", can be honoured.
  const zokio::result<std::uint64_t> at5 =
      co_await zokio::fs::sendfile(f.value(), p->client, 5, 10);
  if (at5.ok() || at5.error() != std::errc::invalid_seek) {
    co_return "sendfile at offset 5 of a FIFO did not fail with invalid_seek";
  }
  // More than the writer sends: the copy stops at the end of the FIFO.
  const zokio::result<std::uint64_t> sent =
      co_await zokio::fs::sendfile(f.value(), p->client, 0, size + 1000);
  if (!sent.ok()) {
    co_return "sendfile: " + sent.error().message(); // "Illegal seek" before the fix
  }
  if (sent.value() != size) {
    co_return "sendfile sent " + std::to_string(sent.value());
  }
  (void)co_await p->client.shutdown();
  const zokio::result<std::string> got = co_await reader;
  if (!got.ok()) {
    co_return "reader: " + got.error().message();
  }
  co_return got.value() == pattern(size) ? "" : "the peer got other bytes";
}

TEST(fs_fifo, sendfile_copies_from_a_fifo) {
  hang_guard guard(60s);
  temp_dir dir;
  const std::string path = make_fifo(dir);
  const std::size_t size = 200 * 1024;
  std::atomic<bool> wrote{false};
  std::thread peer(write_peer, path, pattern(size), &wrote);
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(send_fifo(path, size)), "");
  peer.join();
  EXPECT_TRUE(wrote.load());
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<zokio::result<file>> open_fifo(std::string path) {
  co_return co_await file::open(std::move(path), open_flags::read);
}

zokio::task<bool> cancel_waiting_open(std::string path) {
  auto h = zokio::spawn(open_fifo(path));
  co_await zokio::sleep_for(30ms); // its open(2) now waits for a writer on a pool thread
  h.cancel();
  // The open cannot be interrupted: a writer comes, it returns, and the task, cancelled, closes
  // the file it got.
  const int w = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  EXPECT_GE(w, 0) << "no reader was waiting in open";
  zokio::result<file> got = co_await h;
  if (w >= 0) {
    ::close(w);
  }
  co_return !got.ok() && got.error() == std::errc::operation_canceled;
}

TEST(fs_fifo, a_cancelled_open_of_a_fifo_closes_what_it_opened) {
  hang_guard guard(60s);
  temp_dir dir;
  const std::string path = make_fifo(dir);
  const std::size_t fds = baseline_fds();
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(cancel_waiting_open(path)));
  zokio::testing::expect_clean_shutdown(rt);
  EXPECT_EQ(open_fds(), fds) << fd_targets();
}

// --- a process stuck opening a FIFO exits ----------------------------------------------------

constexpr const char* child_env = "ZOKIO_FS_FIFO_CHILD";

zokio::task<void> start_stuck_open(std::string path) {
  zokio::spawn(read_whole(std::move(path)), {.name = "stuck-open"}).detach();
  co_await zokio::sleep_for(50ms); // the open now waits for a writer that never comes
}

// Run only in the child process that the next test starts (the test is disabled otherwise): its
// open(2) of a FIFO never returns; shutdown gives up on the task, and the process must then
// still exit when main returns.
TEST(fs_fifo_child, DISABLED_opens_a_fifo_nobody_writes_to) {
  const char* path = std::getenv(child_env);
  if (path == nullptr) {
    GTEST_SKIP() << "run by fs_fifo.a_process_stuck_opening_a_fifo_still_exits";
  }
  zokio::runtime rt{{.workers = 1, .shutdown_grace = 100ms}};
  rt.block_on(start_stuck_open(path));
  const zokio::shutdown_report report = rt.shutdown();
  EXPECT_EQ(report.tasks_left, 1u) << report.to_string(); // the task stuck in open
  std::printf("child: shutdown returned (%s); returning from main\n", report.to_string().c_str());
  std::fflush(stdout);
}

TEST(fs_fifo, a_process_stuck_opening_a_fifo_still_exits) {
  temp_dir dir;
  const std::string path = make_fifo(dir);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string v = *e;
    if (v.rfind("ASAN_OPTIONS=", 0) != 0 && v.rfind(child_env, 0) != 0) {
      env.push_back(v);
    }
  }
  env.push_back(std::string(child_env) + "=" + path);
  // The worker the stuck thread would post to is deliberately never freed: not a leak to report.
  const char* asan = std::getenv("ASAN_OPTIONS");
  env.push_back(std::string("ASAN_OPTIONS=") + (asan != nullptr ? asan : "") + ":detect_leaks=0");
  std::vector<char*> envp;
  for (auto& v : env) {
    envp.push_back(v.data());
  }
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  std::string filter = "--gtest_filter=fs_fifo_child.DISABLED_opens_a_fifo_nobody_writes_to";
  std::string disabled = "--gtest_also_run_disabled_tests";
  std::vector<char*> argv{exe.data(), filter.data(), disabled.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data()), 0);

  int status = 0;
  bool exited = false;
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < give_up) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  ASSERT_TRUE(exited) << "the child hung at exit (libuv joining a pool thread stuck in open?)";
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

} // namespace
