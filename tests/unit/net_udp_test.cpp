#include <zokio/net/udp.hpp>

#include "zokio_test.hpp"

#include <array>
#include <cstring>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using zokio::net::datagram_info;
using zokio::net::udp_socket;

constexpr int datagrams = 1000;

/// Datagram `i`: its index, then bytes derived from it, 1 to 1200 bytes long in all.
std::vector<std::byte> datagram(int i) {
  std::vector<std::byte> d(4 + static_cast<std::size_t>(i * 37 % 1197));
  std::memcpy(d.data(), &i, 4);
  for (std::size_t k = 4; k < d.size(); ++k) {
    d[k] = static_cast<std::byte>((static_cast<std::size_t>(i) * 131 + k * 7) & 0xff);
  }
  return d;
}

zokio::task<void> echo_server(udp_socket* s, int count) {
  std::array<std::byte, 2048> buf;
  for (int i = 0; i < count; ++i) {
    zokio::result<datagram_info> r = co_await s->recv_from(buf);
    EXPECT_TRUE(r.ok()) << r.error().message();
    EXPECT_FALSE(r->truncated);
    EXPECT_EQ(r->host, "127.0.0.1");
    zokio::result<std::size_t> n =
        co_await s->send_to(std::span(buf).first(r->size), r->host, r->port);
    EXPECT_EQ(*n, r->size);
  }
}

zokio::task<int> echo_client(udp_socket* s, std::uint16_t server_port) {
  std::array<std::byte, 2048> buf;
  int good = 0;
  // One datagram in flight at a time: loopback UDP drops nothing then, and order is kept.
  for (int i = 0; i < datagrams; ++i) {
    const std::vector<std::byte> out = datagram(i);
    zokio::result<std::size_t> n = co_await s->send_to(out, "127.0.0.1", server_port);
    EXPECT_EQ(*n, out.size());
    zokio::result<datagram_info> r = co_await s->recv_from(buf);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->port, server_port);
    if (r->size == out.size() && std::memcmp(buf.data(), out.data(), out.size()) == 0) {
      ++good;
    }
  }
  co_return good;
}

zokio::task<int> echo() {
  udp_socket server = udp_socket::bind("127.0.0.1", 0).value();
  udp_socket client = udp_socket::bind("127.0.0.1", 0).value();
  EXPECT_NE(server.local_port(), 0);
  EXPECT_NE(server.local_port(), client.local_port());
  auto h = zokio::spawn(echo_server(&server, datagrams));
  const int good = co_await echo_client(&client, server.local_port());
  co_await h;
  co_return good;
}

TEST(net_udp, echoes_a_thousand_datagrams_byte_for_byte) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(echo()), datagrams);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> blocked_receiver(udp_socket* s, bool* canceled) {
  std::array<std::byte, 64> buf;
  zokio::result<datagram_info> r = co_await s->recv_from(buf);
  *canceled = !r.ok() && r.error() == std::errc::operation_canceled;
}

zokio::task<std::string> cancel_then_receive() {
  udp_socket s = udp_socket::bind("127.0.0.1", 0).value();
  bool canceled = false;
  auto h = zokio::spawn(blocked_receiver(&s, &canceled));
  co_await zokio::sleep_for(10ms);
  h.cancel();
  co_await h;
  EXPECT_TRUE(canceled);
  // The socket still works, and the cancelled receiver took no datagram.
  udp_socket peer = udp_socket::bind("127.0.0.1", 0).value();
  const std::string msg = "after cancel";
  (void)co_await peer.send_to(std::as_bytes(std::span(msg)), "localhost", s.local_port());
  std::array<char, 64> buf{};
  zokio::result<datagram_info> r = co_await s.recv_from(std::as_writable_bytes(std::span(buf)));
  co_return std::string(buf.data(), r->size);
}

TEST(net_udp, a_blocked_receiver_is_cancelled_cleanly) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(cancel_then_receive()), "after cancel");
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<std::string> receive_one(udp_socket* s) {
  std::array<char, 64> buf{};
  zokio::result<datagram_info> r = co_await s->recv_from(std::as_writable_bytes(std::span(buf)));
  co_return std::string(buf.data(), r.value().size);
}

