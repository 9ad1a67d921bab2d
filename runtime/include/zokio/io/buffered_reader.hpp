#pragma once

#include <zokio/io/error.hpp>
#include <zokio/io/stream.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

// A read buffer in front of a stream.
//
// Ownership and threads: the reader owns its buffer, and owns or borrows the stream (see the
// class comment). It is used from one task at a time, on the worker that owns the stream; its
// operations are tasks that keep `this` and read into the buffer's free tail, so the reader
// stays in place (not moved, not destroyed) while one of them runs.
//
// Buffer layout: the unread bytes are [m_begin, m_end) of m_data[0, m_size). Bytes a read
// brings in are appended at m_end only once that read completed, so a read that fails or is
// cancelled leaves the unread bytes as they were.

namespace zokio::io {

/// Options of a `buffered_reader`, with designated initializers:
/// `buffered_reader in(s, {.max_line = 1024})`.
struct buffered_reader_options {
  /// Bytes asked of the stream at a time, and the size of the buffer in steady state. Reads of
  /// at least this many bytes with nothing buffered go straight to the caller's buffer.
  std::size_t capacity = 8 * 1024;
  /// The longest line `read_until` and `read_line` accept, delimiter included ("\r\n" counts
  /// 2). A longer line fails with `std::errc::message_size`. The buffer never grows past
  /// `max(capacity, max_line)` bytes for a line, whatever the peer sends.
  std::size_t max_line = 64 * 1024;
};

/// Reads lines, exact byte counts or whatever came, from a stream through a buffer: Tokio's
/// `BufReader`, Asio's `read_until` on a dynamic buffer.
///
/// ```
/// zokio::io::buffered_reader in(stream);  // borrows `stream` (an lvalue)
/// while (auto line = co_await in.read_line()) {
///   ... *line ...
/// }
/// zokio::io::buffered_reader owner(std::move(s));  // owns `s`: owner.get()
/// ```
///
/// `Stream` is the stream type (the reader owns it) or a reference to it (the reader borrows
/// it, and the stream must outlive the reader); class template argument deduction picks the
/// reference for an lvalue and the value for an rvalue, as `std::views::all` does. Writing goes
/// to the stream directly (`in.get().write_all(...)`) or through a `buffered_writer` borrowing
/// the same stream.
///
/// End of stream: a line cut by the end of the stream is returned as it is (without delimiter),
/// and the next read gives `zokio::io::error::eof`; so does a `read_line` or `read_until` with
/// no byte left, and a `read_exact` that gets fewer bytes than it asked for (the bytes it got
/// stay buffered). `read_some` gives 0 at the end of the stream, as the stream does.
///
/// Cancellation of every operation behaves like the stream's `read_some` (cancel-safe for a
/// tcp_stream): the operation returns `std::errc::operation_canceled` and no byte is lost. Bytes
/// it had read stay buffered (part of a line included), and the next operation sees them.
/// `read_exact` consumes nothing unless it returns all the bytes it was asked for.
///
/// Thread-safety: none; use it from one task at a time, on the stream's worker. Starting an
/// operation while another one of the same reader is pending throws `std::logic_error`.
/// Every operation keeps `this` until it completes: the reader must not be moved or destroyed
/// meanwhile. `buffered()` and `consume()` are for use between operations.
template <typename Stream>
  requires async_read_stream<std::remove_reference_t<Stream>>
class buffered_reader {
public:
  using stream_type = std::remove_reference_t<Stream>;

  // type_identity_t: the deduction guides below decide between owning and borrowing.
  explicit buffered_reader(std::type_identity_t<Stream> stream,
                           buffered_reader_options options = {})
      : m_stream(std::forward<Stream>(stream)),
        m_capacity(std::max<std::size_t>(options.capacity, 1)),
        m_max_line(std::max<std::size_t>(options.max_line, 1)) {}

  buffered_reader(buffered_reader&&) noexcept = default;
  buffered_reader(const buffered_reader&) = delete;
  buffered_reader& operator=(const buffered_reader&) = delete;

  /// Reads up to and including the first `delim`, and returns those bytes (delimiter included,
  /// as Tokio's `read_until`). The line may be cut by the end of the stream: see the class
  /// comment. Errors: `std::errc::message_size` when no `delim` is in the first `max_line`
  /// bytes (they stay buffered: close the connection, or `consume()` them to skip ahead),
  /// `zokio::io::error::eof`, and the stream's own errors. Cancellation: see the class comment.
  task<result<std::string>> read_until(char delim, site where = site::current()) {
    const detail::exclusive_operation busy(m_busy, busy_message);
    std::size_t scanned = 0; // bytes already searched for `delim`
    for (;;) {
      const std::size_t limit = std::min(buffered_size(), m_max_line);
      const std::byte* first = m_data.get() + m_begin;
      const void* found =
          scanned < limit ? std::memchr(first + scanned, delim, limit - scanned) : nullptr;
      if (found != nullptr) {
        co_return take_string(
            static_cast<std::size_t>(static_cast<const std::byte*>(found) - first) + 1);
      }
      if (buffered_size() >= m_max_line) {
        co_return std::errc::message_size;
      }
      scanned = buffered_size();
      const result<std::size_t> n = co_await fill(grow_target(), where);
      if (!n.ok()) {
        co_return n.error();
      }
      if (n.value() == 0) {
        if (buffered_size() == 0) {
          co_return make_error_code(error::eof);
        }
        co_return take_string(buffered_size());
      }
    }
  }

