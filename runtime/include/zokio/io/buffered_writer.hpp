#pragma once

#include <zokio/io/stream.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

// A write buffer in front of a stream.
//
// Ownership and threads: the writer owns its buffer, and owns or borrows the stream (as
// buffered_reader does). It is used from one task at a time, on the worker that owns the
// stream; a flush keeps `this` and hands the buffer to the stream's write_all, so the writer
// stays in place (not moved, not destroyed, not written to) until that await completes.

namespace zokio::io {

/// Options of a `buffered_writer`, with designated initializers.
struct buffered_writer_options {
  /// Bytes gathered before they are written out. A write of at least this many bytes is not
  /// copied: it goes to the stream together with what is buffered.
  std::size_t capacity = 8 * 1024;
};

/// Gathers small writes into one buffer and writes it with one `write_all` when it is full or
/// on `flush()`: Tokio's `BufWriter`.
///
/// ```
/// zokio::io::buffered_writer out(stream);   // borrows `stream` (an lvalue); an rvalue is owned
/// co_await out.write("HTTP/1.1 200 OK\r\n");
/// co_await out.write(body);
/// if (auto r = co_await out.flush(); !r) { ... r.error() ... }
/// ```
///
/// `Stream` is the stream type (owned) or a reference to it (borrowed), deduced as for
/// `buffered_reader`, so a reader and a writer can share one stream.
///
/// Bytes leave only when the buffer fills or on `flush()`. Destroying the writer (or calling
/// `into_inner`) with bytes still buffered loses them, silently, as in Tokio: flush first.
///
/// Errors are the stream's (`std::errc::broken_pipe`, `connection_reset`, ...); a write that
/// only copies into the buffer cannot fail, so a broken connection may show only at the next
/// flush. After a failed write to the stream, how much of the buffer reached the peer is
/// unknown: the buffer is emptied, and the stream should be closed.
///
/// Cancellation behaves like the stream's `write_all` (for a tcp_stream, cancelling a write that
/// waits closes the stream, and the await returns `std::errc::operation_canceled`); the buffer
/// is emptied as for an error.
///
/// Thread-safety: none; use it from one task at a time, on the stream's worker. Starting an
/// operation while another one of the same writer is pending throws `std::logic_error`.
template <typename Stream>
  requires async_write_stream<std::remove_reference_t<Stream>>
class buffered_writer {
public:
  using stream_type = std::remove_reference_t<Stream>;

  // type_identity_t: the deduction guides below decide between owning and borrowing.
  explicit buffered_writer(std::type_identity_t<Stream> stream,
                           buffered_writer_options options = {})
      : m_stream(std::forward<Stream>(stream)),
        m_capacity(std::max<std::size_t>(options.capacity, 1)) {}

  buffered_writer(buffered_writer&&) noexcept = default;
  buffered_writer(const buffered_writer&) = delete;
  buffered_writer& operator=(const buffered_writer&) = delete;

  /// Appends `bytes` to the buffer, writing the buffer out first when they do not fit; at least
  /// `capacity` bytes go to the stream at once, behind the buffered ones (one writev when the
  /// stream has the two-buffer `write_all`, as tcp_stream). `bytes` must stay valid until the
  /// await completes. Errors and cancellation: see the class comment.
  task<result<void>> write(std::span<const std::byte> bytes, site where = site::current()) {
    const detail::exclusive_operation busy(m_busy, busy_message);
    if (m_len + bytes.size() <= m_capacity) {
      append(bytes);
      co_return result<void>{};
    }
    if (bytes.size() < m_capacity) {
      const result<void> r = co_await write_out(where);
      if (!r.ok()) {
        co_return r;
      }
      append(bytes);
      co_return result<void>{};
    }
    if constexpr (detail::writes_two_buffers<stream_type>) {
      if (m_len > 0) {
        const std::span<const std::byte> held(m_data.get(), m_len);
        const result<void> r = co_await stream().write_all(held, bytes, where);
        m_len = 0;
        co_return r;
      }
    } else {
      const result<void> r = co_await write_out(where);
      if (!r.ok()) {
        co_return r;
      }
    }
    co_return co_await detail::write_all_at(stream(), bytes, where);
  }

  /// `write` of the characters of `text`, which must stay valid until the await completes.
  task<result<void>> write(std::string_view text, site where = site::current()) {
    return write(std::as_bytes(std::span<const char>(text.data(), text.size())), where);
  }

  /// Writes the buffered bytes with one `write_all` and empties the buffer. With nothing
  /// buffered, completes at once. Errors and cancellation: see the class comment.
  task<result<void>> flush(site where = site::current()) {
    const detail::exclusive_operation busy(m_busy, busy_message);
    co_return co_await write_out(where);
  }

  /// The bytes written to the writer and not yet to the stream.
  std::span<const std::byte> buffered() const noexcept {
    if (m_len == 0) {
      return {};
    }
    return {m_data.get(), m_len};
  }

  std::size_t capacity() const noexcept { return m_capacity; }

  /// The stream, for its other operations (`shutdown` after a flush, `close`, ...).
  stream_type& get() noexcept { return m_stream; }
  const stream_type& get() const noexcept { return m_stream; }

  /// Gives the stream back (or the reference, for a borrowing writer). The buffered bytes are
  /// lost: flush first.
  Stream into_inner() && noexcept(std::is_nothrow_move_constructible_v<Stream>) {
    return std::forward<Stream>(m_stream);
  }

private:
  static constexpr const char* busy_message =
      "zokio::io::buffered_writer: an operation started while another one is pending";

  stream_type& stream() noexcept { return m_stream; }

  void append(std::span<const std::byte> bytes) {
    if (bytes.empty()) {
      return;
    }
    if (!m_data) {
      m_data = std::make_unique_for_overwrite<std::byte[]>(m_capacity);
    }
    std::memcpy(m_data.get() + m_len, bytes.data(), bytes.size());
    m_len += bytes.size();
  }

  /// The buffer to the stream, emptied whatever the outcome.
  task<result<void>> write_out(site where) {
    if (m_len == 0) {
      co_return result<void>{};
    }
    const result<void> r = co_await detail::write_all_at(
        stream(), std::span<const std::byte>(m_data.get(), m_len), where);
    m_len = 0;
    co_return r;
  }

  Stream m_stream;
  std::size_t m_capacity;
  std::unique_ptr<std::byte[]> m_data; // m_capacity bytes, allocated by the first write
  std::size_t m_len = 0;               // bytes buffered at m_data
  bool m_busy = false;                 // an operation is pending
};

template <typename S>
buffered_writer(S&&) -> buffered_writer<S>;
template <typename S>
buffered_writer(S&&, buffered_writer_options) -> buffered_writer<S>;

} // namespace zokio::io
