// timeout(), timeout_at() and select() over any awaitable: a socket read, a channel receive, a
// mutex lock, a join_handle, a task; results never nested; the timeout's own error says "timed
// out"; select over operands of different types; a connect with a time limit.

#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/signal/listener.hpp>
#include <zokio/sync/channel.hpp>
#include <zokio/sync/mutex.hpp>
#include <zokio/task/select.hpp>
#include <zokio/time/sleep.hpp>
#include <zokio/time/timeout.hpp>

#include "loopback.hpp"
#include "race.hpp"
#include "zokio_test.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using zokio::net::tcp_listener;
using zokio::net::tcp_stream;

namespace {

zokio::task<void> read_some_with_a_time_limit() {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  CO_REQUIRE(l.ok());
  auto p = co_await zokio::testing::connected_pair(&l.value());
  CO_REQUIRE(p.ok());
  tcp_stream& server = p.value().server;
  tcp_stream& client = p.value().client;
  std::vector<std::byte> buf(16);

  // Not nested: a read that gives result<size_t> gives result<size_t> under a timeout.
  auto r = co_await zokio::timeout(30ms, server.read_some(buf));
  static_assert(std::is_same_v<decltype(r), zokio::result<std::size_t>>);
  CO_REQUIRE(!r.ok());
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_EQ(r.error(), zokio::errc::timed_out);
  EXPECT_EQ(r.error().message(), "timed out");

  // The stream stays usable and nothing was consumed by the abandoned read.
  const std::string msg = "hello";
  CO_REQUIRE((co_await client.write_all(std::as_bytes(std::span(msg)))).ok());
  std::string got;
  while (got.size() < msg.size()) {
    auto n = co_await zokio::timeout(5s, server.read_some(buf));
    CO_REQUIRE(n.ok());
    CO_REQUIRE(n.value() > 0u);
    got.append(reinterpret_cast<const char*>(buf.data()), n.value());
  }
  EXPECT_EQ(got, msg);

  // An error of the operation itself passes through unchanged: EOF is 0, not an error.
  client.close();
  auto eof = co_await zokio::timeout(5s, server.read_some(buf));
  CO_REQUIRE(eof.ok());
  EXPECT_EQ(eof.value(), 0u);
}

TEST(timeout_any, a_socket_read_times_out_and_the_stream_stays_usable) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "timeout over read_some", read_some_with_a_time_limit());
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> recv_and_send_with_a_time_limit() {
  auto [tx, rx] = zokio::make_channel<int>(1);
  auto none = co_await zokio::timeout(10ms, rx.recv());
  static_assert(std::is_same_v<decltype(none), zokio::result<std::optional<int>>>);
  EXPECT_EQ(none.error(), zokio::errc::timed_out);

  CO_REQUIRE(tx.try_send(1) == zokio::send_status::sent);
  auto full = co_await zokio::timeout(10ms, tx.send(2)); // the channel is full: 2 is not sent
  EXPECT_EQ(full.error(), zokio::errc::timed_out);
  auto one = co_await zokio::timeout(1s, rx.recv());
  CO_REQUIRE(one.ok());
  CO_REQUIRE(one.value().has_value());
  EXPECT_EQ(*one.value(), 1);
  EXPECT_FALSE(rx.try_recv().has_value()) << "a send reported timed out was delivered";

  auto sent = co_await zokio::timeout(1s, tx.send(3));
  CO_REQUIRE(sent.ok());
  EXPECT_TRUE(sent.value());
  EXPECT_EQ(rx.try_recv(), std::optional<int>(3));
}

TEST(timeout_any, channel_receive_and_send_take_a_time_limit) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "timeout over recv/send",
                                  recv_and_send_with_a_time_limit());
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> hold_for(zokio::mutex* m, std::chrono::milliseconds d) {
  zokio::mutex_guard g = co_await m->lock();
  co_await zokio::sleep_for(d);
}

zokio::task<void> lock_with_a_time_limit() {
  zokio::mutex m;
  auto holder = zokio::spawn(hold_for(&m, 100ms));
  co_await zokio::sleep_for(5ms); // the holder has it
  auto g = co_await zokio::timeout(10ms, m.lock());
  EXPECT_EQ(g.error(), zokio::errc::timed_out);
  co_await holder;
  // The abandoned lock left no waiter behind: the mutex is free.
  zokio::mutex_guard now = m.try_lock();
  EXPECT_TRUE(now.owns_lock());
  now.unlock();
  auto g2 = co_await zokio::timeout(1s, m.lock());
  CO_REQUIRE(g2.ok());
  EXPECT_TRUE(g2.value().owns_lock());
}

TEST(timeout_any, a_mutex_lock_takes_a_time_limit_and_leaves_no_waiter) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "timeout over lock", lock_with_a_time_limit());
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> answer_after(std::chrono::milliseconds d) {
  co_await zokio::sleep_for(d);
  co_return 42;
}

