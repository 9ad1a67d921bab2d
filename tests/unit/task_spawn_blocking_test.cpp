#include <zokio/task/spawn_blocking.hpp>

#include "zokio_test.hpp"

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

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
  co_return (id != here) && (ticks >= 5);
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
  std::atomic<bool> started{false};
  auto h = zokio::spawn_blocking([&ran, &started] {
    started = true;
    std::this_thread::sleep_for(30ms);
    ran = true;
    return 1;
  });
  // Cancel only once the job runs (a queued job is dropped instead): bounded, not a hang.
  for (int i = 0; i < 2000 && !started.load(); ++i) {
    co_await zokio::sleep_for(1ms);
  }
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

namespace {

zokio::task<int> many_jobs(int n) {
  std::vector<zokio::join_handle<int>> hs;
  for (int i = 0; i < n; ++i) {
    hs.push_back(zokio::spawn_blocking([i] {
      std::this_thread::sleep_for(1ms);
      return i;
    }));
  }
  int sum = 0;
  for (auto& h : hs) {
    sum += co_await h;
  }
  co_return sum;
}

TEST(spawn_blocking, more_jobs_than_threads_wait_for_one) {
  zokio::runtime rt{{.workers = 2, .max_blocking_threads = 3}};
  EXPECT_EQ(rt.block_on(many_jobs(200)), 199 * 200 / 2);
  EXPECT_EQ(rt.stats().blocking_in_flight, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> cancel_queued_job() {
  std::atomic<bool> ran{false};
  auto busy = zokio::spawn_blocking([] { std::this_thread::sleep_for(50ms); });
  co_await zokio::sleep_for(5ms); // the only thread is busy: the next job queues
  auto queued = zokio::spawn_blocking([&ran] { ran = true; });
  co_await zokio::sleep_for(5ms);
  queued.cancel();
  bool cancelled = false;
  try {
    co_await queued;
  } catch (const zokio::operation_cancelled&) {
    cancelled = true;
  }
  co_await busy;
  co_return cancelled && !ran;
}

TEST(spawn_blocking, a_queued_job_is_dropped_when_cancelled) {
  zokio::runtime rt{{.workers = 1, .max_blocking_threads = 1}};
  EXPECT_TRUE(rt.block_on(cancel_queued_job()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> long_job() {
  co_await zokio::spawn_blocking([] { std::this_thread::sleep_for(300ms); });
}

TEST(spawn_blocking, a_running_job_is_not_a_deadlock) {
  // The pool is not libuv's, so the worker counts its jobs as external work itself.
  zokio::runtime rt{{.workers = 1, .deadlock_grace = 50ms}};
  EXPECT_NO_THROW(rt.block_on(long_job()));
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
