#pragma once

#include "runtime/worker.hpp"

#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>

#include <uv.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

// The private state behind tcp_stream and tcp_listener.
//
// Ownership:
// - A tcp_impl / tcp_listener_impl is heap-allocated and reference counted with a plain counter
//   (owner thread only): one reference for the public object, one for the open libuv handle,
//   dropped in the handle's close callback. The handle struct is a member, so its memory lives
//   until libuv's close callback has run, whatever happens to the public object first.
// - Requests (uv_write_t, uv_connect_t, uv_shutdown_t) live in the awaiters of suspended frames.
//   A frame suspended on one is resumed only by the request's callback: cancellation closes
//   the handle instead, and libuv then runs the callback with UV_ECANCELED before the handle's
//   close callback. So no request outlives its memory.
// - The read overflow buffer (`m_buf`) is owned by the impl; libuv gets pointers into it only
//   between alloc_cb and read_cb of one uv__read step, and the impl never frees it while
//   reading from inside those callbacks.
//
// Threads: everything here is touched only by the thread driving `m_owner` (the libuv callbacks
// of its loop and the tasks it runs).

namespace zokio::detail {

/// Capacity of a stream's overflow buffer: what may pile up unread before the stream stops
/// reading (backpressure).
inline constexpr std::size_t tcp_overflow_capacity = 64 * 1024;

/// A reader with a buffer at least this large is a bulk reader: once libuv has filled its buffer,
/// the stream leaves the next bytes in the kernel for its next read (no copy) instead of reading
/// them ahead into the overflow buffer. Smaller reads are served from read-ahead.
inline constexpr std::size_t tcp_direct_read_min = 4 * 1024;

/// Bytes a stream may write without going through the loop (uv_try_write in the write's ready())
/// per loop turn. Past it, later writes in the same turn are handed to uv_write, which still
/// writes at once when nothing is queued but completes them at the next turn: so a writer cannot
/// pile megabytes into the socket ahead of a reader on the same loop, which made the kernel send
/// them in small pieces as the reader opened the window (zokio-bench tcp_stream,
/// docs/decisions.md). Two 64 KiB writes, and a third through uv_write, per turn: closer to raw
/// libuv's rate than one (64 KiB) and than four or more (256 KiB, 576 KiB, 1 MiB).
inline constexpr std::size_t tcp_inline_write_budget = 128 * 1024;

/// Bytes a bulk reader may read itself (a read(2) in the read's ready(), into its own buffer)
/// per loop turn, once its previous read filled its buffer; past it the read waits for the loop,
/// so a stream that never runs dry cannot keep the worker from its other tasks.
inline constexpr std::size_t tcp_inline_read_budget = 1024 * 1024;

/// What one stream has done inline in the current loop turn of its worker.
struct tcp_turn_budget {
  std::uint64_t m_turn = ~std::uint64_t{0};
  std::size_t m_used = 0;

