#include <zokio/time/interval.hpp>

#include "zokio_test.hpp"

#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

zokio::task<clock_type::duration> ten_ticks() {
  auto iv = zokio::interval(10ms);
  const auto start = clock_type::now();
  for (int i = 0; i < 10; ++i) {
    co_await iv.tick();
  }
  co_return clock_type::now() - start;
}

TEST(time_interval, ten_ticks_of_10ms_take_90ms) {
  zokio::runtime rt{{.workers = 1}};
  const auto took = rt.block_on(ten_ticks());
  // The first tick completes at once, the other nine a period apart.
  EXPECT_GE(took, 90ms);
  EXPECT_LT(took, 1s);
  EXPECT_EQ(rt.stats().timers_pending, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

struct late_ticks {
  std::vector<clock_type::time_point> woke; // when each tick after the busy wait completed
  std::vector<clock_type::time_point> due;  // the deadline each returned
  clock_type::time_point busy_end;
};

zokio::task<late_ticks> late_tick() {
  auto iv = zokio::interval(10ms);
  co_await iv.tick();
  co_await iv.tick();
  // Busy for five periods: the loop cannot tick meanwhile.
  late_ticks out;
  out.busy_end = clock_type::now() + 50ms;
  while (clock_type::now() < out.busy_end) {
  }
  for (int i = 0; i < 6; ++i) {
    out.due.push_back(co_await iv.tick());
    out.woke.push_back(clock_type::now());
  }
  co_return out;
}

TEST(time_interval, a_late_tick_does_not_cause_a_burst) {
  zokio::runtime rt{{.workers = 1, .stall_threshold = 1000ms}};
  const late_ticks t = rt.block_on(late_tick());
  // The tick that fell due during the busy wait completes at once. The other four that were
  // missed are not made up for with a burst (they would be due before the busy wait ended):
  // the schedule restarts from the late tick, a period apart, and no tick comes early.
  EXPECT_LT(t.due[0], t.busy_end);
  for (std::size_t i = 1; i < t.due.size(); ++i) {
    EXPECT_GE(t.due[i], t.busy_end + 10ms) << "tick " << i << " after the late one";
    EXPECT_GE(t.due[i] - t.due[i - 1], 10ms) << "tick " << i << " after the late one";
  }
  for (std::size_t i = 0; i < t.woke.size(); ++i) {
    EXPECT_GE(t.woke[i], t.due[i]);
  }
  EXPECT_GE(t.woke.back() - t.busy_end, 50ms);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> cancelled_tick(zokio::interval* iv) {
  try {
    co_await iv->tick();
    co_await iv->tick(); // a period away: cancelled while it waits
  } catch (const zokio::operation_cancelled&) {
    co_return true;
  }
  co_return false;
}

zokio::task<bool> cancel_a_tick() {
  auto iv = zokio::interval(1h);
  auto h = zokio::spawn(cancelled_tick(&iv));
  co_await zokio::sleep_for(5ms);
  h.cancel();
  co_return co_await h;
}

TEST(time_interval, a_cancelled_tick_removes_its_timer) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(cancel_a_tick()));
  EXPECT_EQ(rt.stats().timers_pending, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> forced_ticks() {
  auto iv = zokio::interval(1ms);
  for (int i = 0; i < 5; ++i) {
    co_await iv.tick();
  }
}

TEST(time_interval, force_async_ticks_suspend_even_when_due) {
  zokio::runtime rt{{.workers = 1, .force_async = true}};
  rt.block_on(forced_ticks());
  EXPECT_EQ(rt.stats().awaits_inline, 0u);
  EXPECT_EQ(rt.stats().awaits, 5u);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(time_interval, rejects_a_period_that_is_not_positive) {
  EXPECT_THROW(zokio::interval(0ms), std::invalid_argument);
}

} // namespace
