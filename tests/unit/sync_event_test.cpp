#include <zokio/sync/event.hpp>

#include "zokio_test.hpp"

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

zokio::task<void> waiter(zokio::event* e, std::atomic<int>* woken) {
  co_await e->wait();
  ++*woken;
}

zokio::task<int> set_wakes_all(unsigned workers) {
  zokio::event e;
  std::atomic<int> woken{0};
  std::vector<zokio::join_handle<void>> hs;
  for (unsigned i = 0; i < 100; ++i) {
    hs.push_back(zokio::spawn_on(i % workers, waiter(&e, &woken)));
  }
  co_await zokio::sleep_for(5ms);
  const int before = woken.load();
  e.set();
  for (auto& h : hs) {
    co_await h;
  }
  co_return before == 0 ? woken.load() : -1;
}

TEST(event, set_wakes_every_waiter_on_every_worker) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_EQ(rt.block_on(set_wakes_all(2)), 100);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> stays_set_until_reset() {
  zokio::event e;
  e.set();
  co_await e.wait();
  co_await e.wait();
  e.reset();
  std::atomic<int> woken{0};
  auto h = zokio::spawn(waiter(&e, &woken));
  co_await zokio::sleep_for(5ms);
  const bool blocked = woken == 0;
  e.set();
  co_await h;
  co_return blocked&& woken == 1;
}

TEST(event, stays_set_until_reset) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(stays_set_until_reset()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> set_from_thread() {
  zokio::event e;
  std::thread t([&e] {
    std::this_thread::sleep_for(5ms);
    e.set();
  });
  co_await e.wait();
  t.join();
  co_return true;
}

TEST(event, a_plain_thread_can_set_it) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(set_from_thread()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> cancel_a_waiter() {
  zokio::event e;
  std::atomic<int> woken{0};
  auto h = zokio::spawn(waiter(&e, &woken));
  auto other = zokio::spawn(waiter(&e, &woken));
  co_await zokio::sleep_for(2ms);
  h.cancel();
  bool cancelled = false;
  try {
    co_await h;
  } catch (const zokio::operation_cancelled&) {
    cancelled = true;
  }
  e.set(); // the cancelled waiter was unlinked: only the other wakes
  co_await other;
  co_return cancelled&& woken == 1;
}

TEST(event, a_cancelled_waiter_is_removed) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(cancel_a_waiter()));
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