  /// `read_until('\n')` without its line ending: a trailing "\n" or "\r\n" is removed (a line
  /// cut by the end of the stream has none). As `read_until`: `max_line` counts the ending.
  task<result<std::string>> read_line(site where = site::current()) {
    result<std::string> line = co_await read_until('\n', where);
    if (line.ok()) {
      std::string& s = line.value();
      if (!s.empty() && s.back() == '\n') {
        s.pop_back();
        if (!s.empty() && s.back() == '\r') {
          s.pop_back();
        }
      }
    }
    co_return line;
  }

  /// Fills all of `buf`; `buf` must stay valid until the await completes. Fewer bytes than
  /// `buf.size()` before the end of the stream gives `zokio::io::error::eof`; the bytes that
  /// came stay buffered, and `buf` holds a copy of them. Up to `max(capacity, max_line)` bytes
  /// are read through the buffer; more go straight into `buf` (and back into the buffer if the
  /// read fails). Cancellation: see the class comment; nothing is consumed.
  task<result<void>> read_exact(std::span<std::byte> buf, site where = site::current()) {
    const detail::exclusive_operation busy(m_busy, busy_message);
    const std::size_t n = buf.size();
    if (buffered_size() < n && n <= max_buffer()) {
      while (buffered_size() < n) {
        const result<std::size_t> got = co_await fill(n, where);
        if (!got.ok()) {
          co_return got.error();
        }
        if (got.value() == 0) {
          copy_to(buf, buffered_size());
          co_return make_error_code(error::eof);
        }
      }
    }
    if (buffered_size() >= n) {
      copy_to(buf, n);
      consume(n);
      co_return result<void>{};
    }
    // Too big for the buffer: what is buffered first, then straight from the stream. On failure
    // the bytes read into `buf` go back into the buffer behind the ones that were there.
    const std::size_t had = buffered_size();
    copy_to(buf, had);
    std::size_t filled = had;
    while (filled < n) {
      const result<std::size_t> got =
          co_await detail::read_some_at(stream(), buf.subspan(filled), where);
      if (!got.ok() || got.value() == 0) {
        append(buf.subspan(had, filled - had));
        if (!got.ok()) {
          co_return got.error();
        }
        co_return make_error_code(error::eof);
      }
      filled += got.value();
    }
    consume(had);
    co_return result<void>{};
  }

  /// Reads exactly `n` bytes into a new vector. As `read_exact(buf)`; the vector takes `n`
  /// bytes at once, so `n` must come from something the caller trusts (or is bounded).
  task<result<std::vector<std::byte>>> read_exact(std::size_t n, site where = site::current()) {
    std::vector<std::byte> out(n);
    const result<void> r = co_await read_exact(std::span<std::byte>(out), where);
    if (!r.ok()) {
      co_return r.error();
    }
    co_return std::move(out);
  }

  /// Reads at least 1 and at most `buf.size()` bytes, from the buffer when it holds any (then
  /// without waiting), else from the stream; 0 at the end of the stream. `buf` must stay valid
  /// until the await completes. Cancellation: see the class comment.
  task<result<std::size_t>> read_some(std::span<std::byte> buf, site where = site::current()) {
    const detail::exclusive_operation busy(m_busy, busy_message);
    if (buf.empty()) {
      co_return std::size_t{0};
    }
    if (buffered_size() == 0) {
      if (buf.size() >= m_capacity) {
        co_return co_await detail::read_some_at(stream(), buf, where);
      }
      const result<std::size_t> got = co_await fill(m_capacity, where);
      if (!got.ok() || got.value() == 0) {
        co_return got;
      }
    }
    const std::size_t k = std::min(buf.size(), buffered_size());
    copy_to(buf, k);
    consume(k);
    co_return k;
  }

  /// The buffered bytes, reading from the stream first when there are none (Tokio's
  /// `fill_buf`). Empty at the end of the stream. The view is valid until the next operation or
  /// `consume`; call `consume(k)` for the bytes used. Cancellation: see the class comment.
  task<result<std::span<const std::byte>>> fill_buf(site where = site::current()) {
    const detail::exclusive_operation busy(m_busy, busy_message);
    if (buffered_size() == 0) {
      const result<std::size_t> got = co_await fill(m_capacity, where);
      if (!got.ok()) {
        co_return got.error();
      }
    }
    co_return buffered();
  }

