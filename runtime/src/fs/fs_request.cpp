#include <zokio/fs/file.hpp>

#include "runtime/worker.hpp"
#include "util/uv_error.hpp"

#include <uv.h>

#include <fcntl.h>
#include <unistd.h>

#include <climits>

// One heap request per file operation. The uv_fs_t is allocated when the operation starts and
// freed in its callback, after uv_fs_req_cleanup: libuv (and a pool thread) may hold it longer
// than the awaiting frame wants to wait, e.g. when the task is cancelled. The callback runs on
// the loop thread; it stores the outcome in the fs_op (inside the suspended frame, which stays
// alive because the task is only resumed by this callback) and then fires the awaiter.

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

void on_done(uv_fs_t* req) noexcept {
  auto* r = static_cast<fs_req*>(req->data);
  const std::int64_t result = req->result;
  const std::uint64_t size = req->fs_type == UV_FS_FSTAT && result >= 0 ? req->statbuf.st_size : 0;
  uv_fs_req_cleanup(req);
  fs_op* op = r->op;
  delete r;
  if (op != nullptr) {
    op->m_req = nullptr;
    op->m_result = result;
    op->m_size = size;
    op->m_done = true;
    op->m_awaiter->fire(); // queues the task; it runs after this callback has returned
  }
}

} // namespace

bool fs_start(worker_core* w, fs_op* op) noexcept {
  uv_loop_t* loop = static_cast<worker*>(w)->loop();
  auto* r = new (std::nothrow) fs_req{};
  if (r == nullptr) {
    op->m_result = UV_ENOMEM;
    op->m_done = true;
    return false;
  }
  r->req.data = r;
  r->op = op;
  const std::size_t len = op->m_len < max_io ? op->m_len : max_io;
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(op->m_buf), static_cast<unsigned>(len));
  int rc = 0;
  switch (op->m_code) {
  case fs_op::code::open:
    rc = uv_fs_open(loop, &r->req, op->m_path.c_str(), to_open_flags(op->m_flags), op->m_mode,
                    &on_done);
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
  if (op->m_req != nullptr) {
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