  /// True while less than `limit` bytes were spent in `w`'s current loop turn.
  bool available(const worker* w, std::size_t limit) noexcept {
    const std::uint64_t turn = w->m_stats.loop_iterations.get();
    if (turn != m_turn) {
      m_turn = turn;
      m_used = 0;
    }
    return m_used < limit;
  }
  void spend(std::size_t n) noexcept { m_used += n; }
};

/// Checks that an I/O object is used from the worker that owns it: in debug builds, and in the
/// ASan tree (ZOKIO_CHECK_OWNER, set on the files that use the check by runtime/CMakeLists.txt)
/// so that make test's asan pass runs net_tcp_errors_test's death test.
#if !defined(NDEBUG) || defined(ZOKIO_CHECK_OWNER)
[[noreturn]] inline void net_owner_check_failed(const char* file, int line) noexcept {
  std::fprintf(stderr, "%s:%d: zokio: a TCP object is used from a thread other than its worker's\n",
               file, line);
  std::abort();
}
#define ZOKIO_NET_ASSERT_OWNER(impl)                                                               \
  ((impl)->m_owner == ::zokio::detail::t_worker                                                    \
       ? (void)0                                                                                   \
       : ::zokio::detail::net_owner_check_failed(__FILE__, __LINE__))
#else
#define ZOKIO_NET_ASSERT_OWNER(impl) ((void)0)
#endif

/// The worker driving this thread, or no_runtime_error.
worker* current_net_worker(const char* what);

/// Sets SIGPIPE to ignored (once per process) if the program left it at SIG_DFL: libuv writes
/// with write(2)/writev(2), which raise SIGPIPE on a connection the peer has reset.
void ignore_sigpipe_once() noexcept;

/// An overflow buffer of tcp_overflow_capacity bytes (per-thread cache of a few).
std::byte* overflow_alloc();
void overflow_free(std::byte* p) noexcept;

struct tcp_impl : io_object {
  uv_tcp_t m_tcp; // m_tcp.data == this
  worker* m_owner = nullptr;
  unsigned m_refs = 2; // the tcp_stream, and the open handle
  bool m_closing = false;
  bool m_reading = false;    // uv_read_start is in effect
  bool m_referenced = false; // uv_ref'd: a reader waits (external work for deadlock detection)
  bool m_to_reader = false;  // the last alloc_cb handed out the reader's buffer
  bool m_yield = false;      // a bulk reader was just served: do not read ahead for now
  bool m_yielded = false;    // the last alloc_cb declined on purpose (m_yield)
  bool m_more = false;       // the last read filled a bulk reader's buffer: more may be waiting
  bool m_eof = false;
  int m_read_error = 0;
  tcp_turn_budget m_read_turn;  // bytes read inline this loop turn
  tcp_turn_budget m_write_turn; // bytes written inline this loop turn
  tcp_read_awaiter* m_reader = nullptr;
  std::byte* m_buf = nullptr; // overflow: unread bytes are [m_head, m_tail)
  std::size_t m_head = 0;
  std::size_t m_tail = 0;

  /// A new unconnected stream on `w`'s loop, or nullptr with *err set.
  static tcp_impl* create(worker* w, int* err) noexcept;
  /// Wraps an accepted socket `fd` (closed on failure).
  static tcp_impl* adopt(worker* w, int fd, int* err) noexcept;

  uv_stream_t* stream() noexcept { return reinterpret_cast<uv_stream_t*>(&m_tcp); }
  uv_handle_t* handle() noexcept { return reinterpret_cast<uv_handle_t*>(&m_tcp); }

  /// Closes the handle: the waiting reader completes with UV_ECANCELED, libuv completes queued
  /// writes, connects and shutdowns with UV_ECANCELED, then the close callback drops the
  /// handle's reference. Idempotent.
  void close() noexcept;
  void release() noexcept;

  bool has_unread() const noexcept { return m_head != m_tail; }
  /// Starts reading if it is not on; returns a libuv status.
  int start_reading() noexcept;
  void stop_reading() noexcept;
  void set_referenced(bool on) noexcept;
  void drop_empty_buffer() noexcept;
  /// Reads into `buf` now if the socket has bytes (no loop turn): >0 bytes read, 0 EOF,
  /// UV_EAGAIN when it has none, or a libuv error. Records EOF and errors like the read callback.
  long read_now(std::byte* buf, std::size_t size) noexcept;
};

struct tcp_listener_impl : io_object {
  uv_poll_t m_poll; // m_poll.data == this; watches m_fd for readability
  int m_fd = -1;
  worker* m_owner = nullptr;
  unsigned m_refs = 2; // the tcp_listener, and the open poll handle
  bool m_closing = false;
  bool m_polling = false;
  bool m_referenced = false; // uv_ref'd: an acceptor waits
  std::uint16_t m_port = 0;
  tcp_accept_awaiter* m_head = nullptr; // FIFO of waiting acceptors
  tcp_accept_awaiter* m_tail = nullptr;

  void close() noexcept;
  void release() noexcept;
  void push(tcp_accept_awaiter* a) noexcept;
  void unlink(tcp_accept_awaiter* a) noexcept;
  tcp_accept_awaiter* pop() noexcept;
  void set_referenced(bool on) noexcept;
};

} // namespace zokio::detail
