// stats().stalls counts resumes that ran past stall_threshold (issue [fix] 6): a counter in the
// public stats is true from the day it exists.

#include <zokio/time/sleep.hpp>

#include "race.hpp"
#include "zokio_test.hpp"

#include <chrono>

using namespace std::chrono_literals;

namespace {

using zokio::testing::busy_for;

zokio::task<void> busy_task(std::chrono::milliseconds d) {
  co_await zokio::sleep_for(2ms); // past the tick calibration's first millisecond
  busy_for(d);
  co_await zokio::yield_now();
}

TEST(stall, a_resume_past_the_threshold_counts_once) {
  zokio::runtime rt{{.workers = 1, .stall_threshold = 50ms}};
  rt.block_on(busy_task(400ms));
  EXPECT_EQ(rt.stats().stalls, 1u);
  rt.block_on(busy_task(120ms));
  EXPECT_EQ(rt.stats().stalls, 2u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> many_short_resumes() {
  for (int i = 0; i < 2000; ++i) {
    co_await zokio::yield_now();
  }
  co_await zokio::sleep_for(300ms); // waiting never counts
}

TEST(stall, waiting_and_short_resumes_never_count) {
  zokio::runtime rt{{.workers = 1, .stall_threshold = 50ms}};
  rt.block_on(many_short_resumes());
  EXPECT_EQ(rt.stats().stalls, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(stall, a_threshold_of_zero_turns_counting_off) {
  zokio::runtime rt{{.workers = 1, .stall_threshold = 0ms}};
  rt.block_on(busy_task(120ms));
  EXPECT_EQ(rt.stats().stalls, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> busy_elsewhere() {
  auto h = zokio::spawn_on(1, busy_task(200ms));
  co_await h;
}

TEST(stall, counted_on_the_worker_that_stalled) {
  zokio::runtime rt{{.workers = 2, .stall_threshold = 50ms}};
  rt.block_on(busy_elsewhere());
  const auto s = rt.stats();
  EXPECT_EQ(s.stalls, 1u);
  ASSERT_EQ(s.workers.size(), 2u);
  EXPECT_EQ(s.workers[0].stalls, 0u);
  EXPECT_EQ(s.workers[1].stalls, 1u);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
