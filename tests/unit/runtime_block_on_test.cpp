#include <zokio/runtime/runtime.hpp>

#include "zokio_test.hpp"

#include <atomic>
#include <coroutine>
#include <exception>
#include <thread>

using namespace std::chrono_literals;

namespace {

zokio::task<int> answer() {
  co_await zokio::sleep_for(10ms);
  co_return 42;
}

zokio::task<int> main_task() {
  auto h = zokio::spawn(answer());
  co_await zokio::yield_now();
  co_return co_await h;
}

zokio::task<void> nested(zokio::runtime* rt) {
  // block_on on a worker thread must throw instead of blocking the loop it runs on.
  rt->block_on(answer());
  co_return;
}

// A minimal coroutine type that is not Zokio's: it runs eagerly on whatever thread calls it.
struct eager {
  struct promise_type {
    std::exception_ptr* m_error;
    template <typename... Rest>
    promise_type(std::exception_ptr& e, Rest&&...) : m_error(&e) {}
    eager get_return_object() { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { *m_error = std::current_exception(); }
  };
};

eager sleep_outside(std::exception_ptr& error) {
  co_await zokio::sleep_for(1ms);
}

eager join_outside(std::exception_ptr& error, zokio::join_handle<int>* h) {
  co_await *h;
}

TEST(runtime, block_on_drives_the_api_example) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(main_task()), 42);
  const zokio::runtime_stats s = rt.stats();
  EXPECT_EQ(s.sync_fallbacks, 0u);
  EXPECT_EQ(s.tasks_spawned, 2u); // block_on's task and answer()
  EXPECT_EQ(s.tasks_completed, 2u);
  EXPECT_GE(s.awaits_suspended, 2u); // the sleep and the yield really suspended
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(runtime, awaiting_outside_a_runtime_throws_instead_of_running_synchronously) {
  std::exception_ptr error;
  sleep_outside(error);
  ASSERT_TRUE(error);
  EXPECT_THROW(std::rethrow_exception(error), zokio::no_runtime_error);

  // Also on a thread that never saw a runtime.
  std::exception_ptr thread_error;
  std::thread([&] { sleep_outside(thread_error); }).join();
  ASSERT_TRUE(thread_error);
  EXPECT_THROW(std::rethrow_exception(thread_error), zokio::no_runtime_error);
}

TEST(runtime, spawning_outside_a_runtime_throws) {
  EXPECT_THROW((void)zokio::spawn(answer()), zokio::no_runtime_error);
  EXPECT_THROW((void)zokio::spawn_on(0, answer()), zokio::no_runtime_error);
  EXPECT_THROW((void)zokio::spawn_blocking([] { return 1; }), zokio::no_runtime_error);
}

TEST(runtime, block_on_inside_a_worker_throws_nested_block_on_error) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_THROW(rt.block_on(nested(&rt)), zokio::nested_block_on_error);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(runtime, spawn_from_another_thread_runs_on_the_runtime) {
  zokio::runtime rt{{.workers = 2}};
  std::optional<zokio::join_handle<int>> h;
  std::thread([&] { h.emplace(rt.spawn(answer())); }).join();
  // Join it from inside; a handle awaited outside a runtime throws no_runtime_error.
  std::exception_ptr error;
  join_outside(error, &*h);
  ASSERT_TRUE(error);
  EXPECT_THROW(std::rethrow_exception(error), zokio::no_runtime_error);
  struct joiner {
    static zokio::task<int> run(zokio::join_handle<int>* h) { co_return co_await *h; }
  };
  EXPECT_EQ(rt.block_on(joiner::run(&*h)), 42);
  h.reset();
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(runtime, shutdown_is_idempotent_and_spawn_afterwards_throws) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_EQ(rt.block_on(answer()), 42);
  EXPECT_TRUE(rt.shutdown().clean());
  EXPECT_TRUE(rt.shutdown().clean());
  EXPECT_THROW((void)rt.spawn(answer()), zokio::no_runtime_error);
  EXPECT_THROW(rt.block_on(answer()), zokio::no_runtime_error);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(runtime, workers_zero_means_one_per_core) {
  zokio::runtime rt;
  const unsigned cores = std::thread::hardware_concurrency();
  EXPECT_EQ(rt.workers(), cores == 0 ? 1u : cores) << "one worker per core";
  EXPECT_EQ(rt.stats().workers.size(), rt.workers());
  EXPECT_EQ(rt.block_on(answer()), 42);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(runtime, metrics_formats_name_every_counter) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_EQ(rt.block_on(main_task()), 42);
  const std::string json = zokio::diag::to_json(rt.stats());
  EXPECT_NE(json.find("\"sync_fallbacks\":0"), std::string::npos) << json;
  EXPECT_NE(json.find("\"workers\":[{"), std::string::npos) << json;
  const std::string prom = zokio::diag::to_prometheus(rt.stats());
  EXPECT_NE(prom.find("zokio_tasks_spawned_total{worker=\"0\"} 2"), std::string::npos) << prom;
  EXPECT_NE(prom.find("# TYPE zokio_tasks_live gauge"), std::string::npos) << prom;
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
