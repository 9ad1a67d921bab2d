#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/net/address.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

// A connected TCP stream on libuv.
//
// Ownership and threads:
// - A tcp_stream owns a heap `detail::tcp_impl` (src/net/tcp_impl.hpp) that holds the uv_tcp_t,
//   the read state and a reference count: one reference for the tcp_stream, one for the open
//   libuv handle, dropped in its close callback. So the impl (and the handle memory libuv points
//   to) outlives both the object and libuv's last use of it.
// - The stream belongs to the worker whose task created it (by connect or accept). It is used
//   only from tasks on that worker; debug builds assert it. The awaiters below live in the
//   awaiting frame; callbacks of that worker's loop complete them through `fire()`, never by
//   resuming the coroutine.
// - One reader and any number of writers at a time (writes are queued in order by libuv).

namespace zokio::net {
class tcp_stream;
}

namespace zokio::detail {

struct tcp_impl;

/// Bytes reserved in a write awaiter for libuv's uv_write_t (checked in src/net/tcp_stream.cpp).
inline constexpr std::size_t tcp_write_req_size = 192;

/// `co_await stream.read_some(buf)`.
class tcp_read_awaiter final : public counted_awaiter<tcp_read_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::io;

  tcp_read_awaiter(tcp_impl* s, std::span<std::byte> buf, const site& where) noexcept
      : counted_awaiter<tcp_read_awaiter>(where), m_impl(s), m_data(buf.data()),
        m_size(buf.size()) {}

  bool ready() noexcept;
  bool arm();
  bool withdraw() noexcept;
  result<std::size_t> take();

  // Written by the stream's read callback (owner thread) when it completes this read.
  tcp_impl* m_impl;
  std::byte* m_data;
  std::size_t m_size;
  std::size_t m_n = 0;
  int m_status = 0;    // a libuv status; 0 with m_n == 0 is EOF
  bool m_done = false; // the result is in m_n/m_status (else: take it from the stream's buffer)
};

/// `co_await stream.write_all(buf)` and its writev form.
class tcp_write_awaiter final : public counted_awaiter<tcp_write_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::io;

  /// Up to 4 buffers, kept in the awaiter.
  tcp_write_awaiter(tcp_impl* s, std::initializer_list<std::span<const std::byte>> bufs,
                    const site& where) noexcept
      : counted_awaiter<tcp_write_awaiter>(where), m_impl(s), m_count(bufs.size()) {
    std::size_t i = 0;
    for (std::span<const std::byte> b : bufs) {
      m_inline[i++] = b;
    }
  }
  /// Any number of buffers, in the caller's array.
  tcp_write_awaiter(tcp_impl* s, std::span<const std::span<const std::byte>> many,
                    const site& where) noexcept
      : counted_awaiter<tcp_write_awaiter>(where), m_impl(s), m_many(many.data()),
        m_count(many.size()) {}

  bool ready() noexcept;
  bool arm();
  bool withdraw() noexcept;
  result<void> take() const;

  const std::span<const std::byte>* buffers() const noexcept {
    return m_many != nullptr ? m_many : m_inline;
  }

  tcp_impl* m_impl;
  std::span<const std::byte> m_inline[4];
  const std::span<const std::byte>* m_many = nullptr; // null: the buffers are in m_inline
  std::size_t m_count = 0;
  std::size_t m_written = 0; // bytes the socket took at once (in ready())
  bool m_tried = false;      // ready() has written what the socket takes
  bool m_complete = false;   // ...and that settled it (everything written, or an error)
  int m_status = 0;
  /// libuv's uv_write_t, in the awaiting frame: the frame stays suspended until libuv's write
  /// callback (which also runs, with UV_ECANCELED, when the stream is closed under it).
  alignas(16) unsigned char m_req[tcp_write_req_size];
};

} // namespace zokio::detail

