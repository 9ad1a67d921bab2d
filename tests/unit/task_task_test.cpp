#include <zokio/task/task.hpp>

#include "zokio_test.hpp"

#include <stdexcept>
#include <string>

namespace {

zokio::task<int> value(int v) {
  co_return v;
}

zokio::task<int> add(int a, int b) {
  co_return co_await value(a) + co_await value(b);
}

zokio::task<void> thrower() {
  throw std::runtime_error("boom");
  co_return;
}

zokio::task<int> depth(int n) {
  if (n == 0) {
    co_return 0;
  }
  co_return 1 + co_await depth(n - 1);
}

zokio::task<int> counted(int& started) {
  ++started;
  co_return 1;
}

zokio::task<std::string> catches() {
  try {
    co_await thrower();
  } catch (const std::runtime_error& e) {
    co_return e.what();
  }
  co_return "no exception";
}

zokio::task<int&> ref(int& x) {
  co_return x;
}

zokio::task<int> use_ref() {
  int x = 5;
  int& r = co_await ref(x);
  r = 6;
  co_return x;
}

TEST(task, returns_values_through_nested_awaits) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(add(2, 3)), 5);
  EXPECT_EQ(rt.block_on(use_ref()), 6);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(task, carries_exceptions_to_the_awaiter) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(catches()), "boom");
  EXPECT_THROW(rt.block_on(thrower()), std::runtime_error);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(task, is_lazy_and_destroys_an_unstarted_frame) {
  int started = 0;
  {
    zokio::task<int> t = counted(started);
    EXPECT_TRUE(t.valid());
  }
  EXPECT_EQ(started, 0);
}

TEST(task, deep_chains_use_symmetric_transfer_without_growing_the_stack) {
  zokio::runtime rt{{.workers = 1}};
  // 200,000 nested awaits would overflow an 8 MiB stack if each resumed the next recursively.
  EXPECT_EQ(rt.block_on(depth(200'000)), 200'000);
  // Awaiting a task is a call, not a runtime await: nothing is counted.
  EXPECT_EQ(rt.stats().awaits, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