zokio::task<void> join_with_a_time_limit() {
  zokio::join_handle<int> h = zokio::spawn(answer_after(60ms));
  auto early = co_await zokio::timeout(5ms, h);
  EXPECT_EQ(early.error(), zokio::errc::timed_out);
  // As with Tokio: the joined task was not cancelled, the handle is still ours.
  EXPECT_FALSE(h.is_finished());
  auto later = co_await zokio::timeout(5s, h);
  CO_REQUIRE(later.ok());
  EXPECT_EQ(later.value(), 42);
}

TEST(timeout_any, a_join_handle_takes_a_time_limit_and_its_task_keeps_running) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "timeout over a join_handle", join_with_a_time_limit());
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> share_one_deadline() {
  auto [tx, rx] = zokio::make_channel<int>(0);
  const auto deadline = std::chrono::steady_clock::now() + 40ms;
  const auto start = std::chrono::steady_clock::now();
  auto a = co_await zokio::timeout_at(deadline, rx.recv());
  auto b = co_await zokio::timeout_at(deadline, rx.recv()); // the same deadline, already spent
  EXPECT_EQ(a.error(), zokio::errc::timed_out);
  EXPECT_EQ(b.error(), zokio::errc::timed_out);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 40ms);
  EXPECT_LT(took, 2s) << "the second wait did not share the first one's deadline";
  // A deadline in the past with a value already there: the value wins.
  CO_REQUIRE(tx.try_send(5) == zokio::send_status::sent);
  auto c = co_await zokio::timeout_at(std::chrono::steady_clock::time_point::min(), rx.recv());
  CO_REQUIRE(c.ok());
  EXPECT_EQ(c.value(), std::optional<int>(5));
  auto d =
      co_await zokio::timeout_at(std::chrono::steady_clock::time_point::max(), answer_after(1ms));
  CO_REQUIRE(d.ok());
  EXPECT_EQ(d.value(), 42);
}

TEST(timeout_any, timeout_at_shares_one_deadline_and_saturates) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "timeout_at", share_one_deadline());
  zokio::testing::expect_clean_shutdown(rt);
}

// Completion wins for an awaitable operand as it does for a task: the value sent in the same
// loop turn as the deadline is returned, never lost.
zokio::task<void> send_later(zokio::sender<int>* tx, int v, std::chrono::milliseconds after) {
  co_await zokio::sleep_for(after);
  (void)tx->try_send(v);
}

zokio::task<void> recv_against_deadline() {
  auto [tx, rx] = zokio::make_channel<int>(0);
  auto h = zokio::spawn(zokio::timeout(6ms, rx.recv()));
  auto p = zokio::spawn(send_later(&tx, 42, 4ms));
  co_await zokio::yield_now();
  zokio::testing::busy_for(20ms); // both deadlines pass in one turn
  const zokio::result<std::optional<int>> r = co_await h;
  co_await p;
  CO_REQUIRE(r.ok());
  EXPECT_EQ(r.value(), std::optional<int>(42));
  EXPECT_FALSE(rx.try_recv().has_value());
}

TEST(timeout_any, a_receive_completed_in_the_deadlines_turn_wins) {
  zokio::runtime rt{{.workers = 1}};
  for (int round = 0; round < 5; ++round) {
    zokio::testing::block_on_within(rt, 20s, "recv against a deadline", recv_against_deadline());
  }
  zokio::testing::expect_clean_shutdown(rt);
}

// --- connect with a time limit ------------------------------------------------------------------

zokio::task<void> connect_with_a_time_limit() {
  // A listener with a backlog of 1 that never accepts: after a few connections the kernel
  // stops answering SYNs, and a connect blocks (as in net_tcp_cancel_test).
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0, {.backlog = 1});
  CO_REQUIRE(l.ok());
  const std::uint16_t port = l.value().local_port();
  std::vector<tcp_stream> parked;
  bool timed_out = false;
  for (int i = 0; i < 16 && !timed_out; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = co_await tcp_stream::connect("127.0.0.1", port, {.timeout = 100ms});
    if (r.ok()) {
      parked.push_back(std::move(r).value());
      continue;
    }
    CO_REQUIRE(r.error() == zokio::errc::timed_out);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    timed_out = true;
  }
  EXPECT_TRUE(timed_out) << "no connect ever blocked";
  // A connect that can succeed within its limit does.
  zokio::result<tcp_listener> open = tcp_listener::bind("127.0.0.1", 0);
  CO_REQUIRE(open.ok());
  auto accepting = zokio::spawn([](tcp_listener* l) -> zokio::task<zokio::result<tcp_stream>> {
    co_return co_await l->accept();
  }(&open.value()));
  auto ok = co_await tcp_stream::connect(
      zokio::net::socket_address::parse("127.0.0.1", open.value().local_port()).value(),
      {.timeout = 5s});
  EXPECT_TRUE(ok.ok()) << ok.error().message();
  auto accepted = co_await accepting;
  EXPECT_TRUE(accepted.ok());
}