namespace zokio::net {

/// How `tcp_stream::connect` connects.
struct connect_options {
  /// The most the whole connect may take, name lookup included; past it the result is
  /// `zokio::errc::timed_out` (equal to `std::errc::timed_out`). The default waits as long as
  /// the kernel does (about two minutes for an unanswered SYN on Linux).
  std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max();
};

/// A connected TCP stream: `connect` or `tcp_listener::accept` makes one.
///
/// Reading: libuv keeps reading between reads (uv_read_start once) and reads into the waiting
/// reader's own buffer. Bytes that arrive while no reader waits go to a stream-owned buffer of
/// at most 64 KiB (allocated only then, and given back once drained), from which the next reads
/// complete without suspending; past that bound the stream stops reading from the socket until
/// a reader drains it (backpressure). After filling a reader's buffer of 4 KiB or more, the
/// stream leaves the next bytes in the kernel for that reader's next read instead of copying
/// them ahead; that reader's next read of 4 KiB or more then reads the socket itself, straight
/// into its buffer, completing without suspending when bytes are there (up to 1 MiB per loop
/// turn). An idle stream holds no read buffer.
///
/// Writing: `write_all` first writes what the socket takes at once (completing without
/// suspending when it takes everything), then queues the rest with one `uv_write` (a writev for
/// several buffers) and resumes when libuv has written all of it. Only the first 64 KiB a stream
/// writes in a loop turn go out that way: later writes in the same turn are handed to `uv_write`
/// whole and resume at the next turn, so a writer cannot fill the socket far ahead of a reader
/// that shares its loop.
///
/// Closing: `close()` or the destructor closes the socket. A read waiting on the stream
/// completes with `std::errc::operation_canceled`, queued writes too (libuv completes them with
/// UV_ECANCELED); later operations return `std::errc::bad_file_descriptor`.
///
/// Thread-safety: a stream belongs to the worker that created it; use it (and destroy it) only
/// from tasks on that worker. Debug builds assert it. Move-only.
///
/// Errors are values: `std::errc::connection_refused`, `connection_reset`, `broken_pipe`,
/// `operation_canceled`, ... A broken connection never raises SIGPIPE: the first TCP object
/// created sets SIGPIPE to ignored if the program left it at its default.
class tcp_stream {
public:
  tcp_stream() noexcept = default;
  /// Takes ownership of an impl (used by connect and accept).
  explicit tcp_stream(detail::tcp_impl* impl) noexcept : m_impl(impl) {}
  tcp_stream(tcp_stream&& o) noexcept : m_impl(o.m_impl) { o.m_impl = nullptr; }
  tcp_stream& operator=(tcp_stream&& o) noexcept;
  tcp_stream(const tcp_stream&) = delete;
  tcp_stream& operator=(const tcp_stream&) = delete;
  ~tcp_stream();

  /// Connects to `host` (an IPv4/IPv6 literal, or a name resolved with `uv_getaddrinfo` on the
  /// thread pool) on `port`, trying each resolved address in turn.
  ///
  /// Errors: `std::errc::connection_refused`, `timed_out`, `network_unreachable`, a
  /// `resolve_category()` error for an unknown name, ...
  /// Cancellation: a connect in progress is stopped by closing its socket (libuv completes it
  /// with UV_ECANCELED) and the result is `std::errc::operation_canceled`; a DNS lookup that
  /// already runs is waited for first. Must be awaited on a worker (no_runtime_error otherwise).
  static task<result<tcp_stream>> connect(std::string host, std::uint16_t port,
                                          site where = site::current());
  /// Connects to `address`. As above, without the lookup.
  static task<result<tcp_stream>> connect(socket_address address, site where = site::current());
  /// As above, within `opts.timeout`: `connect(host, port, {.timeout = 2s})`.
  static task<result<tcp_stream>> connect(std::string host, std::uint16_t port,
                                          connect_options opts, site where = site::current());
  static task<result<tcp_stream>> connect(socket_address address, connect_options opts,
                                          site where = site::current());

