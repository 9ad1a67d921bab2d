#include <zokio/net/tcp_listener.hpp>

#include "net/tcp_impl.hpp"
#include "util/uv_error.hpp"

#include <cerrno>
#include <new>
#include <utility>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

// Why the listener polls its socket and calls accept4(2) itself instead of using uv_listen:
// libuv accepts as soon as the socket is readable, whether or not anybody accepts, and on
// EMFILE it uses its reserve descriptor to accept and close every pending connection without
// telling the program (uv__emfile_trick). Here connections stay in the kernel's backlog until a
// task accepts, and running out of descriptors is an error the accepting task sees.

namespace zokio::detail {

namespace {

/// One accept4(2): a descriptor, or -1 with `*err` a negative errno (-EAGAIN: none pending).
/// Errors that concern only the connection being accepted are skipped, as accept(2) advises.
int accept_one(int listen_fd, int* err) noexcept {
  for (;;) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      return fd;
    }
    switch (errno) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      continue;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
      *err = -EAGAIN;
      return -1;
    default:
      *err = -errno;
      return -1;
    }
  }
}

void stop_polling(tcp_listener_impl* l) noexcept {
  if (l->m_polling) {
    l->m_polling = false;
    uv_poll_stop(&l->m_poll);
  }
}

/// Completes `a` with an accepted descriptor (or with the error of wrapping it).
void hand_over(tcp_listener_impl* l, tcp_accept_awaiter* a, int fd) noexcept {
  int err = 0;
  a->m_stream = tcp_impl::adopt(l->m_owner, fd, &err);
  if (a->m_stream == nullptr) {
    a->m_status = err;
  }
  a->fire();
}

void on_poll(uv_poll_t* p, int status, int) noexcept {
  auto* l = static_cast<tcp_listener_impl*>(p->data);
  if (status < 0) {
    stop_polling(l);
    if (tcp_accept_awaiter* a = l->pop()) {
      a->m_status = status;
      a->fire();
    }
    return;
  }
  if (l->m_head == nullptr) {
    // Nobody accepts: stop watching and leave the connections in the backlog. Polling stays on
    // while acceptors keep coming back, so an accept loop costs no epoll_ctl per connection.
    stop_polling(l);
    return;
  }
  while (l->m_head != nullptr) {
    int err = 0;
    const int fd = accept_one(l->m_fd, &err);
    if (fd < 0) {
      if (err != -EAGAIN) {
        // Out of descriptors (or memory): the first acceptor gets the error. Polling stops until
        // an acceptor comes back, so a backlog that cannot be drained does not spin the loop.
        stop_polling(l);
        tcp_accept_awaiter* a = l->pop();
        a->m_status = err;
        a->fire();
      }
      return;
    }
    hand_over(l, l->pop(), fd);
  }
}

} // namespace

tcp_accept_awaiter::~tcp_accept_awaiter() {
  if (m_stream != nullptr) {
    // Accepted, but the task never took it (its frame is going away): close it.
    net::tcp_stream(std::exchange(m_stream, nullptr)).close();
  }
}

bool tcp_accept_awaiter::ready() noexcept {
  tcp_listener_impl* l = m_impl;
  if (l == nullptr || l->m_closing) {
    m_status = UV_EBADF;
    return true;
  }
  ZOKIO_NET_ASSERT_OWNER(l);
  return false;
}

bool tcp_accept_awaiter::arm() {
  tcp_listener_impl* l = m_impl;
  if (l->m_head == nullptr) {
    // Nobody is ahead in the queue: take a pending connection at once if there is one.
    int err = 0;
    const int fd = accept_one(l->m_fd, &err);
    if (fd >= 0) {
      m_stream = tcp_impl::adopt(l->m_owner, fd, &err);
      if (m_stream == nullptr) {
        m_status = err;
      }
      return false;
    }
    if (err != -EAGAIN) {
      m_status = err;
      return false;
    }
  }
  if (!l->m_polling) {
    if (const int rc = uv_poll_start(&l->m_poll, UV_READABLE, on_poll); rc != 0) {
      m_status = rc;
      return false;
    }
    l->m_polling = true;
  }
  l->push(this);
  return true;
}

bool tcp_accept_awaiter::withdraw() noexcept {
  if (!m_linked) {
    return false;
  }
  // Polling stays on; if a connection arrives with nobody waiting, on_poll turns it off.
  m_impl->unlink(this);
  return true;
}

result<net::tcp_stream> tcp_accept_awaiter::take() {
  if (m_cancelled) {
    return std::errc::operation_canceled;
  }
  if (m_stream != nullptr) {
    return net::tcp_stream(std::exchange(m_stream, nullptr));
  }
  return uv_error(m_status < 0 ? m_status : UV_EBADF);
}

} // namespace zokio::detail

