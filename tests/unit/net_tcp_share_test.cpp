#include <zokio/net/tcp_listener.hpp>

#include <zokio/net/tcp_stream.hpp>
#include <zokio/runtime/errors.hpp>

#include "descriptors.hpp"
#include "zokio_test.hpp"

#include <array>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

// One listening socket shared by the workers of a runtime (tcp_listener::share / open): each
// worker's listener accepts from it on its own, closing one leaves the others open, and since no
// socket sets SO_REUSEPORT a second server (another runtime, as another process would be) cannot
// bind the port.

using namespace std::chrono_literals;
using zokio::net::tcp_listener;
using zokio::net::tcp_listener_share;
using zokio::net::tcp_stream;

namespace {

/// Accepts until cancelled on the listener it is given; greets every connection with one byte
/// (so a client knows a listener took it, not just the kernel's backlog) and returns how many it
/// accepted.
zokio::task<int> greet_loop(tcp_listener l) {
  int accepted = 0;
  std::vector<tcp_stream> open;
  for (;;) {
    zokio::result<tcp_stream> s = co_await l.accept();
    if (!s.ok()) {
      if (s.error() != std::errc::operation_canceled) {
        ADD_FAILURE() << "accept: " << s.error().message();
      }
      co_return accepted;
    }
    const std::array<std::byte, 1> hello{std::byte{'h'}};
    if (const zokio::result<void> w = co_await s.value().write_all(hello); !w.ok()) {
      ADD_FAILURE() << "write: " << w.error().message();
      co_return accepted;
    }
    ++accepted;
    open.push_back(std::move(s).value());
  }
}

/// Opens `share` on the current worker and runs greet_loop on it.
zokio::task<int> open_and_greet(tcp_listener_share share) {
  zokio::result<tcp_listener> l = tcp_listener::open(std::move(share));
  if (!l.ok()) {
    ADD_FAILURE() << "open: " << l.error().message();
    co_return 0;
  }
  co_return co_await greet_loop(std::move(l).value());
}

/// Connects to 127.0.0.1:`port` and reads the greeting: "" when a listener took the connection.
zokio::task<std::string> connect_and_read_greeting(std::uint16_t port) {
  zokio::result<tcp_stream> c = co_await tcp_stream::connect("127.0.0.1", port);
  if (!c.ok()) {
    co_return "connect: " + c.error().message();
  }
  std::array<std::byte, 1> got{};
  if (const zokio::result<void> r = co_await c.value().read_exact(got); !r.ok()) {
    co_return "read: " + r.error().message();
  }
  co_return got[0] == std::byte{'h'} ? "" : "wrong greeting";
}

/// Runs `clients` clients at once; returns how many failed (each failure is reported).
zokio::task<int> run_clients(std::uint16_t port, int clients) {
  std::vector<zokio::join_handle<std::string>> hs;
  for (int i = 0; i < clients; ++i) {
    hs.push_back(zokio::spawn(connect_and_read_greeting(port)));
  }
  int failed = 0;
  for (auto& h : hs) {
    if (const std::string e = co_await h; !e.empty()) {
      ADD_FAILURE() << e;
      ++failed;
    }
  }
  co_return failed;
}

// --- the shared listener is its worker's own -----------------------------------------------------

zokio::task<void> share_then_close_the_original(int clients) {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  CO_REQUIRE(l.ok());
  const std::uint16_t port = l.value().local_port();
  zokio::result<tcp_listener_share> share = l.value().share();
  CO_REQUIRE(share.ok());
  CO_REQUIRE(share.value().valid());
  zokio::join_handle<int> other = zokio::spawn_on(1, open_and_greet(std::move(share).value()));
  // Worker 0 lets go of its listener: the socket stays open through worker 1's descriptor, and
  // worker 1 alone serves every client.
  l.value().close();
  EXPECT_EQ(co_await run_clients(port, clients), 0);
  other.cancel();
  EXPECT_EQ(co_await other, clients);
}

TEST(tcp_share, a_shared_listener_accepts_on_its_worker_after_the_original_closes) {
  zokio::runtime rt{{.workers = 2}};
  rt.block_on(share_then_close_the_original(20));
  zokio::testing::expect_clean_shutdown(rt);
}

// --- every worker accepts from the one socket ----------------------------------------------------

struct shared_server {
  std::uint16_t port = 0;
  std::vector<zokio::join_handle<int>> loops;
};

/// Binds on worker 0 and serves the socket from every worker: worker 0 with the listener it
/// bound, the others with shares. The loops keep running after this task returns.
zokio::task<void> start_shared_server(shared_server* srv, unsigned workers) {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  CO_REQUIRE(l.ok());
  srv->port = l.value().local_port();
  for (unsigned w = 1; w < workers; ++w) {
    zokio::result<tcp_listener_share> share = l.value().share();
    CO_REQUIRE(share.ok());
    srv->loops.push_back(zokio::spawn_on(w, open_and_greet(std::move(share).value())));
  }
  srv->loops.push_back(zokio::spawn(greet_loop(std::move(l).value())));
}

zokio::task<std::string> try_bind(std::uint16_t port, bool reuse_port) {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", port, {.reuse_port = reuse_port});
  co_return l.ok() ? std::string("bound") : l.error().message();
}

zokio::task<int> serve_clients_then_stop(shared_server* srv, int clients) {
  EXPECT_EQ(co_await run_clients(srv->port, clients), 0);
  for (auto& h : srv->loops) {
    h.cancel();
  }
  int accepted = 0;
  for (auto& h : srv->loops) {
    try {
      accepted += co_await h;
    } catch (const zokio::operation_cancelled&) {
      // Cancelled before its worker ever ran it (a loaded machine): it accepted nothing. The
      // clients above were all served by the others, which is what the count checks.
    }
  }
  co_return accepted;
}

TEST(tcp_share, a_second_runtime_cannot_bind_the_port_the_workers_share) {
  constexpr unsigned workers = 3;
  constexpr int clients = 60;
  zokio::runtime rt{{.workers = workers}};
  shared_server srv;
  rt.block_on(start_shared_server(&srv, workers));
  ASSERT_NE(srv.port, 0);
  ASSERT_EQ(srv.loops.size(), workers);

  {
    // What a second server process does: a runtime of its own binds the same port.
    zokio::runtime second{{.workers = 1}};
    const std::string in_use = std::make_error_code(std::errc::address_in_use).message();
    EXPECT_EQ(second.block_on(try_bind(srv.port, false)), in_use);
    // SO_REUSEPORT on the newcomer does not help: the shared socket never set it.
    EXPECT_EQ(second.block_on(try_bind(srv.port, true)), in_use);
    zokio::testing::expect_clean_shutdown(second);
  }

  // The workers still serve the port together, every connection accepted exactly once.
  EXPECT_EQ(rt.block_on(serve_clients_then_stop(&srv, clients)), clients);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- errors and descriptor ownership -------------------------------------------------------------

/// The process's open descriptors once two reads 5 ms apart agree: the runtime's watchdog thread
/// may hold a /proc file open for a moment (a stall report on a loaded machine), which is not
/// what this test counts.
std::size_t open_descriptors() {
  std::size_t n = zokio::testing::open_descriptors();
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(5ms);
    const std::size_t again = zokio::testing::open_descriptors();
    if (again == n) {
      break;
    }
    n = again;
  }
  return n;
}

zokio::task<void> share_errors() {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  CO_REQUIRE(l.ok());
  const std::size_t before = open_descriptors();
  {
    zokio::result<tcp_listener_share> share = l.value().share();
    CO_REQUIRE(share.ok());
    EXPECT_EQ(open_descriptors(), before + 1) << "a share holds a descriptor of its own";
    tcp_listener_share moved = std::move(share).value();
    EXPECT_TRUE(moved.valid());
  }
  EXPECT_EQ(open_descriptors(), before) << "a share dropped unopened closes its descriptor";

  EXPECT_EQ(tcp_listener::open(tcp_listener_share{}).error(), std::errc::invalid_argument);
  l.value().close();
  EXPECT_EQ(l.value().share().error(), std::errc::bad_file_descriptor);
  EXPECT_EQ(tcp_listener{}.share().error(), std::errc::bad_file_descriptor);
}

TEST(tcp_share, errors_and_an_unopened_share_closes_its_descriptor) {
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(share_errors());
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(tcp_share, open_outside_a_runtime_throws) {
  EXPECT_THROW((void)tcp_listener::open(tcp_listener_share{}), zokio::no_runtime_error);
}

} // namespace
