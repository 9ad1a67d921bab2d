#include <zokio/fs/sendfile.hpp>

#include "runtime/worker.hpp"
#include "util/uv_error.hpp"

#include <uv.h>

#include <fcntl.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/sendfile.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <limits>
#include <memory>
#include <span>

// One heap request per sendfile(2) call, freed in its completion callback (as every file
// request, fs_request.cpp). The call runs through uv_queue_work on libuv's pool rather than
// uv_fs_sendfile: libuv 1.44 tries copy_file_range(2) first, which fails with EINVAL for a socket,
// and then emulates sendfile with read/write plus poll(2) on the pool thread, which copies and,
// on a full socket, holds the pool thread (and a cancelled task) until the peer reads.
//
// The after-work callback runs on the loop thread; it stores the outcome in the awaiter (inside
// the suspended frame, which stays alive because only this callback resumes the task: withdraw()
// never completes the await itself) and then fires it. The counters are process-wide atomics,
// written with relaxed increments from the loop threads.

namespace zokio::detail {

namespace {

std::atomic<std::uint64_t> g_requests{0};
std::atomic<std::uint64_t> g_bytes_zero_copy{0};
std::atomic<std::uint64_t> g_fallback_chunks{0};
std::atomic<std::uint64_t> g_bytes_copied{0};

// One request moves at most this much (Linux moves at most 0x7ffff000 bytes per sendfile call);
// on a non-blocking socket it is in practice what the send buffer takes.
constexpr std::size_t max_sendfile = std::size_t{1} << 30;

// What one copying step moves when the socket is full.
constexpr std::size_t fallback_chunk = 64 * 1024;

class sendfile_awaiter;

/// One sendfile(2) call on libuv's pool. The pool thread reads the arguments and writes
/// `result` here, never in the awaiting frame.
struct sendfile_req {
  uv_work_t work;
  int out_fd;
  int in_fd;
  std::int64_t offset;
  std::size_t len;
  std::int64_t result; // bytes sent or a negative errno (libuv's UV_E* on Unix)
  sendfile_awaiter* op;
};

/// Runs on a pool thread. The socket is non-blocking, so this never waits for the peer: a full
/// send buffer gives EAGAIN at once.
void sendfile_work(uv_work_t* w) noexcept {
  auto* r = static_cast<sendfile_req*>(w->data);
#if defined(__linux__)
  off_t off = r->offset;
  ssize_t n = 0;
  do {
    n = ::sendfile(r->out_fd, r->in_fd, &off, r->len);
  } while (n < 0 && errno == EINTR);
  r->result = n >= 0 ? static_cast<std::int64_t>(n) : -static_cast<std::int64_t>(errno);
#else
  r->result = UV_ENOSYS; // sendfile copies the whole range instead
#endif
}

/// `co_await` of one sendfile(2) call. take() gives its result: bytes sent, or a negative UV_E*
/// (UV_ECANCELED when the task was cancelled, whatever the call did).
class sendfile_awaiter final : public counted_awaiter<sendfile_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::file;

  sendfile_awaiter(int out_fd, int in_fd, std::int64_t offset, std::size_t len,
                   const site& where) noexcept
      : counted_awaiter<sendfile_awaiter>(where), m_out_fd(out_fd), m_in_fd(in_fd),
        m_offset(offset), m_len(len) {}

  bool ready() const noexcept { return m_done; }

  bool arm() noexcept {
    uv_loop_t* loop = static_cast<worker*>(m_task->m_worker)->loop();
    auto* r = new (std::nothrow) sendfile_req{};
    if (r == nullptr) {
      m_result = UV_ENOMEM;
      m_done = true;
      return false;
    }
    r->work.data = r;
    r->out_fd = m_out_fd;
    r->in_fd = m_in_fd;
    r->offset = m_offset;
    r->len = m_len;
    r->op = this;
    if (const int rc = uv_queue_work(loop, &r->work, &sendfile_work, &on_done); rc != 0) {
      delete r;
      m_result = rc;
      m_done = true;
      return false;
    }
    m_req = r;
    return true;
  }

  /// A call cannot be taken back from a pool thread: ask libuv to drop it if it still waits for
  /// one, and let the callback wake the task either way; the result is then discarded.
  bool withdraw() noexcept {
    m_withdrawn = true;
    if (m_req != nullptr) {
      uv_cancel(reinterpret_cast<uv_req_t*>(&m_req->work));
    }
    return false;
  }

  std::int64_t take() const noexcept {
    return m_cancelled || m_withdrawn ? std::int64_t{UV_ECANCELED} : m_result;
  }

private:
  /// Runs on the loop thread once the call is done (status UV_ECANCELED: dropped unstarted).
  static void on_done(uv_work_t* w, int status) noexcept {
    auto* r = static_cast<sendfile_req*>(w->data);
    const std::int64_t result = status < 0 ? std::int64_t{status} : r->result;
    sendfile_awaiter* op = r->op;
    delete r;
    op->m_req = nullptr;
    op->m_result = result;
    op->m_done = true;
    g_requests.fetch_add(1, std::memory_order_relaxed);
    if (result > 0) {
      g_bytes_zero_copy.fetch_add(static_cast<std::uint64_t>(result), std::memory_order_relaxed);
    }
    op->fire(); // queues the task; it runs after this callback has returned
  }

