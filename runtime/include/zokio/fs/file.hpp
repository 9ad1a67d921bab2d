#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <cassert>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

// Files off the loop thread, so it never blocks on a disk or on another process:
// - operations that finish on their own (read_at, write_at, fsync, size, close) are `uv_fs_*`
//   requests on libuv's thread pool;
// - operations that can wait for another process for ever (open, which blocks on a FIFO until a
//   peer opens it; read and write at the file position, which block on a pipe) run on the
//   runtime's blocking pool. libuv joins its process-wide pool threads when the process exits,
//   so one stuck there would hang the exit after shutdown() gave up on its task; a thread of the
//   blocking pool is detached instead (see task/blocking_pool.hpp).
//
// Ownership: the request of an operation (a uv_fs_t, or a blocking job) is allocated in
// src/fs/fs_request.cpp when the operation starts and freed in its completion callback, never in
// the awaiting frame: a cancelled operation that a pool thread already runs is waited for, and
// its result discarded. The awaiter (inside the suspended frame) is written by that callback and
// read by the task after it resumes, both on the worker's loop thread.

namespace zokio::fs {

class file;

/// How `file::open` opens a file. Combine with `|`: `open_flags::write | open_flags::create`.
enum class open_flags : unsigned {
  read = 1u << 0,  ///< open for reading
  write = 1u << 1, ///< open for writing
  read_write = read | write,
  create = 1u << 2,    ///< create the file when it does not exist
  truncate = 1u << 3,  ///< truncate it to 0 bytes
  append = 1u << 4,    ///< every write goes to the end
  exclusive = 1u << 5, ///< with create: fail with `file_exists` when it exists
};

constexpr open_flags operator|(open_flags a, open_flags b) noexcept {
  return static_cast<open_flags>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr bool has(open_flags set, open_flags f) noexcept {
  return (static_cast<unsigned>(set) & static_cast<unsigned>(f)) == static_cast<unsigned>(f);
}

} // namespace zokio::fs

namespace zokio::detail {

/// One file operation: its arguments, and its outcome once the request completes. Plain data
/// that src/fs/fs_request.cpp turns into a `uv_fs_*` call.
struct fs_op {
  // read and write are positional (pread/pwrite); read_seq and write_seq use and move the file
  // position (read/write), for files that cannot seek.
  enum class code : std::uint8_t { open, close, read, write, read_seq, write_seq, fsync, fstat };

  code m_code = code::fstat;
  bool m_started = false;   // a request was submitted (the fd of `close` then belongs to it)
  bool m_withdrawn = false; // the task was cancelled while the request ran: discard the result
  bool m_done = false;      // the outcome is there (set without a request for trivial cases)
  int m_fd = -1;
  int m_flags = 0;            // open: the zokio::fs::open_flags bits
  int m_mode = 0;             // open: permission bits of a created file
  std::string m_path;         // open: read while submitting (libuv copies it)
  std::byte* m_buf = nullptr; // read and write: the caller's buffer, valid until completion
  std::size_t m_len = 0;
  std::int64_t m_offset = 0; // read and write: never negative (libuv takes -1 as "no offset")

