// Durations and deadlines too large to represent saturate ("for ever"), never wrap into the past
// (issue [fix] 2): a sleep of seconds::max() does not return at once, a timeout of seconds::max()
// does not time out, an interval of hours::max() is valid and never ticks twice.

#include <zokio/detail/duration.hpp>
#include <zokio/sync/channel.hpp>
#include <zokio/task/yield.hpp>
#include <zokio/time/interval.hpp>
#include <zokio/time/sleep.hpp>
#include <zokio/time/timeout.hpp>

#include "race.hpp"
#include "zokio_test.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

using namespace std::chrono_literals;

namespace {

using zokio::detail::ns_max;
using zokio::detail::ns_min;
using zokio::detail::saturating_add;
using zokio::detail::saturating_ns;

TEST(saturate, conversions_clamp_instead_of_overflowing) {
  EXPECT_EQ(saturating_ns(std::chrono::seconds::max()), ns_max);
  EXPECT_EQ(saturating_ns(std::chrono::milliseconds::max()), ns_max);
  EXPECT_EQ(saturating_ns(std::chrono::hours::max()), ns_max);
  EXPECT_EQ(saturating_ns(std::chrono::hours(24 * 365 * 300)), ns_max);
  EXPECT_EQ(saturating_ns(std::chrono::nanoseconds::max()), ns_max);
  EXPECT_EQ(saturating_ns(std::chrono::seconds::min()), ns_min);
  EXPECT_EQ(saturating_ns(std::chrono::duration<double>(INFINITY)), ns_max);
  EXPECT_EQ(saturating_ns(std::chrono::duration<double>(-INFINITY)), ns_min);
  EXPECT_EQ(saturating_ns(std::chrono::duration<double>(NAN)), 0);
  // In range: exact.
  EXPECT_EQ(saturating_ns(std::chrono::hours(24 * 365 * 200)),
            std::int64_t{24} * 365 * 200 * 3600 * 1'000'000'000);
  EXPECT_EQ(saturating_ns(1500us), 1'500'000);
  EXPECT_EQ(saturating_ns(std::chrono::duration<double, std::milli>(2.5)), 2'500'000);
  EXPECT_EQ(saturating_add(ns_max, 1), ns_max);
  EXPECT_EQ(saturating_add(ns_min, -1), ns_min);
  EXPECT_EQ(saturating_add(40, 2), 42);
}

template <typename Awaitable>
zokio::task<void> await_it(Awaitable a) {
  co_await std::move(a);
}

// Each of these must still be sleeping 50 ms later; then it is cancelled and unwinds.
template <typename Awaitable>
zokio::task<std::string> still_sleeping(Awaitable a) {
  auto h = zokio::spawn(await_it(std::move(a)));
  co_await zokio::sleep_for(50ms);
  const bool finished = h.is_finished();
  h.cancel();
  try {
    co_await h;
  } catch (const zokio::operation_cancelled&) {
  }
  co_return finished ? "returned at once" : "";
}

TEST(saturate, huge_sleeps_do_not_return_at_once) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(still_sleeping(zokio::sleep_for(std::chrono::seconds::max()))), "");
  EXPECT_EQ(rt.block_on(still_sleeping(zokio::sleep_for(std::chrono::milliseconds::max()))), "");
  EXPECT_EQ(rt.block_on(still_sleeping(zokio::sleep_for(std::chrono::hours(24 * 365 * 300)))), "");
  EXPECT_EQ(rt.block_on(still_sleeping(zokio::sleep_for(std::chrono::nanoseconds::max()))), "");
  using hours_point = std::chrono::time_point<std::chrono::steady_clock, std::chrono::hours>;
  EXPECT_EQ(rt.block_on(still_sleeping(zokio::sleep_until(hours_point::max()))), "");
  EXPECT_EQ(
      rt.block_on(still_sleeping(zokio::sleep_until(std::chrono::steady_clock::time_point::max()))),
      "");
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> sleep_until_the_earliest() {
  using hours_point = std::chrono::time_point<std::chrono::steady_clock, std::chrono::hours>;
  co_await zokio::sleep_until(std::chrono::steady_clock::time_point::min());
  co_await zokio::sleep_until(hours_point::min());
  co_await zokio::sleep_until(std::chrono::steady_clock::time_point{});
  // A timeout arms its timer whatever the deadline: the driver computes the time left.
  auto [tx, rx] = zokio::make_channel<int>(0);
  auto r = co_await zokio::timeout_at(std::chrono::steady_clock::time_point::min(), rx.recv());
  CO_REQUIRE(r.error() == zokio::errc::timed_out);
  auto r2 = co_await zokio::timeout(std::chrono::nanoseconds::min(), rx.recv());
  CO_REQUIRE(r2.error() == zokio::errc::timed_out);
}

// A deadline long past, as far back as a time point goes, is simply due: no overflow computing
// how long is left (UBSan caught `INT64_MIN - now` in the timer driver once).
TEST(saturate, the_earliest_deadlines_are_due_at_once) {
  zokio::runtime rt{{.workers = 1, .force_async = true}}; // through the timer, not inline
  const auto start = std::chrono::steady_clock::now();
  zokio::testing::block_on_within(rt, 10s, "sleeps until time_point::min()",
                                  sleep_until_the_earliest());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> answer_after(std::chrono::milliseconds d) {
  co_await zokio::sleep_for(d);
  co_return 42;
}

zokio::task<std::string> endless_timeouts() {
  auto a = co_await zokio::timeout(std::chrono::seconds::max(), answer_after(30ms));
  if (!a.ok() || a.value() != 42) {
    co_return "timeout(seconds::max()) gave: " +
        (a.ok() ? std::to_string(a.value()) : a.error().message());
  }
  auto b = co_await zokio::timeout(std::chrono::hours::max(), answer_after(1ms));
  if (!b.ok() || b.value() != 42) {
    co_return "timeout(hours::max()) failed";
  }
  co_return "";
}

TEST(saturate, a_timeout_of_seconds_max_does_not_expire) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(endless_timeouts()), "");
  zokio::testing::expect_clean_shutdown(rt);
}