  /// Reads at least 1 and at most `buf.size()` bytes; 0 means the peer closed its side (EOF),
  /// and every later read gives 0 again. An empty `buf` gives 0 at once.
  ///
  /// `buf` must stay valid until the await completes. One reader at a time (a second task
  /// reading the same stream concurrently gets std::logic_error).
  /// Cancellation (cancel-safe): the waiting reader is withdrawn and the await returns
  /// `std::errc::operation_canceled`; no byte is lost (bytes that arrive later wait for the next
  /// read), so the stream stays usable, e.g. after `zokio::timeout` of a read.
  detail::tcp_read_awaiter read_some(std::span<std::byte> buf,
                                     site where = site::current()) noexcept {
    return detail::tcp_read_awaiter(m_impl, buf, where);
  }

  /// Fills all of `buf`. EOF before it is full gives `zokio::errc::eof` (the bytes received so
  /// far are in `buf`), as `buffered_reader::read_exact` does. A task: the stream and `buf` must
  /// outlive it. Cancellation: as read_some; the bytes read before the cancellation are consumed.
  task<result<void>> read_exact(std::span<std::byte> buf, site where = site::current());

  /// Writes all of `buf`. `buf` must stay valid until the await completes.
  ///
  /// Errors: `std::errc::connection_reset`, `broken_pipe` (the peer is gone), ...
  /// Cancellation: libuv cannot take back a write it has queued, so cancelling a write that is
  /// waiting closes the stream (then the await returns `std::errc::operation_canceled`, and how
  /// much of `buf` reached the peer is unknown). A write that completed at once is not affected.
  detail::tcp_write_awaiter write_all(std::span<const std::byte> buf,
                                      site where = site::current()) noexcept {
    return detail::tcp_write_awaiter(m_impl, {buf}, where);
  }
  /// Writes all of `bufs`, in order, with one writev (`uv_write` of several buffers). The
  /// buffers and the span of spans must stay valid until the await completes. As above.
  detail::tcp_write_awaiter write_all(std::span<const std::span<const std::byte>> bufs,
                                      site where = site::current()) noexcept {
    return detail::tcp_write_awaiter(m_impl, bufs, where);
  }
  /// `co_await s.write_all(header, body)`: two to four buffers in one writev; only the bytes
  /// must stay valid until the await completes. (No initializer_list form: GCC 12 cannot keep
  /// its array in a coroutine frame.)
  detail::tcp_write_awaiter write_all(std::span<const std::byte> a, std::span<const std::byte> b,
                                      site where = site::current()) noexcept {
    return detail::tcp_write_awaiter(m_impl, {a, b}, where);
  }
  detail::tcp_write_awaiter write_all(std::span<const std::byte> a, std::span<const std::byte> b,
                                      std::span<const std::byte> c,
                                      site where = site::current()) noexcept {
    return detail::tcp_write_awaiter(m_impl, {a, b, c}, where);
  }
  detail::tcp_write_awaiter write_all(std::span<const std::byte> a, std::span<const std::byte> b,
                                      std::span<const std::byte> c, std::span<const std::byte> d,
                                      site where = site::current()) noexcept {
    return detail::tcp_write_awaiter(m_impl, {a, b, c, d}, where);
  }

  /// Half-close: sends FIN once the queued writes are written; reading goes on.
  /// `std::errc::not_connected` if already shut down. Cancellation: closes the stream, as for a
  /// write. A task: the stream must outlive it.
  task<result<void>> shutdown(site where = site::current());

  /// Closes the stream now (see the class comment). Idempotent; the destructor calls it.
  void close() noexcept;
  bool is_open() const noexcept;

  /// TCP_NODELAY: send small writes at once instead of coalescing them (Nagle).
  result<void> set_nodelay(bool on) noexcept;
  /// The local port, or 0 when closed.
  std::uint16_t local_port() const noexcept;
  result<socket_address> local_address() const noexcept;
  result<socket_address> peer_address() const noexcept;
  /// The socket's file descriptor (for setsockopt and the like), -1 when closed. The stream
  /// still owns it.
  int native_handle() const noexcept;

private:
  detail::tcp_impl* m_impl = nullptr;
};

} // namespace zokio::net