  std::int64_t m_result = 0; // libuv's result: >= 0 (fd, byte count, 0) or a negative UV_E*
  std::uint64_t m_size = 0;  // fstat: the file size
  void* m_req = nullptr;     // the request in flight (owner thread)
  awaiter_base* m_awaiter = nullptr;
};

/// True for the operations that run on the runtime's blocking pool rather than libuv's: those
/// that can wait for another process for ever.
constexpr bool fs_on_blocking_pool(fs_op::code c) noexcept {
  return c == fs_op::code::open || c == fs_op::code::read_seq || c == fs_op::code::write_seq;
}

/// Submits `op` on worker `w`'s loop; the callback sets the outcome and fires `op->m_awaiter`.
/// Returns false when it completed at once (an argument libuv rejected; `m_result` holds it).
bool fs_start(worker_core* w, fs_op* op) noexcept;
/// Asks the pool to drop a request still waiting for a thread; its callback then reports
/// UV_ECANCELED. A request a pool thread already runs completes normally.
void fs_cancel(fs_op* op) noexcept;
/// Closes `fd` without waiting: through the loop of the worker this thread drives, or with a
/// plain close(2) on a thread that drives none (where blocking is allowed).
void fs_close_detached(int fd) noexcept;
/// The error of a negative libuv result (UV_ECANCELED is `errc::operation_canceled`).
std::error_code fs_error(std::int64_t uv_result) noexcept;

/// The await of one file operation, producing `result<T>`:
/// - `T = std::size_t`: bytes read or written;
/// - `T = void`: fsync and close;
/// - `T = std::uint64_t`: the size (fstat);
/// - `T = fs::file`: open.
template <typename T>
class fs_awaiter final : public counted_awaiter<fs_awaiter<T>> {
public:
  static constexpr wait_kind kind = wait_kind::file;

  fs_awaiter(fs_op&& op, const site& where) noexcept
      : counted_awaiter<fs_awaiter<T>>(where), m_op(std::move(op)) {}

  /// Only an operation that needs no request (closing a file that is not open) is ready.
  bool ready() const noexcept { return m_op.m_done; }
  bool arm() noexcept {
    m_op.m_awaiter = this;
    return fs_start(this->m_task->m_worker, &m_op);
  }
  /// A request cannot be taken back from a pool thread: ask the pool to drop it and let the
  /// callback wake the task either way; the result is then discarded.
  bool withdraw() noexcept {
    m_op.m_withdrawn = true;
    if (m_op.m_code != fs_op::code::close) {
      // A close is never dropped: the descriptor would leak. It is quick; it is waited for.
      fs_cancel(&m_op);
    }
    return false;
  }
  result<T> take();

private:
  fs_op m_op;
};

} // namespace zokio::detail

namespace zokio::fs {

/// An open file. Move-only; the destructor closes it without blocking the loop (the close runs
/// on the thread pool; its error, if any, is lost: `co_await f.close()` to see it).
///
/// Thread-safety: a file belongs to the worker that opened it and is used only by tasks on that
/// worker (debug builds check). Operations on one file may run concurrently (each names its
/// offset), but their order on the disk is not defined.
class file {
public:
  file() noexcept = default;
  file(file&& o) noexcept
      : m_fd(std::exchange(o.m_fd, -1)), m_owner(std::exchange(o.m_owner, nullptr)) {}
  file& operator=(file&& o) noexcept {
    if (this != &o) {
      reset();
      m_fd = std::exchange(o.m_fd, -1);
      m_owner = std::exchange(o.m_owner, nullptr);
    }
    return *this;
  }
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  ~file() { reset(); }

  /// Opens `path`. `mode` gives the permission bits of a file `open_flags::create` creates.
  /// Errors: `errc::no_such_file_or_directory`, `permission_denied`, `file_exists` (with
  /// `exclusive`), ... Opening a FIFO waits until its other end is opened, possibly for ever, so
  /// open runs on the runtime's blocking pool (as `read`). Cancellation: returns
  /// `errc::operation_canceled`; an open a pool thread already runs is waited for, and a file
  /// opened meanwhile is closed.
  static detail::fs_awaiter<file> open(std::string path, open_flags flags = open_flags::read,
                                       unsigned mode = 0644, site where = site::current());

  /// Reads up to `buf.size()` bytes at `offset` (the file position is neither used nor moved).
  /// Returns the count: fewer at the end of the file, 0 at or past it. `buf` must stay valid
  /// until the await completes. Cancellation: returns `errc::operation_canceled`; a read a pool
  /// thread already runs is waited for, and `buf` may hold what it read.
  ///
  /// Errors: `errc::invalid_argument` for an `offset` above INT64_MAX (no file offset can be
  /// that large; nothing is read and the position is untouched), `errc::invalid_seek` for a file
  /// that cannot seek (a pipe, a FIFO: use `read`), ...
  detail::fs_awaiter<std::size_t> read_at(std::span<std::byte> buf, std::uint64_t offset,
                                          site where = site::current()) const;