template <typename Period>
zokio::task<std::string> ticks_once(Period p) {
  zokio::interval iv(p);
  co_await iv.tick(); // the first tick is at once
  auto h = zokio::spawn([](zokio::interval* i) -> zokio::task<void> { co_await i->tick(); }(&iv));
  co_await zokio::sleep_for(50ms);
  const bool ticked = h.is_finished();
  h.cancel();
  try {
    co_await h;
  } catch (const zokio::operation_cancelled&) {
  }
  iv.reset(); // saturates too
  co_return ticked ? "a second tick came at once" : "";
}

TEST(saturate, huge_interval_periods_are_valid_and_never_tick_twice) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(ticks_once(std::chrono::hours::max())), "");
  EXPECT_EQ(rt.block_on(ticks_once(std::chrono::nanoseconds::max())), "");
  EXPECT_EQ(rt.block_on(ticks_once(std::chrono::seconds::max())), "");
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> quick() {
  co_await zokio::sleep_for(1ms);
}

TEST(saturate, runtime_options_of_any_length) {
  // Graces of milliseconds::max(): a shutdown deadline that saturates instead of lying in the past.
  zokio::runtime rt{{.workers = 2,
                     .stall_threshold = std::chrono::milliseconds::max(),
                     .deadlock_grace = std::chrono::milliseconds::max(),
                     .shutdown_grace = std::chrono::milliseconds::max()}};
  rt.block_on(quick());
  EXPECT_EQ(rt.stats().stalls, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> short_resumes_for(std::chrono::milliseconds total) {
  const auto end = std::chrono::steady_clock::now() + total;
  while (std::chrono::steady_clock::now() < end) {
    zokio::testing::busy_for(200us);
    co_await zokio::yield_now();
  }
}

TEST(saturate, the_stall_watchdog_looks_with_a_threshold_of_any_length) {
  // With a threshold of milliseconds::max(), a watchdog look that catches a resume under 0.5 ms
  // old computed threshold - elapsed + 0.5 ms and overflowed (UBSan in CI, when a look happened
  // to land there). Here worker 0 runs nothing but 200 us resumes for 1.2 s, so nearly every
  // look (every 500 ms) lands in one; worker 1 waits in its poller through the same looks.
  zokio::runtime rt{{.workers = 2, .stall_threshold = std::chrono::milliseconds::max()}};
  rt.block_on(short_resumes_for(1200ms));
  EXPECT_EQ(rt.stats().stalls, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
