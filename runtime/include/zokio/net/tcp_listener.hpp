#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/net/address.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <cstdint>
#include <string_view>

// A listening TCP socket.
//
// Ownership and threads:
// - A tcp_listener owns a heap `detail::tcp_listener_impl` (src/net/tcp_impl.hpp): the listening
//   socket, the uv_poll_t that watches it and the FIFO of waiting acceptors. It is reference
//   counted like a stream's impl: the object and the open poll handle each hold a reference.
// - The listener belongs to the worker whose task bound it. Accept awaiters live in the
//   awaiting frames and are linked into the FIFO only while suspended; the poll callback (same
//   thread) unlinks one before completing it.
// - Workers share one socket through descriptors of their own: `share()` duplicates the
//   descriptor into a `tcp_listener_share` (a plain owner of it, any thread), and `open()` makes
//   it a listener of the worker that calls it. Every worker's listener polls its own descriptor;
//   when several wake for one connection, the ones whose accept4(2) finds nothing keep waiting.

namespace zokio::detail {

struct tcp_listener_impl;

/// `co_await listener.accept()`.
class tcp_accept_awaiter final : public counted_awaiter<tcp_accept_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::io;

  tcp_accept_awaiter(tcp_listener_impl* l, const site& where) noexcept
      : counted_awaiter<tcp_accept_awaiter>(where), m_impl(l) {}
  tcp_accept_awaiter(const tcp_accept_awaiter& o) noexcept
      : counted_awaiter<tcp_accept_awaiter>(o), m_impl(o.m_impl) {}
  tcp_accept_awaiter& operator=(const tcp_accept_awaiter&) = delete;
  ~tcp_accept_awaiter();

  bool ready() noexcept;
  bool arm();
  bool withdraw() noexcept;
  result<net::tcp_stream> take();

  // Owner thread only.
  tcp_listener_impl* m_impl;
  tcp_accept_awaiter* m_prev = nullptr;
  tcp_accept_awaiter* m_next = nullptr;
  tcp_impl* m_stream = nullptr; // the accepted connection, until take() hands it over
  int m_status = 0;             // a negative errno / libuv status
};

} // namespace zokio::detail

namespace zokio::net {

/// Options of `tcp_listener::bind`: `bind("0.0.0.0", 8080, {.backlog = 4096})`.
struct tcp_listener_options {
  /// listen(2)'s backlog: connections the kernel completes and queues while nobody accepts.
  int backlog = 1024;
  /// SO_REUSEPORT, an explicit opt-in: several sockets may bind the same address and port, and
  /// the kernel spreads incoming connections over them. Every one of them must set it, and any
  /// socket of the same user that sets it may join, another process too: a second server
  /// started on the same port then shares the traffic silently instead of failing with
  /// `address_in_use`. To serve one port from several workers of one runtime, bind once and
  /// hand the other workers `share()`s of the listener instead.
  bool reuse_port = false;
};

class tcp_listener;

/// A listening socket on its way to another worker: `tcp_listener::share()` makes it (a
/// duplicate of the listener's descriptor) and `tcp_listener::open(std::move(share))`, called
/// on the receiving worker, turns it into that worker's own listener on the same socket.
///
/// Thread-safety: move-only; any thread may hold, move or destroy it (pass it by value into a
/// task spawned with `spawn_on`). One that is never opened closes its descriptor when destroyed.
class tcp_listener_share {
public:
  tcp_listener_share() noexcept = default;
  tcp_listener_share(tcp_listener_share&& o) noexcept : m_fd(o.m_fd) { o.m_fd = -1; }
  tcp_listener_share& operator=(tcp_listener_share&& o) noexcept;
  tcp_listener_share(const tcp_listener_share&) = delete;
  tcp_listener_share& operator=(const tcp_listener_share&) = delete;
  ~tcp_listener_share();

