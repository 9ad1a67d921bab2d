// timeout() and when_any() never lose what an operation completed: a completion that lands in
// the same loop turn as the deadline (or the winner) wins, and its value is returned; nothing
// that completed disappears into the void (issue [fix] 1).
//
// The same-turn race is made deterministic: the task under test arms its deadline, a peer arms
// an earlier timer that completes the operation, then the test's own task busy-waits past both,
// so that both timers are found expired in one pass of the timer heap.

#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/sync/channel.hpp>
#include <zokio/task/when_all.hpp>
#include <zokio/time/sleep.hpp>
#include <zokio/time/timeout.hpp>

#include "loopback.hpp"
#include "race.hpp"
#include "zokio_test.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using zokio::testing::busy_for;

zokio::task<std::optional<int>> recv_one(zokio::receiver<int>* rx) {
  co_return co_await rx->recv();
}

zokio::task<bool> send_one(zokio::sender<int>* tx, int v) {
  co_return co_await tx->send(v);
}

zokio::task<void> send_later(zokio::sender<int>* tx, int v, std::chrono::milliseconds after) {
  co_await zokio::sleep_for(after);
  (void)tx->try_send(v);
}

zokio::task<void> recv_later(zokio::receiver<int>* rx, std::vector<int>* got,
                             std::chrono::milliseconds after) {
  co_await zokio::sleep_for(after);
  if (auto v = rx->try_recv()) {
    got->push_back(*v);
  }
}

// --- receive ------------------------------------------------------------------------------------

zokio::task<void> recv_against_deadline(std::size_t capacity) {
  auto [tx, rx] = zokio::make_channel<int>(capacity);
  auto h = zokio::spawn(zokio::timeout(6ms, recv_one(&rx)));
  auto p = zokio::spawn(send_later(&tx, 42, 4ms));
  co_await zokio::yield_now(); // both register their timers
  busy_for(20ms);              // both deadlines pass: one turn of the timer heap sees both
  const zokio::result<std::optional<int>> r = co_await h;
  co_await p;
  const std::optional<int> left = rx.try_recv();
  // Exactly once: returned by the timeout, or still in the channel; never neither, never both.
  if (r.ok()) {
    CO_REQUIRE(r.value().has_value());
    EXPECT_EQ(*r.value(), 42);
    EXPECT_FALSE(left.has_value()) << "42 was both returned and left in the channel";
  } else {
    EXPECT_EQ(r.error(), std::errc::timed_out);
    EXPECT_TRUE(left.has_value()) << "the timeout reported timed_out and 42 is gone";
    CO_REQUIRE(left.has_value());
    EXPECT_EQ(*left, 42);
  }
  // With the send made first in the turn, the receive had completed: it must have won.
  EXPECT_TRUE(r.ok()) << "a receive that completed in the deadline's turn was reported timed out";
}

TEST(timeout_race, a_receive_completed_in_the_deadlines_turn_wins) {
  zokio::runtime rt{{.workers = 1}};
  for (int round = 0; round < 5; ++round) {
    rt.block_on(recv_against_deadline(0)); // unbounded
    rt.block_on(recv_against_deadline(1)); // bounded
  }
  zokio::testing::expect_clean_shutdown(rt);
}

// --- send ---------------------------------------------------------------------------------------

zokio::task<void> send_against_deadline() {
  auto [tx, rx] = zokio::make_channel<int>(1);
  CO_REQUIRE(tx.try_send(1) == zokio::send_status::sent); // full
  std::vector<int> got;
  auto h = zokio::spawn(zokio::timeout(6ms, send_one(&tx, 2)));
  auto c = zokio::spawn(recv_later(&rx, &got, 4ms));
  co_await zokio::yield_now();
  busy_for(20ms);
  const zokio::result<bool> r = co_await h;
  co_await c;
  while (auto v = rx.try_recv()) {
    got.push_back(*v);
  }
  const bool delivered = got.size() == 2 && got[1] == 2;
  CO_REQUIRE(!got.empty());
  EXPECT_EQ(got[0], 1);
  if (r.ok()) {
    EXPECT_TRUE(r.value());
    EXPECT_TRUE(delivered) << "the send reported success and 2 never arrived";
  } else {
    EXPECT_EQ(r.error(), std::errc::timed_out);
    EXPECT_FALSE(delivered) << "the send reported timed_out and 2 was delivered anyway";
  }
  EXPECT_TRUE(r.ok()) << "a send that completed in the deadline's turn was reported timed out";
}

