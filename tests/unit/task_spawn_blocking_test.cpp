#include <zokio/task/spawn_blocking.hpp>

#include "zokio_test.hpp"

#include <atomic>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace {

zokio::task<void> ticker(std::atomic<int>* ticks, std::atomic<bool>* stop) {
  while (!*stop) {
    co_await zokio::sleep_for(1ms);
    ++*ticks;
  }
}

zokio::task<bool> blocking_runs_elsewhere() {
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  auto t = zokio::spawn(ticker(&ticks, &stop));
  const auto here = std::this_thread::get_id();
  auto id = co_await zokio::spawn_blocking([] {
    std::this_thread::sleep_for(100ms); // would freeze the loop if it ran there
    return std::this_thread::get_id();
  });
  stop = true;
  co_await t;
  // The loop kept ticking while the job slept: at least a few 1 ms ticks happened.
  co_return id != here&& ticks >= 5;
}

TEST(spawn_blocking, runs_on_the_pool_without_blocking_the_loop) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(blocking_runs_elsewhere()));
  EXPECT_EQ(rt.stats().blocking_in_flight, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> blocking_throws() {
  co_await zokio::spawn_blocking([]() -> int { throw std::invalid_argument("bad"); });
}

zokio::task<int> blocking_void() {
  int x = 0;
  co_await zokio::spawn_blocking([&x] { x = 3; });
  co_return x;
}

TEST(spawn_blocking, returns_values_and_exceptions) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_THROW(rt.block_on(blocking_throws()), std::invalid_argument);
  EXPECT_EQ(rt.block_on(blocking_void()), 3);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> cancel_running_job() {
  std::atomic<bool> ran{false};
  auto h = zokio::spawn_blocking([&ran] {
    std::this_thread::sleep_for(30ms);
    ran = true;
    return 1;
  });
  co_await zokio::sleep_for(5ms);
  h.cancel(); // a running job is waited for, never torn down under the pool thread
  try {
    co_await h;
  } catch (const zokio::operation_cancelled&) {
  }
  co_return ran.load();
}

TEST(spawn_blocking, a_running_job_is_waited_for_when_cancelled) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(cancel_running_job()));
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
