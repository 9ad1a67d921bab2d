#include <zokio/fs/file.hpp>

#include <zokio/task/spawn_blocking.hpp>

#include "net/tcp_impl.hpp"
#include "runtime/worker.hpp"
#include "util/uv_error.hpp"

#include <uv.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <string>

// One heap request per file operation: a uv_fs_t on libuv's pool, or an fs_job on the runtime's
// blocking pool for the operations that can wait for ever (fs_on_blocking_pool). It is allocated
// when the operation starts and freed in its callback: libuv (and a pool thread) may hold it
// longer than the awaiting frame wants to wait, e.g. when the task is cancelled. The callback runs
// on the loop thread; it stores the outcome in the fs_op (inside the suspended frame, which stays
// alive because the task is only resumed by this callback) and then fires the awaiter.
//
// Why two pools: libuv joins its process-wide pool threads in an exit handler, so a thread stuck
// in open(2) on a FIFO nobody opens would hang the process at exit, after shutdown() has given up
// on the task. The blocking pool detaches such a thread at shutdown's deadline and keeps the
// worker it would post to (task/blocking_pool.hpp); its jobs count as blocking_in_flight, which
// the deadlock detector sees as external work, as it sees libuv's requests.

namespace zokio::detail {

namespace {

struct fs_req {
  uv_fs_t req;
  fs_op* op; // null for a detached close: nobody waits for it
};

// A single request moves at most this much: libuv's buffers count in unsigned int, and Linux
// moves at most 0x7ffff000 bytes per call anyway. read_at and write_at report short counts.
constexpr std::size_t max_io = 1u << 30;

int to_open_flags(int zokio_flags) noexcept {
  using fs::open_flags;
  const auto f = static_cast<open_flags>(zokio_flags);
  int flags = 0;
  if (fs::has(f, open_flags::read_write)) {
    flags = O_RDWR;
  } else if (fs::has(f, open_flags::write)) {
    flags = O_WRONLY;
  } else {
    flags = O_RDONLY;
  }
  if (fs::has(f, open_flags::create)) {
    flags |= O_CREAT;
  }
  if (fs::has(f, open_flags::truncate)) {
    flags |= O_TRUNC;
  }
  if (fs::has(f, open_flags::append)) {
    flags |= O_APPEND;
  }
  if (fs::has(f, open_flags::exclusive)) {
    flags |= O_EXCL;
  }
  return flags | O_CLOEXEC;
}

void complete(fs_op* op, std::int64_t result, std::uint64_t size) noexcept {
  op->m_req = nullptr;
  op->m_result = result;
  op->m_size = size;
  op->m_done = true;
  op->m_awaiter->fire(); // queues the task; it runs after the callback has returned
}

void on_done(uv_fs_t* req) noexcept {
  auto* r = static_cast<fs_req*>(req->data);
  const std::int64_t result = req->result;
  const std::uint64_t size = req->fs_type == UV_FS_FSTAT && result >= 0 ? req->statbuf.st_size : 0;
  uv_fs_req_cleanup(req);
  fs_op* op = r->op;
  delete r;
  if (op != nullptr) {
    complete(op, result, size);
  }
}

/// An operation on the blocking pool. The pool thread reads the arguments and writes `result`
/// here, never in the awaiting frame; the fs_op is touched only on the loop thread.
struct fs_job final : blocking_job {
  fs_op* op = nullptr;
  fs_op::code code = fs_op::code::open;
  int fd = -1;
  int flags = 0;
  int mode = 0;
  std::string path;
  std::byte* buf = nullptr;
  std::size_t len = 0;
  std::int64_t result = 0; // >= 0, or a negative errno (libuv's UV_E* on Unix)
};

/// Runs on a pool thread; it may block for as long as the other process makes it.
void job_run(blocking_job* j) noexcept {
  auto* r = static_cast<fs_job*>(j);
  for (;;) {
    long n = -1;
    switch (r->code) {
    case fs_op::code::open:
      n = ::open(r->path.c_str(), r->flags, static_cast<mode_t>(r->mode));
      break;
    case fs_op::code::read_seq:
      n = ::read(r->fd, r->buf, r->len);
      break;
    case fs_op::code::write_seq:
      n = ::write(r->fd, r->buf, r->len);
      break;
    default:
      errno = EINVAL; // never submitted here
      break;
    }
    if (n >= 0 || errno != EINTR) {
      r->result = n >= 0 ? static_cast<std::int64_t>(n) : -static_cast<std::int64_t>(errno);
      return;
    }
  }
}

/// Runs on the loop thread once the pool has let go of the job (`cancelled`: it never ran).
void job_done(blocking_job* j, bool cancelled) noexcept {
  auto* r = static_cast<fs_job*>(j);
  const std::int64_t result = cancelled ? std::int64_t{UV_ECANCELED} : r->result;
  fs_op* op = r->op;
  delete r;
  complete(op, result, 0);
}

bool job_start(worker_core* w, fs_op* op, std::size_t len) noexcept {
  auto* r = new (std::nothrow) fs_job{};
  if (r == nullptr) {
    op->m_result = UV_ENOMEM;
    op->m_done = true;
    return false;
  }
  r->m_run = &job_run;
  r->m_done = &job_done;
  r->op = op;
  r->code = op->m_code;
  r->fd = op->m_fd;
  r->flags = to_open_flags(op->m_flags);
  r->mode = op->m_mode;
  r->path = std::move(op->m_path); // the operation needs it no more
  r->buf = op->m_buf;
  r->len = len;
  if (op->m_code == fs_op::code::write_seq) {
    ignore_sigpipe_once(); // a FIFO whose reader left must give EPIPE, not kill the process
  }
  try {
    queue_blocking(w, r);
  } catch (...) {
    delete r; // no thread could be started to run it
    op->m_result = UV_EAGAIN;
    op->m_done = true;
    return false;
  }
  op->m_started = true;
  op->m_req = r;
  return true;
}

} // namespace

bool fs_start(worker_core* w, fs_op* op) noexcept {
  const std::size_t len = op->m_len < max_io ? op->m_len : max_io;
  if (fs_on_blocking_pool(op->m_code)) {
    return job_start(w, op, len);
  }
  uv_loop_t* loop = static_cast<worker*>(w)->loop();
  auto* r = new (std::nothrow) fs_req{};
  if (r == nullptr) {
    op->m_result = UV_ENOMEM;
    op->m_done = true;
    return false;
  }
  r->req.data = r;
  r->op = op;
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(op->m_buf), static_cast<unsigned>(len));
  int rc = 0;
  switch (op->m_code) {
  case fs_op::code::open:
  case fs_op::code::read_seq:
  case fs_op::code::write_seq:
    rc = UV_EINVAL; // handled above
    break;
  case fs_op::code::close:
    rc = uv_fs_close(loop, &r->req, op->m_fd, &on_done);
    break;
  case fs_op::code::read:
    rc = uv_fs_read(loop, &r->req, op->m_fd, &buf, 1, op->m_offset, &on_done);
    break;
  case fs_op::code::write:
    rc = uv_fs_write(loop, &r->req, op->m_fd, &buf, 1, op->m_offset, &on_done);
    break;
  case fs_op::code::fsync:
    rc = uv_fs_fsync(loop, &r->req, op->m_fd, &on_done);
    break;
  case fs_op::code::fstat:
    rc = uv_fs_fstat(loop, &r->req, op->m_fd, &on_done);
    break;
  }
  if (rc != 0) {
    // libuv refused the arguments (or ran out of memory copying the path): no callback comes.
    uv_fs_req_cleanup(&r->req);
    delete r;
    op->m_result = rc;
    op->m_done = true;
    return false;
  }
  op->m_started = true;
  op->m_req = r;
  return true;
}

