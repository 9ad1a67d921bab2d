#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

// UDP sockets on the worker's libuv loop.
//
// Ownership and threads: a udp_socket owns a heap state (src/net/udp_socket.cpp) holding the
// uv_udp_t; closing hands it to libuv, which frees it in the close callback. Everything runs on
// the thread of the worker that bound the socket. Receivers wait in a FIFO linked through their
// awaiters (inside suspended frames); the socket reads (uv_udp_recv_start) only while that FIFO
// is not empty, straight into the first receiver's buffer. A send goes out at once when the
// socket can take it (uv_udp_try_send); otherwise a heap request is queued, freed in its
// callback.

namespace zokio::net {

class udp_socket;

/// What `udp_socket::recv_from` received.
struct datagram_info {
  /// Bytes stored in the buffer.
  std::size_t size = 0;
  /// The sender's numeric address ("127.0.0.1", "::1") and port.
  std::string host;
  std::uint16_t port = 0;
  /// The datagram was larger than the buffer; the rest is lost.
  bool truncated = false;
};

} // namespace zokio::net

namespace zokio::detail {

struct udp_state;

class udp_recv_awaiter final : public counted_awaiter<udp_recv_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::io;

  udp_recv_awaiter(udp_state* s, std::span<std::byte> buf, const site& where) noexcept
      : counted_awaiter<udp_recv_awaiter>(where), m_state(s), m_buf(buf) {}

  /// Nothing is buffered: only a waiting receiver reads.
  bool ready() const noexcept { return m_state == nullptr; }
  bool arm();
  bool withdraw() noexcept;
  result<net::datagram_info> take();

  // Written by the socket (owner thread) while the awaiter waits.
  udp_state* m_state;
  std::span<std::byte> m_buf;
  udp_recv_awaiter* m_next = nullptr;
  int m_status = 0; // a negative UV_E* once failed
  net::datagram_info m_info;
};

class udp_send_awaiter final : public counted_awaiter<udp_send_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::io;

  udp_send_awaiter(udp_state* s, std::span<const std::byte> buf, std::string_view host,
                   std::uint16_t port, const site& where) noexcept
      : counted_awaiter<udp_send_awaiter>(where), m_state(s), m_buf(buf), m_host(host),
        m_port(port) {}

  /// Tries to send at once; true when that settled it (sent, or failed for good).
  bool ready() noexcept;
  bool arm();
  /// A queued send cannot be taken back from libuv: the task resumes when it completes (or the
  /// socket closes) and the result is discarded.
  bool withdraw() noexcept {
    m_withdrawn = true;
    return false;
  }
  result<std::size_t> take();

  // Written by the send callback (owner thread) while the awaiter waits.
  udp_state* m_state;
  std::span<const std::byte> m_buf;
  std::string_view m_host;
  std::uint16_t m_port;
  bool m_done = false;
  bool m_withdrawn = false;
  int m_status = 0;
};

} // namespace zokio::detail

namespace zokio::net {

/// A UDP socket bound to a local address.
///
/// Thread-safety: a socket belongs to the worker whose task bound it; use it (and destroy or
/// close it) only from tasks on that worker (debug builds check). Any number of tasks on that
/// worker may send and receive at once; receivers are served first come, first served.
class udp_socket {
public:
  udp_socket() noexcept = default;
  udp_socket(udp_socket&& o) noexcept : m_state(std::exchange(o.m_state, nullptr)) {}
  udp_socket& operator=(udp_socket&& o) noexcept {
    if (this != &o) {
      close();
      m_state = std::exchange(o.m_state, nullptr);
    }
    return *this;
  }
  udp_socket(const udp_socket&) = delete;
  udp_socket& operator=(const udp_socket&) = delete;
  ~udp_socket() { close(); }

  /// Binds a socket on the current worker. `host` is a numeric IPv4 or IPv6 address
  /// ("0.0.0.0", "127.0.0.1", "::") or "localhost" (127.0.0.1); names are not resolved here.
  /// `port` 0 picks a free port (see `local_port()`). Errors: `errc::invalid_argument` for a
  /// host that is not an address, `address_in_use`, ... Throws `no_runtime_error` outside a
  /// runtime.
  static result<udp_socket> bind(std::string_view host, std::uint16_t port);

  /// The bound port, 0 once closed.
  std::uint16_t local_port() const noexcept;

  /// Sends `buf` as one datagram to `host`:`port` (a numeric address or "localhost"). Returns
  /// the bytes sent (all of `buf`). `buf` and `host` must stay valid until the await completes.
  /// Cancellation: a send already queued in libuv is waited for and the await returns
  /// `errc::operation_canceled` (the datagram may have been sent).
  detail::udp_send_awaiter send_to(std::span<const std::byte> buf, std::string_view host,
                                   std::uint16_t port, site where = site::current()) noexcept {
    return detail::udp_send_awaiter(m_state, buf, host, port, where);
  }

  /// Waits for one datagram and stores it in `buf`, which must stay valid until the await
  /// completes. Returns its size and sender; a datagram larger than `buf` is cut (`truncated`).
  /// Cancellation: the receiver is removed (no datagram is lost) and the await returns
  /// `errc::operation_canceled`. Closing the socket fails waiting receivers the same way.
  detail::udp_recv_awaiter recv_from(std::span<std::byte> buf,
                                     site where = site::current()) noexcept {
    return detail::udp_recv_awaiter(m_state, buf, where);
  }

  /// Closes the socket: waiting receivers and queued sends fail with
  /// `errc::operation_canceled`. Idempotent; the destructor calls it.
  void close() noexcept;

  bool is_open() const noexcept { return m_state != nullptr; }

private:
  explicit udp_socket(detail::udp_state* s) noexcept : m_state(s) {}

  detail::udp_state* m_state = nullptr;
};

} // namespace zokio::net
