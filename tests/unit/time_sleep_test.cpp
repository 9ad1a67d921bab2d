#include <zokio/time/sleep.hpp>

#include "zokio_test.hpp"

#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

zokio::task<void> nap(std::chrono::milliseconds d) {
  co_await zokio::sleep_for(d);
}

zokio::task<void> thousand_sleeps() {
  std::vector<zokio::join_handle<void>> hs;
  hs.reserve(1000);
  for (int i = 0; i < 1000; ++i) {
    hs.push_back(zokio::spawn(nap(100ms)));
  }
  for (auto& h : hs) {
    co_await h;
  }
}

TEST(sleep, a_thousand_100ms_sleeps_run_concurrently) {
  zokio::runtime rt{{.workers = 1}};
  const auto start = std::chrono::steady_clock::now();
  rt.block_on(thousand_sleeps());
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 2s); // one after another they would take 100 s
  EXPECT_EQ(rt.stats().timers_pending, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<std::vector<int>> wake_order() {
  std::vector<int> order;
  struct one {
    static zokio::task<void> run(std::vector<int>* out, int ms) {
      co_await zokio::sleep_for(std::chrono::milliseconds(ms));
      out->push_back(ms);
    }
  };
  std::vector<zokio::join_handle<void>> hs;
  for (int ms : {50, 10, 40, 20, 30}) {
    hs.push_back(zokio::spawn(one::run(&order, ms)));
  }
  for (auto& h : hs) {
    co_await h;
  }
  co_return order;
}

TEST(sleep, wakes_in_deadline_order) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(wake_order()), (std::vector<int>{10, 20, 30, 40, 50}));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> sleep_until_deadline() {
  const auto deadline = std::chrono::steady_clock::now() + 30ms;
  co_await zokio::sleep_until(deadline);
  co_return std::chrono::steady_clock::now() >= deadline;
}

zokio::task<void> zero_sleep() {
  co_await zokio::sleep_for(0ms);
}

TEST(sleep, never_wakes_early_and_zero_completes_inline) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(sleep_until_deadline()));
  const auto before = rt.stats().awaits_inline;
  rt.block_on(zero_sleep());
  EXPECT_EQ(rt.stats().awaits_inline, before + 1);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(sleep, force_async_makes_even_a_zero_sleep_suspend) {
  zokio::runtime rt{{.workers = 1, .force_async = true}};
  rt.block_on(zero_sleep());
  const auto s = rt.stats();
  EXPECT_EQ(s.awaits, 1u);
  EXPECT_EQ(s.awaits_suspended, 1u);
  EXPECT_EQ(s.awaits_inline, 0u);
  EXPECT_EQ(s.resumes_from_loop, 1u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<zokio::result<int>> slow_value() {
  co_await zokio::sleep_for(10s);
  co_return 1;
}

zokio::task<int> quick_value() {
  co_await zokio::sleep_for(1ms);
  co_return 7;
}

zokio::task<zokio::result<int>> times_out() {
  co_return co_await zokio::timeout(20ms, slow_value());
}

zokio::task<zokio::result<int>> in_time() {
  co_return co_await zokio::timeout(1s, quick_value());
}

TEST(timeout, expires_and_cancels_the_inner_task) {
  zokio::runtime rt{{.workers = 1}};
  const auto start = std::chrono::steady_clock::now();
  auto r = zokio::testing::block_on_within(
      rt, 10s, "the timeout to expire and cancel its inner task", times_out());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_EQ(r.error(), zokio::errc::timed_out); // the timeout's own deadline, not a socket's
  EXPECT_EQ(r.error().message(), "timed out");
  EXPECT_EQ(rt.stats().tasks_cancelled, 1u); // the inner task unwound before timeout returned
  EXPECT_EQ(rt.stats().timers_pending, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(timeout, passes_a_value_through_in_time) {
  zokio::runtime rt{{.workers = 1}};
  auto r = rt.block_on(in_time());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r.value(), 7);
  EXPECT_EQ(rt.stats().timers_pending, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

// A timer withdrawn before its deadline (here, a timeout whose operation completed) is left
// armed for the next one (timer_driver::remove), but never as pending work: the runtime shuts
// down at once, and a task then waiting on nothing is a deadlock within the grace, not when the
// abandoned deadline comes (30 s here).

zokio::task<int> timeouts_in_time(int n) {
  int sum = 0;
  for (int i = 0; i < n; ++i) {
    zokio::result<int> r = co_await zokio::timeout(30s, quick_value());
    sum += r.ok() ? r.value() : 0;
  }
  co_return sum;
}

/// The worker's gauge of active handles after a few loop turns in which the worker stays busy
/// (a turn comes after every ready_budget resumes, 128 by default, and refreshes the gauge; an
/// idle worker would stop the timer before it blocks).
zokio::task<std::uint64_t> handles_active(zokio::runtime* rt) {
  for (int i = 0; i < 1000; ++i) {
    co_await zokio::yield_now();
  }
  co_return rt->stats().workers.at(0).handles_active;
}

/// The gauge before and after the timeouts.
zokio::task<std::pair<std::uint64_t, std::uint64_t>> handles_around_timeouts(zokio::runtime* rt) {
  const std::uint64_t before = co_await handles_active(rt);
  if (co_await timeouts_in_time(100) != 700) {
    co_return std::pair{before, std::uint64_t{1000}};
  }
  co_return std::pair{before, co_await handles_active(rt)};
}

TEST(timeout, one_completed_in_time_leaves_nothing_pending_at_shutdown) {
  zokio::runtime rt{{.workers = 1}};
  const auto [before, after] = rt.block_on(handles_around_timeouts(&rt));
  EXPECT_EQ(after, before) << "a stale timer counted as an active handle";
  EXPECT_EQ(rt.stats().timers_pending, 0u);
  const auto start = std::chrono::steady_clock::now();
  zokio::testing::expect_clean_shutdown(rt);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "shutdown waited for a stale timer";
}

zokio::task<void> timeouts_then_wait_never_set() {
  (void)co_await timeouts_in_time(100);
  zokio::event never;
  co_await never.wait();
}

TEST(timeout, one_completed_in_time_does_not_hide_a_deadlock) {
  zokio::runtime rt{{.workers = 1, .deadlock_grace = 100ms}};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(zokio::testing::block_on_within(rt, 60s, "the deadlock to be reported",
                                               timeouts_then_wait_never_set()),
               zokio::deadlock_error);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s) << "the abandoned deadline hid it";
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