  /// Writes `buf` at `offset` (at the end with `open_flags::append`). Returns the count written,
  /// which may be less than `buf.size()`. As `read_at` for buffers, cancellation (a cancelled
  /// write may have reached the file) and errors (`invalid_argument` above INT64_MAX: nothing is
  /// written).
  detail::fs_awaiter<std::size_t> write_at(std::span<const std::byte> buf, std::uint64_t offset,
                                           site where = site::current()) const;

  /// Reads up to `buf.size()` bytes at the file position and moves it (read(2)): for files that
  /// cannot seek (pipes, FIFOs, terminals). Returns the count; 0 at the end of the file (on a
  /// FIFO: once every writer has closed it). It may wait for ever for another process, so it
  /// runs on the runtime's blocking pool, whose threads shutdown can abandon. As `read_at` for
  /// buffers and cancellation (a read that already waits on a pool thread is waited for).
  detail::fs_awaiter<std::size_t> read(std::span<std::byte> buf,
                                       site where = site::current()) const;

  /// Writes `buf` at the file position and moves it (write(2)); the counterpart of `read`. A
  /// FIFO whose reader has gone gives `errc::broken_pipe` (SIGPIPE is set to ignored if the
  /// program left it at its default, as for TCP).
  detail::fs_awaiter<std::size_t> write(std::span<const std::byte> buf,
                                        site where = site::current()) const;

  /// Flushes the file's data and metadata to the device (fsync(2)).
  detail::fs_awaiter<void> fsync(site where = site::current()) const;

  /// The file's size in bytes (fstat(2)).
  detail::fs_awaiter<std::uint64_t> size(site where = site::current()) const;

  /// Closes the file and reports close(2)'s error. The file is closed afterwards whatever the
  /// outcome, also when the await is cancelled. Closing a file that is not open succeeds.
  detail::fs_awaiter<void> close(site where = site::current());

  bool is_open() const noexcept { return m_fd >= 0; }
  /// The file descriptor, for calls Zokio does not wrap. The file still owns it.
  int native_handle() const noexcept { return m_fd; }

private:
  template <typename T>
  friend class detail::fs_awaiter;
  file(int fd, detail::worker_core* owner) noexcept : m_fd(fd), m_owner(owner) {}

  detail::fs_op op(detail::fs_op::code c) const noexcept;
  detail::fs_op io_op(detail::fs_op::code c, std::span<const std::byte> buf) const noexcept;
  detail::fs_op io_op_at(detail::fs_op::code c, std::span<const std::byte> buf,
                         std::uint64_t offset) const noexcept;
  void reset() noexcept {
    if (m_fd >= 0) {
      detail::fs_close_detached(std::exchange(m_fd, -1));
    }
  }

