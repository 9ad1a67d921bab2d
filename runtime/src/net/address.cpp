#include <zokio/net/address.hpp>

#include "net/tcp_impl.hpp"
#include "util/uv_error.hpp"

#include <zokio/detail/awaiter.hpp>

#include <cstring>
#include <new>
#include <string>

#include <arpa/inet.h>
#include <netdb.h>

namespace zokio::net {

socket_address::socket_address() noexcept {
  std::memset(&m_addr, 0, sizeof m_addr);
}

result<socket_address> socket_address::parse(std::string_view ip, std::uint16_t port) {
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') {
    ip = ip.substr(1, ip.size() - 2);
  }
  const std::string s(ip);
  socket_address a;
  if (uv_ip4_addr(s.c_str(), port, &a.m_addr.v4) == 0) {
    return a;
  }
  std::memset(&a.m_addr, 0, sizeof a.m_addr);
  if (s.find(':') != std::string::npos && uv_ip6_addr(s.c_str(), port, &a.m_addr.v6) == 0) {
    return a;
  }
  return std::errc::invalid_argument;
}

socket_address socket_address::from_sockaddr(const sockaddr* sa) noexcept {
  socket_address a;
  if (sa == nullptr) {
    return a;
  }
  if (sa->sa_family == AF_INET) {
    std::memcpy(&a.m_addr.v4, sa, sizeof(sockaddr_in));
  } else if (sa->sa_family == AF_INET6) {
    std::memcpy(&a.m_addr.v6, sa, sizeof(sockaddr_in6));
  }
  return a;
}

