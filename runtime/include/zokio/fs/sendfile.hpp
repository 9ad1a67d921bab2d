#pragma once

#include <zokio/fs/file.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <cstdint>

// Zero-copy from a file to a TCP stream: sendfile(2) on libuv's thread pool (through
// uv_queue_work, not uv_fs_sendfile: see src/fs/sendfile.cpp), so the loop thread never blocks
// on the disk.
//
// Ownership: each sendfile(2) call is one heap uv_work_t allocated in src/fs/sendfile.cpp when the
// call starts and freed in its completion callback, never in the awaiting frame (as for every
// file request, src/fs/fs_request.cpp). The pool thread works on private duplicates of the two
// descriptors, owned by the sending task and closed once no request is in flight, so closing the
// file or the stream meanwhile never lets a pool thread write into a reused descriptor.

namespace zokio::fs {

/// Sends `length` bytes of `in`, starting at `offset` (the file position is neither used nor
/// moved), to `out`, and returns how many were sent: `length`, or fewer when the file ends
/// first (0 when `offset` is at or past its end).
///
/// How: sendfile(2) on libuv's thread pool, for as much as the socket takes. The socket is
/// non-blocking, so when its send buffer is full sendfile moves nothing (EAGAIN); then one chunk
/// of at most 64 KiB goes the copying way, `in.read_at` into a buffer of the task and
/// `out.write_all`, which waits for the socket to drain through the stream's own write path (no
/// second watcher on the socket), and sendfile is tried again. When sendfile(2) cannot read the
/// file (EINVAL, ENOSYS, ESPIPE: not a regular file, say), the rest of the range is copied that
/// way. A file that cannot seek (a pipe, a FIFO) is read in order with `in.read` from where it
/// is, up to `length` bytes or its end of file; `offset` must then be 0 (else
/// `errc::invalid_seek`).
///
/// Thread-safety: `in` and `out` must belong to the worker that runs the calling task. No other
/// write may run on `out` while sendfile runs, nor be pending when it starts (the bytes would
/// interleave: sendfile bypasses libuv's write queue); reading `out` concurrently is fine.
///
/// Lifetime: a task; `in` and `out` must outlive it. It needs no buffer from the caller (the
/// fallback buffer is its own, allocated on first use).
///
/// Errors: `std::errc::bad_file_descriptor` (a closed file or stream, also one closed while
/// sending), `broken_pipe`, `connection_reset`, a read error of the file, ... On an error the
/// number of bytes that reached the peer is not reported.
///
/// Cancellation: returns `std::errc::operation_canceled` (never throws for it) and closes `out`:
/// how much of the range reached the peer is unknown, as for a cancelled `write_all`. A
/// sendfile request a pool thread already runs is waited for (its request is never freed under
/// the pool thread), one still queued is dropped.
task<result<std::uint64_t>> sendfile(file& in, net::tcp_stream& out, std::uint64_t offset,
                                     std::uint64_t length, site where = site::current());

} // namespace zokio::fs

namespace zokio::detail {

/// Process-wide counters of fs::sendfile (relaxed atomics; for tests and diagnostics).
struct sendfile_counters {
  std::uint64_t requests = 0;        ///< sendfile(2) calls completed
  std::uint64_t bytes_zero_copy = 0; ///< bytes those calls sent
  std::uint64_t fallback_chunks = 0; ///< chunks sent by read_at + write_all instead
  std::uint64_t bytes_copied = 0;    ///< bytes those chunks sent
};

sendfile_counters sendfile_stats() noexcept;

} // namespace zokio::detail