namespace zokio::net {

using detail::tcp_listener_impl;

namespace {

result<socket_address> bind_address(std::string_view host, std::uint16_t port) {
  if (host.empty() || host == "*") {
    host = "0.0.0.0";
  } else if (host == "localhost") {
    host = "127.0.0.1";
  }
  return socket_address::parse(host, port);
}

/// Wraps a listening descriptor (non-blocking, close-on-exec) as a listener of worker `w`. The
/// descriptor is the listener's from here on, or closed on failure.
result<tcp_listener> adopt_listening(detail::worker* w, int fd) {
  auto fail = [fd](int e) {
    ::close(fd);
    return std::error_code(e, std::system_category());
  };
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return fail(errno);
  }
  auto* l = new (std::nothrow) tcp_listener_impl;
  if (l == nullptr) {
    return fail(ENOMEM);
  }
  if (const int rc = uv_poll_init_socket(w->loop(), &l->m_poll, fd); rc != 0) {
    delete l; // the handle was not initialised: nothing for libuv to close
    ::close(fd);
    return detail::uv_error(rc);
  }
  l->m_poll.data = l;
  l->m_fd = fd;
  l->m_owner = w;
  w->track_io(l, "poll", [](detail::io_object* o) noexcept {
    static_cast<detail::tcp_listener_impl*>(o)->close();
  });
  l->m_port = socket_address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss)).port();
  uv_unref(reinterpret_cast<uv_handle_t*>(&l->m_poll)); // referenced only while acceptors wait
  return tcp_listener(l);
}

} // namespace

result<tcp_listener> tcp_listener::bind(std::string_view host, std::uint16_t port,
                                        tcp_listener_options options) {
  (void)detail::current_net_worker("zokio::net::tcp_listener::bind");
  result<socket_address> a = bind_address(host, port);
  if (!a.ok()) {
    return a.error();
  }
  return bind(a.value(), options);
}

result<tcp_listener> tcp_listener::bind(const socket_address& address,
                                        tcp_listener_options options) {
  detail::worker* w = detail::current_net_worker("zokio::net::tcp_listener::bind");
  detail::ignore_sigpipe_once();
  if (!address.valid()) {
    return std::errc::invalid_argument;
  }
  const int fd =
      ::socket(address.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return std::error_code(errno, std::system_category());
  }
  auto fail = [fd](int e) {
    ::close(fd);
    return std::error_code(e, std::system_category());
  };
  const int one = 1;
  // SO_REUSEADDR as libuv sets it: a restarted server may bind while old connections linger in
  // TIME_WAIT. Two listening sockets still cannot share a port without SO_REUSEPORT.
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    return fail(errno);
  }
  if (options.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return fail(errno);
  }
  if (::bind(fd, address.data(), address.size()) != 0) {
    return fail(errno);
  }
  if (::listen(fd, options.backlog) != 0) {
    return fail(errno);
  }
  return adopt_listening(w, fd);
}

result<tcp_listener_share> tcp_listener::share() const noexcept {
  if (!is_open()) {
    return std::errc::bad_file_descriptor;
  }
  ZOKIO_NET_ASSERT_OWNER(m_impl);
  // A second descriptor for the same open socket: each worker's listener owns and closes its
  // own, so the socket stays listening until the last of them is closed.
  const int fd = ::fcntl(m_impl->m_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    return std::error_code(errno, std::system_category());
  }
  return tcp_listener_share(fd);
}

result<tcp_listener> tcp_listener::open(tcp_listener_share share) {
  detail::worker* w = detail::current_net_worker("zokio::net::tcp_listener::open");
  if (!share.valid()) {
    return std::errc::invalid_argument;
  }
  return adopt_listening(w, std::exchange(share.m_fd, -1));
}

tcp_listener_share& tcp_listener_share::operator=(tcp_listener_share&& o) noexcept {
  if (this != &o) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = std::exchange(o.m_fd, -1);
  }
  return *this;
}

tcp_listener_share::~tcp_listener_share() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

tcp_listener& tcp_listener::operator=(tcp_listener&& o) noexcept {
  if (this != &o) {
    close();
    m_impl = std::exchange(o.m_impl, nullptr);
  }
  return *this;
}

tcp_listener::~tcp_listener() {
  close();
}

void tcp_listener::close() noexcept {
  if (tcp_listener_impl* l = std::exchange(m_impl, nullptr); l != nullptr) {
    // Closed already (by teardown, when the listener outlived its runtime): only let go.
    if (!l->m_closing) {
      ZOKIO_NET_ASSERT_OWNER(l);
    }
    l->close();
    l->release();
  }
}

bool tcp_listener::is_open() const noexcept {
  return m_impl != nullptr && !m_impl->m_closing;
}

std::uint16_t tcp_listener::local_port() const noexcept {
  return is_open() ? m_impl->m_port : 0;
}

result<socket_address> tcp_listener::local_address() const noexcept {
  if (!is_open()) {
    return std::errc::bad_file_descriptor;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(m_impl->m_fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return std::error_code(errno, std::system_category());
  }
  return socket_address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
}

int tcp_listener::native_handle() const noexcept {
  return is_open() ? m_impl->m_fd : -1;
}

} // namespace zokio::net