TEST(timeout_race, a_send_completed_in_the_deadlines_turn_is_not_reported_timed_out) {
  zokio::runtime rt{{.workers = 1}};
  for (int round = 0; round < 5; ++round) {
    rt.block_on(send_against_deadline());
  }
  zokio::testing::expect_clean_shutdown(rt);
}

// --- when_any -----------------------------------------------------------------------------------

zokio::task<void> both_sent_in_one_turn() {
  auto [tx1, rx1] = zokio::make_channel<int>(0);
  auto [tx2, rx2] = zokio::make_channel<int>(0);
  std::vector<zokio::task<std::optional<int>>> recvs;
  recvs.push_back(recv_one(&rx1));
  recvs.push_back(recv_one(&rx2));
  auto h = zokio::spawn(zokio::when_any(std::move(recvs)));
  co_await zokio::yield_now(); // the receivers wait
  co_await zokio::yield_now();
  (void)tx1.try_send(1);
  (void)tx2.try_send(2);
  auto r = co_await h;
  std::multiset<int> seen;
  CO_REQUIRE(r.second.has_value());
  seen.insert(*r.second);
  EXPECT_EQ(*r.second, static_cast<int>(r.first) + 1);
  for (auto& [i, v] : r.also_completed) {
    CO_REQUIRE(v.has_value());
    EXPECT_EQ(*v, static_cast<int>(i) + 1);
    seen.insert(*v);
  }
  while (auto v = rx1.try_recv()) {
    seen.insert(*v);
  }
  while (auto v = rx2.try_recv()) {
    seen.insert(*v);
  }
  EXPECT_EQ(seen, (std::multiset<int>{1, 2})) << "a value was lost or duplicated by when_any";
}

TEST(when_any_race, two_receives_completed_in_one_turn_lose_nothing) {
  zokio::runtime rt{{.workers = 1}};
  for (int round = 0; round < 5; ++round) {
    rt.block_on(both_sent_in_one_turn());
  }
  zokio::testing::expect_clean_shutdown(rt);
}

// --- stress: 4 workers, timeouts on both ends of a bounded channel -------------------------------

struct ledger {
  std::mutex m;
  std::set<int> sent;     // sends that reported success
  std::set<int> timed;    // sends that reported timed_out
  std::multiset<int> got; // values received
};

zokio::task<void> producer(zokio::sender<int> tx, int base, int n, ledger* l) {
  for (int i = 0; i < n; ++i) {
    const int v = base + i;
    auto r =
        co_await zokio::timeout(std::chrono::microseconds(50 + (i % 7) * 100), send_one(&tx, v));
    std::lock_guard<std::mutex> lock(l->m);
    if (r.ok()) {
      EXPECT_TRUE(r.value());
      l->sent.insert(v);
    } else {
      EXPECT_EQ(r.error(), std::errc::timed_out);
      l->timed.insert(v);
    }
  }
}

zokio::task<void> consumer(zokio::receiver<int>* rx, std::atomic<int>* producers_left, ledger* l) {
  for (;;) {
    auto r = co_await zokio::timeout(std::chrono::microseconds(200), recv_one(rx));
    if (r.ok()) {
      if (!r.value()) {
        co_return; // closed
      }
      std::lock_guard<std::mutex> lock(l->m);
      l->got.insert(*r.value());
    } else if (producers_left->load() == 0) {
      co_return;
    }
  }
}

zokio::task<void> producers_then_close(std::vector<zokio::join_handle<void>> hs,
                                       std::atomic<int>* left) {
  for (auto& h : hs) {
    co_await h;
    --*left;
  }
}

zokio::task<void> stress() {
  auto [tx, rx] = zokio::make_channel<int>(4);
  ledger l;
  std::atomic<int> left{4};
  std::vector<zokio::join_handle<void>> ps;
  for (unsigned i = 0; i < 4; ++i) {
    ps.push_back(zokio::spawn_on(i % 4, producer(tx, static_cast<int>(i) * 1'000'000, 1500, &l)));
  }
  std::vector<zokio::join_handle<void>> cs;
  for (unsigned i = 0; i < 2; ++i) {
    cs.push_back(zokio::spawn_on(i + 1, consumer(&rx, &left, &l)));
  }
  co_await producers_then_close(std::move(ps), &left);
  for (auto& c : cs) {
    co_await c;
  }
  while (auto v = rx.try_recv()) {
    l.got.insert(*v);
  }
  EXPECT_EQ(l.sent.size() + l.timed.size(), 6000u);
  std::size_t duplicates = 0;
  std::size_t received_though_timed_out = 0;
  std::size_t lost = 0;
  for (int v : l.got) {
    duplicates += l.got.count(v) > 1 ? 1 : 0;
    received_though_timed_out += l.timed.count(v);
  }
  for (int v : l.sent) {
    lost += l.got.count(v) == 0 ? 1 : 0;
  }
  EXPECT_EQ(duplicates, 0u);
  EXPECT_EQ(received_though_timed_out, 0u) << "values received although their send timed out";
  EXPECT_EQ(lost, 0u) << "values whose send succeeded were never received";
  EXPECT_EQ(l.got.size(), l.sent.size());
}