  /// False when moved from, opened, or default-constructed.
  bool valid() const noexcept { return m_fd >= 0; }

private:
  friend class tcp_listener;
  explicit tcp_listener_share(int fd) noexcept : m_fd(fd) {}
  int m_fd = -1;
};

/// A TCP listening socket on the current worker.
///
/// Connections that arrive while no task accepts wait in the kernel's backlog: the listener
/// accepts on demand, so a server that stops accepting pushes back on its clients instead of
/// piling up sockets.
///
/// Thread-safety: the listener belongs to the worker whose task bound it; accept (and destroy
/// it) only from tasks on that worker. Debug builds assert it. Move-only.
class tcp_listener {
public:
  tcp_listener() noexcept = default;
  explicit tcp_listener(detail::tcp_listener_impl* impl) noexcept : m_impl(impl) {}
  tcp_listener(tcp_listener&& o) noexcept : m_impl(o.m_impl) { o.m_impl = nullptr; }
  tcp_listener& operator=(tcp_listener&& o) noexcept;
  tcp_listener(const tcp_listener&) = delete;
  tcp_listener& operator=(const tcp_listener&) = delete;
  ~tcp_listener();

  /// Binds and listens on `host`:`port` (port 0 picks a free port: see `local_port()`).
  /// `host` is a numeric IPv4/IPv6 address, `"localhost"` (127.0.0.1), or `""`/`"*"` (every
  /// IPv4 interface); binding is synchronous, so names are not resolved.
  ///
  /// Errors: `std::errc::address_in_use`, `permission_denied`, `invalid_argument` (a host that
  /// is not an address), `too_many_files_open`. Throws `no_runtime_error` outside a runtime.
  static result<tcp_listener> bind(std::string_view host, std::uint16_t port,
                                   tcp_listener_options options = {});
  static result<tcp_listener> bind(const socket_address& address,
                                   tcp_listener_options options = {});

  /// A share of this listening socket for another worker of the runtime (see
  /// `tcp_listener_share`): bind once, then give each other worker a share to `open`, and every
  /// worker accepts from the one socket. Unlike `reuse_port`, nothing outside the runtime can
  /// join: a second server on the same port gets `address_in_use`. The socket stays bound until
  /// the last listener on it (and the last unopened share) is closed.
  ///
  /// Errors: `std::errc::bad_file_descriptor` on a closed listener, `too_many_files_open`.
  /// Call it on the listener's worker.
  result<tcp_listener_share> share() const noexcept;

  /// Listens on the current worker on a shared socket (`share()`). The new listener is this
  /// worker's own, with its own acceptors, and closing it leaves the other workers' listeners
  /// open. Errors: `std::errc::invalid_argument` for an empty share; the share is consumed
  /// either way. Throws `no_runtime_error` outside a runtime.
  static result<tcp_listener> open(tcp_listener_share share);

  /// Waits for a connection and returns it as a stream owned by the current worker.
  ///
  /// Errors: `std::errc::too_many_files_open` (or `too_many_files_open_in_system`,
  /// `no_buffer_space`, `not_enough_memory`) when the process cannot take one more socket: the
  /// connection stays in the backlog and the listener keeps working, but accepting again at once
  /// fails again, so back off (sleep) before retrying. `std::errc::bad_file_descriptor` on a closed
  /// listener. Cancellation (cancel-safe): the waiting acceptor is withdrawn and the await returns
  /// `std::errc::operation_canceled`; no connection is lost. Several tasks may accept at once;
  /// they are served in order.
  detail::tcp_accept_awaiter accept(site where = site::current()) noexcept {
    return detail::tcp_accept_awaiter(m_impl, where);
  }

  /// Stops listening. Waiting acceptors complete with `std::errc::operation_canceled`.
  /// Idempotent; the destructor calls it.
  void close() noexcept;
  bool is_open() const noexcept;
  /// The bound port (the one picked for port 0); 0 when closed.
  std::uint16_t local_port() const noexcept;
  result<socket_address> local_address() const noexcept;
  /// The listening socket's file descriptor, -1 when closed. The listener still owns it.
  int native_handle() const noexcept;

private:
  detail::tcp_listener_impl* m_impl = nullptr;
};

} // namespace zokio::net