TEST(timeout_any, connect_takes_a_time_limit) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 60s, "connect with a timeout", connect_with_a_time_limit());
  zokio::testing::expect_clean_shutdown(rt);
}

// --- select -------------------------------------------------------------------------------------

zokio::task<int> serve_until_cancelled() {
  co_await zokio::sleep_for(std::chrono::hours(1));
  co_return 0;
}

zokio::task<void> select_work_against_a_signal() {
  zokio::signal::listener stop{SIGUSR2};
  auto raiser = zokio::spawn([]() -> zokio::task<void> {
    co_await zokio::sleep_for(10ms);
    std::raise(SIGUSR2);
  }());
  auto r = co_await zokio::select(serve_until_cancelled(), stop.recv());
  static_assert(std::is_same_v<decltype(r.value), std::variant<int, int>>);
  CO_REQUIRE(r.index() == 1u);
  EXPECT_EQ(std::get<1>(r.value), SIGUSR2);
  EXPECT_TRUE(r.also_completed.empty());
  co_await raiser;
}

TEST(select, work_against_a_shutdown_signal) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "select(serve(), stop.recv())",
                                  select_work_against_a_signal());
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<std::string> name_after(std::chrono::milliseconds d) {
  co_await zokio::sleep_for(d);
  co_return "task";
}

zokio::task<void> select_over_different_types() {
  auto [tx, rx] = zokio::make_channel<int>(0);
  // A task giving a string, a channel receive, a plain sleep (void): the first to finish wins.
  auto a = co_await zokio::select(name_after(5ms), rx.recv(), zokio::sleep_for(1h));
  static_assert(std::is_same_v<decltype(a.value),
                               std::variant<std::string, std::optional<int>, std::monostate>>);
  CO_REQUIRE(a.index() == 0u);
  EXPECT_EQ(std::get<0>(a.value), "task");

  CO_REQUIRE(tx.try_send(9) == zokio::send_status::sent);
  auto b = co_await zokio::select(name_after(1h), rx.recv(), zokio::sleep_for(1h));
  CO_REQUIRE(b.index() == 1u);
  EXPECT_EQ(std::get<1>(b.value), std::optional<int>(9));

  auto c = co_await zokio::select(name_after(1h), rx.recv(), zokio::sleep_for(5ms));
  EXPECT_EQ(c.index(), 2u);
  EXPECT_FALSE(rx.try_recv().has_value());
}

TEST(select, operands_of_different_types) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "select over a task, a recv and a sleep",
                                  select_over_different_types());
  zokio::testing::expect_clean_shutdown(rt);
}

// Two receives whose values are sent in the same loop turn: one wins, the other's value is in
// also_completed or still in its channel; never lost, never twice.
zokio::task<void> select_loses_nothing() {
  auto [tx1, rx1] = zokio::make_channel<int>(0);
  auto [tx2, rx2] = zokio::make_channel<int>(0);
  auto h = zokio::spawn(zokio::select(rx1.recv(), rx2.recv()));
  co_await zokio::yield_now(); // both receives wait
  co_await zokio::yield_now();
  CO_REQUIRE(tx1.try_send(1) == zokio::send_status::sent);
  CO_REQUIRE(tx2.try_send(2) == zokio::send_status::sent);
  auto r = co_await h;
  std::vector<int> seen;
  auto take = [&](const auto& v) {
    std::visit(
        [&](const std::optional<int>& o) {
          if (o) {
            seen.push_back(*o);
          }
        },
        v);
  };
  take(r.value);
  for (const auto& v : r.also_completed) {
    take(v);
  }
  if (auto v = rx1.try_recv()) {
    seen.push_back(*v);
  }
  if (auto v = rx2.try_recv()) {
    seen.push_back(*v);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int>{1, 2})) << "a value was lost or delivered twice";
}

TEST(select, two_receives_completed_in_one_turn_lose_nothing) {
  zokio::runtime rt{{.workers = 1}};
  for (int round = 0; round < 20; ++round) {
    zokio::testing::block_on_within(rt, 20s, "select over two receives", select_loses_nothing());
  }
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> select_rethrows_the_first_failure() {
  auto boom = []() -> zokio::task<int> {
    co_await zokio::sleep_for(1ms);
    throw std::runtime_error("boom");
  };
  auto [tx, rx] = zokio::make_channel<int>(0);
  bool threw = false;
  try {
    (void)co_await zokio::select(boom(), rx.recv());
  } catch (const std::runtime_error& e) {
    threw = std::string(e.what()) == "boom";
  }
  EXPECT_TRUE(threw);
}

TEST(select, rethrows_the_first_failure_when_nothing_produced_a_value) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "select over a failing task",
                                  select_rethrows_the_first_failure());
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