TEST(timeout_race, stress_on_four_workers_loses_and_duplicates_nothing) {
  zokio::runtime rt{{.workers = 4}};
  rt.block_on(stress());
  zokio::testing::expect_clean_shutdown(rt);
}

// --- TCP: timeout(read_some) never loses a byte --------------------------------------------------

zokio::task<zokio::result<std::size_t>> read_into(zokio::net::tcp_stream* s,
                                                  std::span<std::byte> buf) {
  co_return co_await s->read_some(buf);
}

zokio::task<void> write_slowly(zokio::net::tcp_stream* s, int n) {
  for (int i = 0; i < n; ++i) {
    const auto b = static_cast<std::byte>(i & 0xff);
    co_await zokio::sleep_for(std::chrono::microseconds(300 + (i % 5) * 200));
    auto r = co_await s->write_all(std::span<const std::byte>(&b, 1));
    EXPECT_TRUE(r.ok());
  }
}

zokio::task<void> reads_under_timeouts() {
  auto l = zokio::net::tcp_listener::bind("127.0.0.1", 0);
  CO_REQUIRE(l.ok());
  auto p = co_await zokio::testing::connected_pair(&l.value());
  CO_REQUIRE(p.ok());
  zokio::net::tcp_stream& server = p.value().server;
  zokio::net::tcp_stream& client = p.value().client;
  constexpr int n = 300;
  auto w = zokio::spawn(write_slowly(&client, n));
  std::vector<std::byte> got;
  std::byte buf[1];
  while (got.size() < static_cast<std::size_t>(n)) {
    auto r = co_await zokio::timeout(std::chrono::microseconds(400), read_into(&server, buf));
    if (r.ok()) {
      CO_REQUIRE(r.value() == 1u);
      got.push_back(buf[0]);
    } else {
      CO_REQUIRE(r.error() == std::errc::timed_out);
    }
  }
  co_await w;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)], static_cast<std::byte>(i & 0xff))
        << "byte " << i << " lost or reordered under timeout(read_some)";
  }
}

TEST(timeout_race, tcp_reads_under_short_timeouts_lose_no_byte) {
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(reads_under_timeouts());
  zokio::testing::expect_clean_shutdown(rt);
}

// --- what timeout does when its own task is cancelled, or the inner task throws -----------------

struct unwound_flag {
  std::atomic<bool>* flag;
  ~unwound_flag() { flag->store(true); }
};

zokio::task<int> sleeps_then_answers(std::atomic<bool>* unwound) {
  unwound_flag guard{unwound};
  co_await zokio::sleep_for(5s);
  co_return 1;
}

zokio::task<void> cancel_the_waiter() {
  std::atomic<bool> unwound{false};
  auto h = zokio::spawn(zokio::timeout(5s, sleeps_then_answers(&unwound)));
  co_await zokio::sleep_for(10ms);
  h.cancel();
  const zokio::result<int> r = co_await h;
  CO_REQUIRE(!r.ok());
  EXPECT_EQ(r.error(), std::errc::operation_canceled);
  EXPECT_TRUE(unwound.load()) << "the inner task had not unwound when timeout returned";
}

zokio::task<int> throws_soon() {
  co_await zokio::sleep_for(1ms);
  throw std::runtime_error("inner failure");
}

zokio::task<void> inner_throws() {
  bool thrown = false;
  try {
    (void)co_await zokio::timeout(5s, throws_soon());
  } catch (const std::runtime_error& e) {
    thrown = std::string(e.what()) == "inner failure";
  }
  EXPECT_TRUE(thrown) << "the inner task's exception was not rethrown by timeout";
}

TEST(timeout, cancelling_the_waiter_cancels_and_unwinds_the_inner_task) {
  zokio::runtime rt{{.workers = 1}};
  const auto start = std::chrono::steady_clock::now();
  rt.block_on(cancel_the_waiter());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s); // not the inner 5 s sleep
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(timeout, an_exception_of_the_inner_task_is_rethrown) {
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(inner_throws());
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