  /// The bytes read from the stream and not consumed yet. Valid until the next operation or
  /// `consume`.
  std::span<const std::byte> buffered() const noexcept {
    if (buffered_size() == 0) {
      return {};
    }
    return {m_data.get() + m_begin, buffered_size()};
  }

  /// Drops the first `n` buffered bytes (at most all of them).
  void consume(std::size_t n) noexcept {
    m_begin += std::min(n, buffered_size());
    if (m_begin == m_end) {
      m_begin = m_end = 0;
      if (m_size > m_capacity) {
        // A long line or a failed large read_exact grew the buffer: give that memory back.
        m_data.reset();
        m_size = 0;
      }
    }
  }

  /// The bytes allocated for the buffer now (0 before the first read): at most
  /// `max(capacity, max_line)`, except while the bytes of a failed large `read_exact` are
  /// buffered. A buffer grown past `capacity` is freed once drained.
  std::size_t buffer_size() const noexcept { return m_size; }

  /// The stream, for writing to it or for its other operations. Reading from it directly
  /// skips the buffered bytes.
  stream_type& get() noexcept { return m_stream; }
  const stream_type& get() const noexcept { return m_stream; }

  /// Gives the stream back (or the reference, for a borrowing reader). The buffered bytes are
  /// lost: take them with `buffered()` first.
  Stream into_inner() && noexcept(std::is_nothrow_move_constructible_v<Stream>) {
    return std::forward<Stream>(m_stream);
  }

private:
  static constexpr const char* busy_message =
      "zokio::io::buffered_reader: an operation started while another one is pending";

  stream_type& stream() noexcept { return m_stream; }
  std::size_t buffered_size() const noexcept { return m_end - m_begin; }
  std::size_t max_buffer() const noexcept { return std::max(m_capacity, m_max_line); }

  /// How many bytes the buffer should hold for the next read of a line: double, within bounds.
  std::size_t grow_target() const noexcept {
    return std::min(max_buffer(), std::max(m_capacity, 2 * buffered_size()));
  }

  /// Makes the buffer hold at least `want` bytes (`want` > buffered bytes), unread bytes first,
  /// so that the free tail is not empty.
  void make_room(std::size_t want) {
    const std::size_t have = buffered_size();
    if (m_size < want) {
      const std::size_t size = std::max(want, m_capacity);
      std::unique_ptr<std::byte[]> data = std::make_unique_for_overwrite<std::byte[]>(size);
      if (have > 0) {
        std::memcpy(data.get(), m_data.get() + m_begin, have);
      }
      m_data = std::move(data);
      m_size = size;
    } else if (m_size - m_begin < want || m_end == m_size) {
      std::memmove(m_data.get(), m_data.get() + m_begin, have);
    } else {
      return;
    }
    m_begin = 0;
    m_end = have;
  }

  /// One read from the stream into the free tail, the buffer made to hold `want` bytes first.
  /// The bytes count only once the read completed.
  task<result<std::size_t>> fill(std::size_t want, site where) {
    make_room(std::max(want, buffered_size() + 1));
    const result<std::size_t> got = co_await detail::read_some_at(
        stream(), std::span<std::byte>(m_data.get() + m_end, m_size - m_end), where);
    if (got.ok()) {
      m_end += got.value();
    }
    co_return got;
  }

  void append(std::span<const std::byte> bytes) {
    if (bytes.empty()) {
      return;
    }
    make_room(buffered_size() + bytes.size());
    std::memcpy(m_data.get() + m_end, bytes.data(), bytes.size());
    m_end += bytes.size();
  }

  void copy_to(std::span<std::byte> out, std::size_t n) const noexcept {
    if (n > 0) {
      std::memcpy(out.data(), m_data.get() + m_begin, n);
    }
  }

  std::string take_string(std::size_t n) {
    std::string s(reinterpret_cast<const char*>(m_data.get() + m_begin), n);
    consume(n);
    return s;
  }

  Stream m_stream;
  std::size_t m_capacity;
  std::size_t m_max_line;
  std::unique_ptr<std::byte[]> m_data;
  std::size_t m_size = 0;  // bytes allocated at m_data
  std::size_t m_begin = 0; // first unread byte
  std::size_t m_end = 0;   // one past the last unread byte
  bool m_busy = false;     // an operation is pending
};

template <typename S>
buffered_reader(S&&) -> buffered_reader<S>;
template <typename S>
buffered_reader(S&&, buffered_reader_options) -> buffered_reader<S>;

} // namespace zokio::io
