// Objects that outlive their runtime (issue [fix] 10): a UDP socket, a TCP listener or a connected
// TCP stream kept past shutdown() and past ~runtime is reported as left open, and destroying it
// later is safe (no abort, no use of the freed loop); a join_handle may outlive its runtime, and
// dropping or cancelling it then touches nothing of the runtime.

#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/net/udp.hpp>
#include <zokio/signal/listener.hpp>

#include "loopback.hpp"
#include "zokio_test.hpp"

#include <csignal>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace {

using zokio::net::tcp_listener;
using zokio::net::tcp_stream;
using zokio::net::udp_socket;

struct kept_objects {
  std::optional<zokio::signal::listener> signals;
  std::optional<udp_socket> udp;
  std::optional<tcp_listener> listener;
  std::optional<tcp_stream> server;
  std::optional<tcp_stream> client;
};

zokio::task<std::string> open_everything(kept_objects* k) {
  k->signals.emplace(zokio::signal::listener{SIGUSR2});
  auto u = udp_socket::bind("127.0.0.1", 0);
  if (!u.ok()) {
    co_return "udp bind failed";
  }
  k->udp.emplace(std::move(u).value());
  auto l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "tcp bind failed";
  }
  k->listener.emplace(std::move(l).value());
  auto p = co_await zokio::testing::connected_pair(&*k->listener);
  if (!p.ok()) {
    co_return "connect failed";
  }
  k->server.emplace(std::move(p.value().server));
  k->client.emplace(std::move(p.value().client));
  co_return "";
}

TEST(outlive, io_objects_kept_past_shutdown_are_reported_and_safe_to_destroy) {
  kept_objects k;
  zokio::shutdown_report report;
  {
    zokio::runtime rt{{.workers = 1}};
    ASSERT_EQ(rt.block_on(open_everything(&k)), "");
    report = rt.shutdown();
  }
  EXPECT_FALSE(report.clean());
  EXPECT_EQ(report.handles_left["udp"], 1u) << report.to_string();
  EXPECT_EQ(report.handles_left["tcp"], 2u) << report.to_string();
  EXPECT_EQ(report.handles_left["poll"], 1u) << report.to_string();
  EXPECT_EQ(report.handles_left["signal"], 1u) << report.to_string();
  for (int status : report.loop_close_status) {
    EXPECT_EQ(status, 0) << "teardown closed them, so the loop closes";
  }
  // ~runtime has run: destroying the objects must neither abort nor touch the freed loop.
  k.client.reset();
  k.server.reset();
  k.listener.reset();
  k.udp.reset();
  k.signals.reset();
}

TEST(outlive, io_objects_kept_past_shutdown_then_destroyed_before_the_runtime) {
  kept_objects k;
  zokio::runtime rt{{.workers = 1}};
  ASSERT_EQ(rt.block_on(open_everything(&k)), "");
  const zokio::shutdown_report report = rt.shutdown();
  EXPECT_FALSE(report.clean());
  k = kept_objects{};
}

zokio::task<int> fails() {
  co_await zokio::yield_now();
  throw std::runtime_error("failed while nobody looked");
}

TEST(outlive, a_failed_tasks_handle_dropped_after_the_runtime_is_reported_not_freed_memory) {
  std::optional<zokio::join_handle<int>> h;
  int reported = 0;
  {
    zokio::runtime rt{
        {.workers = 1, .on_task_error = [&](const zokio::task_failure&) { ++reported; }}};
    h.emplace(rt.spawn(fails()));
    rt.block_on([](zokio::join_handle<int>* x) -> zokio::task<void> {
      while (!x->is_finished()) {
        co_await zokio::yield_now();
      }
    }(&*h));
    zokio::testing::expect_clean_shutdown(rt);
  }
  EXPECT_TRUE(h->is_finished());
  h->cancel(); // no effect on a finished task, and no runtime to reach
  ::testing::internal::CaptureStderr();
  h.reset(); // the runtime is gone: printed by the default printer, never a use of freed memory
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(reported, 0);
  EXPECT_NE(err.find("failed while nobody looked"), std::string::npos) << err;
}

} // namespace
