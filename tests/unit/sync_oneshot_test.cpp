#include <zokio/sync/oneshot.hpp>

#include "zokio_test.hpp"

#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

zokio::task<void> send_later(zokio::oneshot_sender<std::string> tx) {
  co_await zokio::sleep_for(2ms);
  tx.send(std::string("hello"));
}

zokio::task<std::string> receive() {
  auto [tx, rx] = zokio::make_oneshot<std::string>();
  zokio::spawn(send_later(std::move(tx))).detach();
  auto r = co_await rx;
  co_return r.value();
}

TEST(oneshot, carries_a_value_between_tasks) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(receive()), "hello");
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> drop_sender(zokio::oneshot_sender<int> tx) {
  co_await zokio::yield_now();
  // tx goes out of scope without sending
}

zokio::task<std::error_code> closed() {
  auto [tx, rx] = zokio::make_oneshot<int>();
  zokio::spawn(drop_sender(std::move(tx))).detach();
  auto r = co_await rx;
  co_return r.error();
}

TEST(oneshot, a_dropped_sender_gives_broken_pipe) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(closed()), std::errc::broken_pipe);
  zokio::testing::expect_clean_shutdown(rt);
}

// Two tasks hand a token back and forth through oneshots; the log must alternate strictly.
zokio::task<void> player(char me, int rounds, std::vector<char>* log,
                         std::vector<zokio::oneshot_receiver<int>>* inbox,
                         std::vector<zokio::oneshot_sender<int>>* outbox) {
  for (int i = 0; i < rounds; ++i) {
    auto r = co_await (*inbox)[i];
    log->push_back(me);
    (*outbox)[i].send(r.value() + 1);
  }
}

zokio::task<int> ping_pong(int rounds) {
  std::vector<zokio::oneshot_sender<int>> a_to_b, b_to_a;
  std::vector<zokio::oneshot_receiver<int>> b_in, a_in;
  for (int i = 0; i < rounds; ++i) {
    auto p = zokio::make_oneshot<int>();
    a_to_b.push_back(std::move(p.tx));
    b_in.push_back(std::move(p.rx));
    auto q = zokio::make_oneshot<int>();
    b_to_a.push_back(std::move(q.tx));
    a_in.push_back(std::move(q.rx));
  }
  std::vector<char> log;
  // A starts when it receives from "B's round -1": prime it with a first oneshot.
  auto start = zokio::make_oneshot<int>();
  std::vector<zokio::oneshot_receiver<int>> a_inbox;
  a_inbox.push_back(std::move(start.rx));
  for (int i = 0; i + 1 < rounds; ++i) {
    a_inbox.push_back(std::move(a_in[i]));
  }
  auto b = zokio::spawn_on(1, player('B', rounds, &log, &b_in, &b_to_a));
  auto a = zokio::spawn(player('A', rounds, &log, &a_inbox, &a_to_b));
  start.tx.send(0);
  co_await a;
  co_await b;
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (log[i] != (i % 2 == 0 ? 'A' : 'B')) {
      co_return -1;
    }
  }
  co_return static_cast<int>(log.size());
}

TEST(oneshot, ping_pong_across_workers_alternates_strictly) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_EQ(rt.block_on(ping_pong(500)), 1000);
  EXPECT_GT(rt.stats().resumes_cross_thread, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> receive_from_thread() {
  auto [tx, rx] = zokio::make_oneshot<int>();
  std::thread t([tx = std::move(tx)]() mutable {
    std::this_thread::sleep_for(5ms);
    tx.send(99);
  });
  auto r = co_await rx;
  t.join();
  co_return r.value();
}

TEST(oneshot, a_plain_thread_can_send) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(receive_from_thread()), 99);
  EXPECT_EQ(rt.stats().resumes_cross_thread, 1u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<zokio::result<int>> wait_forever(zokio::oneshot_receiver<int> rx) {
  co_return co_await rx;
}

zokio::task<bool> cancel_receiver() {
  auto [tx, rx] = zokio::make_oneshot<int>();
  auto h = zokio::spawn(wait_forever(std::move(rx)));
  co_await zokio::sleep_for(2ms);
  h.cancel();
  auto r = co_await h;
  EXPECT_FALSE(r.ok()) << "a cancelled receive returned a value";
  if (!r.ok()) {
    EXPECT_EQ(r.error(), std::errc::operation_canceled);
  }
  const bool sent = tx.send(1);
  EXPECT_FALSE(sent) << "a send to a receiver that was cancelled succeeded";
  co_return !r.ok() && r.error() == std::errc::operation_canceled && !sent;
}

TEST(oneshot, a_cancelled_receive_returns_operation_canceled) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(cancel_receiver()));
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