zokio::task<bool> receivers_in_turn() {
  udp_socket s = udp_socket::bind("127.0.0.1", 0).value();
  udp_socket peer = udp_socket::bind("127.0.0.1", 0).value();
  std::vector<zokio::join_handle<std::string>> hs;
  for (int i = 0; i < 3; ++i) {
    hs.push_back(zokio::spawn(receive_one(&s)));
  }
  co_await zokio::sleep_for(5ms); // all three wait
  for (const char* m : {"one", "two", "three"}) {
    const std::string msg = m;
    (void)co_await peer.send_to(std::as_bytes(std::span(msg)), "127.0.0.1", s.local_port());
  }
  // The datagrams arrive in one loop turn; each waiting receiver takes one, first come first
  // served, into its own buffer.
  const std::string a = co_await hs[0], b = co_await hs[1], c = co_await hs[2];
  EXPECT_TRUE(a == "one");
  EXPECT_TRUE(b == "two");
  EXPECT_TRUE(c == "three");
  co_return true;
}

TEST(net_udp, waiting_receivers_are_served_in_turn) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(receivers_in_turn()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> close_wakes(udp_socket* s, zokio::result<datagram_info>* out) {
  std::array<std::byte, 64> buf;
  *out = co_await s->recv_from(buf);
}

zokio::task<void> closing_fails_receivers() {
  udp_socket s = udp_socket::bind("127.0.0.1", 0).value();
  zokio::result<datagram_info> a = std::errc::io_error, b = std::errc::io_error;
  auto ha = zokio::spawn(close_wakes(&s, &a));
  auto hb = zokio::spawn(close_wakes(&s, &b));
  co_await zokio::sleep_for(5ms);
  s.close();
  co_await ha;
  co_await hb;
  EXPECT_EQ(a.error(), std::errc::operation_canceled);
  EXPECT_EQ(b.error(), std::errc::operation_canceled);
  std::array<std::byte, 4> buf{};
  EXPECT_EQ((co_await s.recv_from(buf)).error(), std::errc::bad_file_descriptor);
  EXPECT_EQ((co_await s.send_to(buf, "127.0.0.1", 9)).error(), std::errc::bad_file_descriptor);
}

TEST(net_udp, closing_the_socket_fails_waiting_receivers) {
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(closing_fails_receivers());
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> truncation_and_errors() {
  udp_socket a = udp_socket::bind("127.0.0.1", 0).value();
  udp_socket b = udp_socket::bind("::1", 0).value(); // IPv6 loopback
  const std::string msg = "0123456789";
  (void)co_await a.send_to(std::as_bytes(std::span(msg)), "127.0.0.1", a.local_port());
  std::array<char, 4> small{};
  zokio::result<datagram_info> r = co_await a.recv_from(std::as_writable_bytes(std::span(small)));
  EXPECT_EQ(r->size, 4u);
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(std::string(small.data(), 4), "0123");

  (void)co_await b.send_to({}, "::1", b.local_port()); // an empty datagram is a datagram
  r = co_await b.recv_from(std::as_writable_bytes(std::span(small)));
  EXPECT_EQ(r->size, 0u);
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(r->host, "::1");

  EXPECT_EQ((co_await a.send_to({}, "not-an-address", 9)).error(), std::errc::invalid_argument);
  EXPECT_EQ(udp_socket::bind("example.com", 0).error(), std::errc::invalid_argument);
  EXPECT_EQ(udp_socket::bind("127.0.0.1", a.local_port()).error(), std::errc::address_in_use);
}

TEST(net_udp, truncation_empty_datagrams_and_bad_addresses) {
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(truncation_and_errors());
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(net_udp, bind_outside_a_runtime_throws) {
  EXPECT_THROW((void)udp_socket::bind("127.0.0.1", 0), zokio::no_runtime_error);
}

} // namespace
