#include <zokio/net/udp.hpp>

#include "runtime/worker.hpp"
#include "util/uv_error.hpp"

#include <uv.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

// The state behind a udp_socket. It embeds the uv_udp_t, so it is freed in the handle's close
// callback, never earlier. Owner thread only: the worker that bound the socket runs every
// callback and every task that touches it.

namespace zokio::detail {

struct udp_state;
void close_udp(udp_state* s) noexcept;
void release_udp(udp_state* s) noexcept;

struct udp_state : io_object {
  uv_udp_t handle;
  worker* owner = nullptr;
  unsigned refs = 2;    // the udp_socket, and the open handle (dropped in its close callback)
  bool closing = false; // closed by its socket, or by teardown when it outlived the runtime
  // Waiting receivers, first come first served; the socket reads only while this is not empty.
  udp_recv_awaiter* head = nullptr;
  udp_recv_awaiter* tail = nullptr;
  // Where a receiver with an empty buffer receives: libuv needs room for at least one byte.
  char scratch[1] = {};
};

namespace {

// Addresses stay private to this file: a host is a numeric IPv4 or IPv6 address or
// "localhost"; names are resolved elsewhere (uv_getaddrinfo), never here.
int parse_address(std::string_view host, std::uint16_t port, sockaddr_storage& out) noexcept {
  char text[64];
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  if (host.empty() || host.size() >= sizeof text) {
    return UV_EINVAL;
  }
  std::memcpy(text, host.data(), host.size());
  text[host.size()] = '\0';
  std::memset(&out, 0, sizeof out);
  if (host.find(':') != std::string_view::npos) {
    return uv_ip6_addr(text, port, reinterpret_cast<sockaddr_in6*>(&out));
  }
  return uv_ip4_addr(text, port, reinterpret_cast<sockaddr_in*>(&out));
}

void address_to_host_port(const sockaddr* addr, std::string& host, std::uint16_t& port) {
  char text[64] = {};
  if (addr->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(addr);
    uv_ip6_name(a, text, sizeof text);
    port = ntohs(a->sin6_port);
  } else if (addr->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(addr);
    uv_ip4_name(a, text, sizeof text);
    port = ntohs(a->sin_port);
  } else {
    port = 0;
  }
  host.assign(text);
}

struct udp_send_req {
  uv_udp_send_t req;
  udp_send_awaiter* owner;
};

void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
  auto* s = static_cast<udp_state*>(h->data);
  udp_recv_awaiter* r = s->head;
  if (r == nullptr) {
    *buf = uv_buf_init(nullptr, 0); // nobody waits: libuv reports UV_ENOBUFS, which is ignored
  } else if (r->m_buf.empty()) {
    *buf = uv_buf_init(s->scratch, sizeof s->scratch);
  } else {
    *buf = uv_buf_init(reinterpret_cast<char*>(r->m_buf.data()),
                       static_cast<unsigned>(std::min<std::size_t>(r->m_buf.size(), 1u << 30)));
  }
}

void stop_if_idle(udp_state* s) noexcept {
  if (s->head == nullptr) {
    uv_udp_recv_stop(&s->handle);
  }
}

udp_recv_awaiter* pop_receiver(udp_state* s) noexcept {
  udp_recv_awaiter* r = s->head;
  if (r != nullptr) {
    s->head = r->m_next;
    if (s->head == nullptr) {
      s->tail = nullptr;
    }
    r->m_next = nullptr;
    r->m_linked = false;
  }
  return r;
}

void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
             unsigned flags) noexcept {
  auto* s = static_cast<udp_state*>(h->data);
  if (nread == 0 && addr == nullptr) {
    return; // nothing more to read now (EAGAIN), not an empty datagram
  }
  if (nread == UV_ENOBUFS && s->head == nullptr) {
    return;
  }
  udp_recv_awaiter* r = pop_receiver(s);
  if (r == nullptr) {
    stop_if_idle(s);
    return;
  }
  if (nread < 0) {
    r->m_status = static_cast<int>(nread);
  } else {
    const bool scratch = buf->base == s->scratch;
    r->m_info.size = scratch ? 0 : static_cast<std::size_t>(nread);
    r->m_info.truncated = (flags & UV_UDP_PARTIAL) != 0 || (scratch && nread > 0);
    if (addr != nullptr) {
      address_to_host_port(addr, r->m_info.host, r->m_info.port);
    }
  }
  r->fire(); // queues the task; it runs after this callback has returned
  // Stopping here also ends libuv's batch of reads for this wake-up: nobody is left to read for.
  stop_if_idle(s);
}

} // namespace

bool udp_recv_awaiter::arm() {
  udp_state* s = m_state;
  assert(t_worker == s->owner && "a udp_socket is used only on the worker that bound it");
  const bool first = s->head == nullptr;
  m_next = nullptr;
  if (s->tail != nullptr) {
    s->tail->m_next = this;
  } else {
    s->head = this;
  }
  s->tail = this;
  m_linked = true;
  if (first) {
    if (int rc = uv_udp_recv_start(&s->handle, &on_alloc, &on_recv); rc != 0) {
      pop_receiver(s);
      m_status = rc;
      return false;
    }
  }
  return true;
}