  int m_fd = -1;
  detail::worker_core* m_owner = nullptr;
};

inline detail::fs_op file::op(detail::fs_op::code c) const noexcept {
  assert(m_owner == nullptr || m_owner == detail::t_worker);
  detail::fs_op o;
  o.m_code = c;
  o.m_fd = m_fd;
  if (m_fd < 0) {
    // Nothing to submit: the await reports EBADF (without suspending, unless force_async).
    o.m_done = true;
    o.m_result = -static_cast<std::int64_t>(EBADF);
  }
  return o;
}

inline detail::fs_op file::io_op(detail::fs_op::code c,
                                 std::span<const std::byte> buf) const noexcept {
  detail::fs_op o = op(c);
  // libuv takes a non-const buffer for writes too; writes only read from it.
  o.m_buf = const_cast<std::byte*>(buf.data());
  o.m_len = buf.size();
  return o;
}

inline detail::fs_op file::io_op_at(detail::fs_op::code c, std::span<const std::byte> buf,
                                    std::uint64_t offset) const noexcept {
  detail::fs_op o = io_op(c, buf);
  if (offset > static_cast<std::uint64_t>(INT64_MAX)) {
    // As an int64_t it would be negative, and libuv takes a negative offset as "use and move the
    // file position": reject it before anything is submitted.
    if (!o.m_done) {
      o.m_done = true;
      o.m_result = -static_cast<std::int64_t>(EINVAL);
    }
    return o;
  }
  o.m_offset = static_cast<std::int64_t>(offset);
  return o;
}

inline detail::fs_awaiter<file> file::open(std::string path, open_flags flags, unsigned mode,
                                           site where) {
  detail::fs_op o;
  o.m_code = detail::fs_op::code::open;
  o.m_path = std::move(path);
  o.m_flags = static_cast<int>(flags);
  o.m_mode = static_cast<int>(mode);
  return detail::fs_awaiter<file>(std::move(o), where);
}

inline detail::fs_awaiter<std::size_t> file::read_at(std::span<std::byte> buf, std::uint64_t offset,
                                                     site where) const {
  return detail::fs_awaiter<std::size_t>(io_op_at(detail::fs_op::code::read, buf, offset), where);
}

inline detail::fs_awaiter<std::size_t> file::write_at(std::span<const std::byte> buf,
                                                      std::uint64_t offset, site where) const {
  return detail::fs_awaiter<std::size_t>(io_op_at(detail::fs_op::code::write, buf, offset), where);
}

inline detail::fs_awaiter<std::size_t> file::read(std::span<std::byte> buf, site where) const {
  return detail::fs_awaiter<std::size_t>(io_op(detail::fs_op::code::read_seq, buf), where);
}

inline detail::fs_awaiter<std::size_t> file::write(std::span<const std::byte> buf,
                                                   site where) const {
  return detail::fs_awaiter<std::size_t>(io_op(detail::fs_op::code::write_seq, buf), where);
}

inline detail::fs_awaiter<void> file::fsync(site where) const {
  return detail::fs_awaiter<void>(op(detail::fs_op::code::fsync), where);
}

inline detail::fs_awaiter<std::uint64_t> file::size(site where) const {
  return detail::fs_awaiter<std::uint64_t>(op(detail::fs_op::code::fstat), where);
}

inline detail::fs_awaiter<void> file::close(site where) {
  detail::fs_op o = op(detail::fs_op::code::close);
  if (m_fd < 0) {
    o.m_result = 0; // closing a closed file is not an error
  }
  // The awaiter owns the descriptor from here: it closes it even when the await is cancelled.
  m_fd = -1;
  return detail::fs_awaiter<void>(std::move(o), where);
}

} // namespace zokio::fs

namespace zokio::detail {

template <typename T>
result<T> fs_awaiter<T>::take() {
  if (!m_op.m_started && m_op.m_code == fs_op::code::close && m_op.m_fd >= 0) {
    fs_close_detached(m_op.m_fd); // cancelled before it started: the fd is still ours to close
  }
  if (this->m_cancelled || m_op.m_withdrawn) {
    if (m_op.m_withdrawn && m_op.m_code == fs_op::code::open && m_op.m_result >= 0) {
      fs_close_detached(static_cast<int>(m_op.m_result)); // opened after all: nobody wants it
    }
    return std::errc::operation_canceled;
  }
  if (m_op.m_result < 0) {
    return fs_error(m_op.m_result);
  }
  if constexpr (std::is_void_v<T>) {
    return {};
  } else if constexpr (std::is_same_v<T, fs::file>) {
    return fs::file(static_cast<int>(m_op.m_result), this->m_task->m_worker);
  } else {
    // std::size_t and std::uint64_t may be one type: the operation tells a size from a count.
    if (m_op.m_code == fs_op::code::fstat) {
      return static_cast<T>(m_op.m_size);
    }
    return static_cast<T>(m_op.m_result);
  }
}

} // namespace zokio::detail