void fs_cancel(fs_op* op) noexcept {
  if (op->m_req != nullptr && fs_on_blocking_pool(op->m_code)) {
    // Dropped only while no pool thread has taken it; it then completes as cancelled.
    cancel_blocking(static_cast<fs_job*>(op->m_req));
  } else if (op->m_req != nullptr) {
    // Succeeds only while the request waits for a pool thread (the callback then reports
    // UV_ECANCELED); a running request completes and its result is discarded.
    uv_cancel(reinterpret_cast<uv_req_t*>(&static_cast<fs_req*>(op->m_req)->req));
  }
}

void fs_close_detached(int fd) noexcept {
  if (fd < 0) {
    return;
  }
  auto* w = static_cast<worker*>(t_worker);
  if (w != nullptr) {
    auto* r = new (std::nothrow) fs_req{};
    if (r != nullptr) {
      r->req.data = r;
      r->op = nullptr;
      if (uv_fs_close(w->loop(), &r->req, fd, &on_done) == 0) {
        return;
      }
      uv_fs_req_cleanup(&r->req);
      delete r;
    }
  }
  // No loop on this thread (a file destroyed after block_on returned, say): this thread may
  // block, so close here.
  ::close(fd);
}

std::error_code fs_error(std::int64_t uv_result) noexcept {
  return uv_error(static_cast<int>(uv_result));
}

} // namespace zokio::detail