  int m_out_fd;
  int m_in_fd;
  std::int64_t m_offset;
  std::size_t m_len;
  sendfile_req* m_req = nullptr; // the call in flight (owner thread)
  std::int64_t m_result = 0;
  bool m_done = false;
  bool m_withdrawn = false;
};

/// A private duplicate of a descriptor for the pool thread, closed without blocking the loop.
class dup_fd {
public:
  explicit dup_fd(int fd) noexcept : m_fd(fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 0)) {
    m_errno = m_fd < 0 ? (fd < 0 ? EBADF : errno) : 0;
  }
  dup_fd(const dup_fd&) = delete;
  dup_fd& operator=(const dup_fd&) = delete;
  // Runs when the task ends, after its last request completed.
  ~dup_fd() { fs_close_detached(m_fd); }

  int get() const noexcept { return m_fd; }
  int error() const noexcept { return m_errno; }

private:
  int m_fd;
  int m_errno;
};

} // namespace

sendfile_counters sendfile_stats() noexcept {
  sendfile_counters c;
  c.requests = g_requests.load(std::memory_order_relaxed);
  c.bytes_zero_copy = g_bytes_zero_copy.load(std::memory_order_relaxed);
  c.fallback_chunks = g_fallback_chunks.load(std::memory_order_relaxed);
  c.bytes_copied = g_bytes_copied.load(std::memory_order_relaxed);
  return c;
}

} // namespace zokio::detail

namespace zokio::fs {

task<result<std::uint64_t>> sendfile(file& in, net::tcp_stream& out, std::uint64_t offset,
                                     std::uint64_t length, site where) {
  (void)detail::current_task("zokio::fs::sendfile");
  constexpr auto max_offset = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (!in.is_open() || !out.is_open()) {
    co_return std::errc::bad_file_descriptor;
  }
  if (offset > max_offset) {
    co_return std::errc::invalid_argument;
  }
  length = std::min(length, max_offset - offset); // offsets stay representable as off_t
  if (length == 0) {
    co_return std::uint64_t{0};
  }
  const detail::dup_fd in_fd(in.native_handle());
  const detail::dup_fd out_fd(out.native_handle());
  if (in_fd.get() < 0 || out_fd.get() < 0) {
    co_return std::error_code(in_fd.get() < 0 ? in_fd.error() : out_fd.error(),
                              std::system_category());
  }

  // Failures of the transfer end here; a cancelled transfer leaves the peer with an unknown prefix
  // of the range, so the stream is closed, as a cancelled write_all does.
  const auto fail = [&out](std::error_code e) -> std::error_code {
    if (e == std::errc::operation_canceled) {
      out.close();
    }
    return e;
  };

  std::unique_ptr<std::byte[]> chunk; // the fallback buffer, allocated on first use
  bool zero_copy = true;              // sendfile(2) works for this pair of descriptors
  bool seekable = true;               // `in` takes pread (not a pipe, a FIFO, a terminal)
  std::uint64_t sent = 0;
  while (sent < length) {
    if (!out.is_open()) {
      co_return std::errc::bad_file_descriptor; // closed by another task meanwhile
    }
    const std::uint64_t pos = offset + sent;
    if (zero_copy) {
      const auto want =
          static_cast<std::size_t>(std::min<std::uint64_t>(length - sent, detail::max_sendfile));
      const std::int64_t r = co_await detail::sendfile_awaiter(
          out_fd.get(), in_fd.get(), static_cast<std::int64_t>(pos), want, where);
      if (r > 0) {
        sent += static_cast<std::uint64_t>(r);
        continue;
      }
      if (r == UV_EINVAL || r == UV_ENOSYS || r == UV_ENOTSUP || r == UV_ESPIPE) {
        zero_copy = false; // a file sendfile(2) cannot read: copy the rest of the range
      } else if (r < 0 && r != UV_EAGAIN) {
        co_return fail(detail::uv_error(static_cast<int>(r)));
      }
    }
    // The socket is full (EAGAIN), sendfile moved nothing (the end of the file), or it cannot be
    // used: copy one chunk, which waits for the socket to drain through the stream's write path,
    // or finds the end of the file.
    if (chunk == nullptr) {
      chunk = std::make_unique_for_overwrite<std::byte[]>(detail::fallback_chunk);
    }
    const std::span<std::byte> buf(chunk.get(), static_cast<std::size_t>(std::min<std::uint64_t>(
                                                    length - sent, detail::fallback_chunk)));
    const result<std::size_t> n =
        seekable ? co_await in.read_at(buf, pos, where) : co_await in.read(buf, where);
    if (!n.ok() && seekable && n.error() == std::errc::invalid_seek && pos == 0) {
      // A file that cannot seek is read in order from where it is, which only an offset of 0
      // names (pread failed before reading anything).
      seekable = false;
      continue;
    }
    if (!n.ok()) {
      co_return fail(n.error());
    }
    if (n.value() == 0) {
      break; // the end of the file
    }
    const result<void> w = co_await out.write_all(buf.first(n.value()), where);
    if (!w.ok()) {
      co_return fail(w.error());
    }
    detail::g_fallback_chunks.fetch_add(1, std::memory_order_relaxed);
    detail::g_bytes_copied.fetch_add(n.value(), std::memory_order_relaxed);
    sent += n.value();
  }
  co_return sent;
}

} // namespace zokio::fs