bool udp_recv_awaiter::withdraw() noexcept {
  udp_state* s = m_state;
  if (!m_linked) {
    return false; // completed: the wake is already queued
  }
  udp_recv_awaiter* prev = nullptr;
  for (udp_recv_awaiter* r = s->head; r != nullptr; prev = r, r = r->m_next) {
    if (r == this) {
      (prev != nullptr ? prev->m_next : s->head) = m_next;
      if (s->tail == this) {
        s->tail = prev;
      }
      break;
    }
  }
  m_next = nullptr;
  m_linked = false;
  stop_if_idle(s);
  return true;
}

result<net::datagram_info> udp_recv_awaiter::take() {
  if (m_cancelled) {
    return std::errc::operation_canceled;
  }
  if (m_state == nullptr) {
    return std::errc::bad_file_descriptor;
  }
  if (m_status < 0) {
    return uv_error(m_status);
  }
  return std::move(m_info);
}

bool udp_send_awaiter::ready() noexcept {
  if (m_done) {
    return true;
  }
  m_done = true;
  if (m_state == nullptr) {
    m_status = -EBADF;
    return true;
  }
  sockaddr_storage to;
  if (int rc = parse_address(m_host, m_port, to); rc != 0) {
    m_status = rc;
    return true;
  }
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(m_buf.data())),
                             static_cast<unsigned>(m_buf.size()));
  const int rc = uv_udp_try_send(&m_state->handle, &buf, 1, reinterpret_cast<const sockaddr*>(&to));
  if (rc == UV_EAGAIN) {
    m_done = false; // the socket is busy (or sends are queued): queue this one behind them
    return false;
  }
  m_status = rc < 0 ? rc : 0;
  return true;
}

bool udp_send_awaiter::arm() {
  udp_state* s = m_state;
  assert(t_worker == s->owner && "a udp_socket is used only on the worker that bound it");
  sockaddr_storage to;
  if (int rc = parse_address(m_host, m_port, to); rc != 0) {
    m_status = rc;
    m_done = true;
    return false;
  }
  auto* r = new udp_send_req{{}, this};
  r->req.data = r;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(m_buf.data())),
                             static_cast<unsigned>(m_buf.size()));
  const int rc = uv_udp_send(&r->req, &s->handle, &buf, 1, reinterpret_cast<const sockaddr*>(&to),
                             [](uv_udp_send_t* req, int status) {
                               auto* r = static_cast<udp_send_req*>(req->data);
                               udp_send_awaiter* a = r->owner;
                               delete r;
                               a->m_status = status;
                               a->m_done = true;
                               a->fire();
                             });
  if (rc != 0) {
    delete r;
    m_status = rc;
    m_done = true;
    return false;
  }
  return true;
}

result<std::size_t> udp_send_awaiter::take() {
  if (m_cancelled || m_withdrawn) {
    return std::errc::operation_canceled;
  }
  if (m_status < 0) {
    return uv_error(m_status);
  }
  return m_buf.size();
}

void release_udp(udp_state* s) noexcept {
  if (--s->refs == 0) {
    delete s;
  }
}

void close_udp(udp_state* s) noexcept {
  if (s->closing) {
    return;
  }
  s->closing = true;
  worker::untrack_io(s);
  // libuv does not call the receive callback of a closing handle: fail the receivers here.
  while (udp_recv_awaiter* r = pop_receiver(s)) {
    r->m_status = UV_ECANCELED;
    r->fire();
  }
  // Queued sends complete with UV_ECANCELED before the close callback lets go of the state.
  uv_close(reinterpret_cast<uv_handle_t*>(&s->handle),
           [](uv_handle_t* h) { release_udp(static_cast<udp_state*>(h->data)); });
}

} // namespace zokio::detail

namespace zokio::net {

result<udp_socket> udp_socket::bind(std::string_view host, std::uint16_t port) {
  auto* w = static_cast<detail::worker*>(detail::t_worker);
  if (w == nullptr) {
    detail::throw_no_runtime("zokio::net::udp_socket::bind");
  }
  sockaddr_storage addr;
  if (int rc = detail::parse_address(host, port, addr); rc != 0) {
    return detail::uv_error(rc);
  }
  auto* s = new detail::udp_state;
  s->owner = w;
  if (int rc = uv_udp_init(w->loop(), &s->handle); rc != 0) {
    delete s; // init failed: libuv does not know the handle
    return detail::uv_error(rc);
  }
  s->handle.data = s;
  w->track_io(s, "udp", [](detail::io_object* o) noexcept {
    detail::close_udp(static_cast<detail::udp_state*>(o));
  });
  udp_socket sock(s); // closes the handle on the error paths below
  if (int rc = uv_udp_bind(&s->handle, reinterpret_cast<const sockaddr*>(&addr), 0); rc != 0) {
    return detail::uv_error(rc);
  }
  return sock;
}

std::uint16_t udp_socket::local_port() const noexcept {
  if (m_state == nullptr) {
    return 0;
  }
  sockaddr_storage addr;
  int len = sizeof addr;
  if (uv_udp_getsockname(&m_state->handle, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return 0;
  }
  std::string host;
  std::uint16_t port = 0;
  detail::address_to_host_port(reinterpret_cast<const sockaddr*>(&addr), host, port);
  return port;
}

void udp_socket::close() noexcept {
  detail::udp_state* s = std::exchange(m_state, nullptr);
  if (s == nullptr) {
    return;
  }
  // Closed already (by teardown, when the socket outlived its runtime): only let go.
  assert((s->closing || detail::t_worker == s->owner) &&
         "a udp_socket is closed on the worker that bound it");
  detail::close_udp(s);
  detail::release_udp(s);
}

} // namespace zokio::net
