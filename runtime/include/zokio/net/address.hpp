#pragma once

#include <zokio/task/task.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

// Socket addresses and name resolution. A socket_address is a plain value (an IPv4 or IPv6
// address and a port) that any thread may copy; resolve() runs libuv's uv_getaddrinfo on the
// thread pool, so the loop thread never blocks on DNS.

namespace zokio::net {

/// An IPv4 or IPv6 address and a port, as the kernel sees it (`sockaddr_in`/`sockaddr_in6`).
/// A default-constructed address is empty (`valid()` is false).
class socket_address {
public:
  socket_address() noexcept;

  /// Parses a numeric address: IPv4 (`"127.0.0.1"`) or IPv6 (`"::1"`, `"[::1]"`,
  /// `"fe80::1%eth0"`). Names are not resolved (see `resolve`): anything else gives
  /// `std::errc::invalid_argument`.
  static result<socket_address> parse(std::string_view ip, std::uint16_t port);
  /// Copies an AF_INET or AF_INET6 `sockaddr`; anything else gives an empty address.
  static socket_address from_sockaddr(const sockaddr* sa) noexcept;
  /// 127.0.0.1:port.
  static socket_address loopback_v4(std::uint16_t port) noexcept;

  bool valid() const noexcept { return is_v4() || is_v6(); }
  bool is_v4() const noexcept { return m_addr.sa.sa_family == AF_INET; }
  bool is_v6() const noexcept { return m_addr.sa.sa_family == AF_INET6; }
  std::uint16_t port() const noexcept;
  /// The address without the port: `"127.0.0.1"`, `"::1"`.
  std::string ip() const;
  /// `"127.0.0.1:8080"`, `"[::1]:8080"`; `"(none)"` for an empty address.
  std::string to_string() const;

  /// For system calls: the `sockaddr` and its length.
  const sockaddr* data() const noexcept { return &m_addr.sa; }
  socklen_t size() const noexcept;

  friend bool operator==(const socket_address& a, const socket_address& b) noexcept;

private:
  union storage {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } m_addr;
};

/// The category of name-resolution failures (libuv's `UV_EAI_*` codes, stored as positive
/// values). Their messages come from libuv; `EAI_AGAIN` compares equal to
/// `std::errc::resource_unavailable_try_again`, `EAI_MEMORY` to `std::errc::not_enough_memory`
/// and a cancelled lookup to `std::errc::operation_canceled`. "No such host" has no `std::errc`
/// counterpart: test `e.category() == zokio::net::resolve_category()`.
const std::error_category& resolve_category() noexcept;

/// Resolves `host` (a name or a numeric address) for TCP on `port`, with `uv_getaddrinfo` on
/// libuv's thread pool. The addresses come in the resolver's order (IPv6 and IPv4 mixed).
///
/// Thread-safety: await it from a task. Cancellation: a lookup that has not started is dropped
/// and the await returns `std::errc::operation_canceled`; one that runs cannot be interrupted
/// and is waited for (then its result is returned). A numeric `host` is parsed without a lookup.
///
/// Errors: a `resolve_category()` error when the name does not resolve. The error code does not
/// hold the name: a message for the user should name it, e.g. `cannot resolve "NAME": ` followed
/// by `error().message()`.
task<result<std::vector<socket_address>>> resolve(std::string host, std::uint16_t port,
                                                  site where = site::current());

} // namespace zokio::net