socket_address socket_address::loopback_v4(std::uint16_t port) noexcept {
  socket_address a;
  a.m_addr.v4.sin_family = AF_INET;
  a.m_addr.v4.sin_port = htons(port);
  a.m_addr.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

std::uint16_t socket_address::port() const noexcept {
  if (is_v4()) {
    return ntohs(m_addr.v4.sin_port);
  }
  if (is_v6()) {
    return ntohs(m_addr.v6.sin6_port);
  }
  return 0;
}

socklen_t socket_address::size() const noexcept {
  if (is_v4()) {
    return sizeof(sockaddr_in);
  }
  if (is_v6()) {
    return sizeof(sockaddr_in6);
  }
  return 0;
}

std::string socket_address::ip() const {
  char buf[INET6_ADDRSTRLEN + 16] = {};
  if (is_v4()) {
    uv_ip4_name(&m_addr.v4, buf, sizeof buf);
  } else if (is_v6()) {
    uv_ip6_name(&m_addr.v6, buf, sizeof buf);
  }
  return buf;
}

std::string socket_address::to_string() const {
  if (!valid()) {
    return "(none)";
  }
  std::string s;
  if (is_v6()) {
    s += '[';
  }
  s += ip();
  if (is_v6()) {
    s += ']';
  }
  s += ':';
  s += std::to_string(port());
  return s;
}

bool operator==(const socket_address& a, const socket_address& b) noexcept {
  if (a.m_addr.sa.sa_family != b.m_addr.sa.sa_family) {
    return false;
  }
  if (a.is_v4()) {
    return a.m_addr.v4.sin_port == b.m_addr.v4.sin_port &&
           a.m_addr.v4.sin_addr.s_addr == b.m_addr.v4.sin_addr.s_addr;
  }
  if (a.is_v6()) {
    return a.m_addr.v6.sin6_port == b.m_addr.v6.sin6_port &&
           a.m_addr.v6.sin6_scope_id == b.m_addr.v6.sin6_scope_id &&
           std::memcmp(&a.m_addr.v6.sin6_addr, &b.m_addr.v6.sin6_addr, sizeof(in6_addr)) == 0;
  }
  return true;
}

namespace {

class resolve_category_impl final : public std::error_category {
public:
  const char* name() const noexcept override { return "zokio.resolve"; }
  std::string message(int value) const override { return uv_strerror(-value); }
  std::error_condition default_error_condition(int value) const noexcept override {
    switch (-value) {
    case UV_EAI_AGAIN:
      return std::errc::resource_unavailable_try_again;
    case UV_EAI_MEMORY:
      return std::errc::not_enough_memory;
    case UV_EAI_CANCELED:
      return std::errc::operation_canceled;
    case UV_EAI_FAMILY:
    case UV_EAI_ADDRFAMILY:
      return std::errc::address_family_not_supported;
    default:
      return {value, *this};
    }
  }
};

/// A uv_getaddrinfo status as an error_code: EAI codes in resolve_category, others as usual.
std::error_code resolve_error(int status) noexcept {
  if (status <= UV_EAI_ADDRFAMILY && status >= UV_EAI_PROTOCOL) {
    return {-status, resolve_category()};
  }
  return detail::uv_error(status);
}

struct gai_request {
  uv_getaddrinfo_t req;
  struct resolve_awaiter* waiter;
};

// The uv_getaddrinfo_t is on the heap and freed in its callback, where the awaiter (in the
// suspended frame) is told; cancellation only asks libuv to drop a lookup that has not started,
// so the frame is resumed by that callback in every case.
struct resolve_awaiter final : detail::counted_awaiter<resolve_awaiter> {
  static constexpr detail::wait_kind kind = detail::wait_kind::io;

  resolve_awaiter(const std::string& host, std::uint16_t port, const site& where) noexcept
      : counted_awaiter<resolve_awaiter>(where), m_host(host), m_port(std::to_string(port)) {}

  bool ready() const noexcept { return false; }
  bool arm() {
    detail::worker* w = static_cast<detail::worker*>(m_task->m_worker);
    auto* r = new gai_request{{}, this};
    r->req.data = r;
    m_req = r;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    // No AI_ADDRCONFIG: on a host with only a loopback interface it makes "localhost" fail.
    // Addresses of a family the host cannot reach fail at connect, which tries the next one.
    hints.ai_flags = AI_NUMERICSERV;
    const int rc =
        uv_getaddrinfo(w->loop(), &r->req, &on_done, m_host.c_str(), m_port.c_str(), &hints);
    if (rc != 0) {
      m_req = nullptr;
      delete r;
      m_status = rc;
      return false;
    }
    return true;
  }
  bool withdraw() noexcept {
    if (m_req != nullptr) {
      uv_cancel(reinterpret_cast<uv_req_t*>(&m_req->req)); // fails once the lookup runs
    }
    return false;
  }
  result<std::vector<socket_address>> take() {
    if (m_cancelled) {
      return std::errc::operation_canceled;
    }
    if (m_status < 0) {
      return resolve_error(m_status);
    }
    if (m_addresses.empty()) {
      return std::errc::host_unreachable;
    }
    return std::move(m_addresses);
  }

  static void on_done(uv_getaddrinfo_t* req, int status, addrinfo* res) noexcept {
    auto* r = static_cast<gai_request*>(req->data);
    resolve_awaiter* self = r->waiter;
    self->m_req = nullptr;
    self->m_status = status;
    if (status == 0) {
      try {
        for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
          socket_address a = socket_address::from_sockaddr(p->ai_addr);
          if (a.valid()) {
            self->m_addresses.push_back(a);
          }
        }
      } catch (...) {
        self->m_status = UV_ENOMEM;
      }
    }
    uv_freeaddrinfo(res);
    delete r;
    self->fire();
  }

  const std::string& m_host;
  std::string m_port;
  gai_request* m_req = nullptr;
  int m_status = 0;
  std::vector<socket_address> m_addresses;
};

} // namespace

const std::error_category& resolve_category() noexcept {
  static const resolve_category_impl category;
  return category;
}

task<result<std::vector<socket_address>>> resolve(std::string host, std::uint16_t port,
                                                  site where) {
  if (result<socket_address> literal = socket_address::parse(host, port); literal.ok()) {
    co_return std::vector<socket_address>{literal.value()};
  }
  (void)detail::current_net_worker("zokio::net::resolve");
  co_return co_await resolve_awaiter(host, port, where);
}

} // namespace zokio::net
