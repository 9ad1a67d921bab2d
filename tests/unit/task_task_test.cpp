#include <zokio/task/task.hpp>

#include "zokio_test.hpp"

#include <stdexcept>
#include <string>
#include <vector>

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

// A task's exception waits in a thread-local between the body's end and its awaiter (or the
// spawned task's record). Nothing of it may stay there, cross into another task's result, or be
// lost on the way through nested awaits, suspensions and catches.
struct tracked_error {
  int* alive;
  int code;
  tracked_error(int* a, int c) : alive(a), code(c) { ++*alive; }
  tracked_error(const tracked_error& o) : alive(o.alive), code(o.code) { ++*alive; }
  ~tracked_error() { --*alive; }
};

zokio::task<int> fail_with(int* alive, int code, bool suspend_first) {
  if (suspend_first) {
    co_await zokio::yield_now();
  }
  throw tracked_error(alive, code);
}

zokio::task<int> rethrow_from_middle(int* alive, int code) {
  try {
    co_return co_await fail_with(alive, code, true);
  } catch (const tracked_error& e) {
    throw tracked_error(alive, e.code + 1); // a different error on the way out
  }
}

zokio::task<void> void_fail(int* alive, int code) {
  co_await zokio::yield_now();
  throw tracked_error(alive, code);
}

zokio::task<std::vector<int>> errors_through_nesting(int* alive) {
  std::vector<int> seen;
  for (int round = 0; round < 3; ++round) {
    try {
      co_await rethrow_from_middle(alive, 10 * round);
    } catch (const tracked_error& e) {
      seen.push_back(e.code);
    }
    seen.push_back(co_await value(round)); // a success right after: no error left over
    try {
      co_await void_fail(alive, 100 + round);
    } catch (const tracked_error& e) {
      seen.push_back(e.code);
    }
    // Two spawned tasks fail on this worker while this one waits for both.
    auto a = zokio::spawn(fail_with(alive, 200 + round, false));
    auto b = zokio::spawn(fail_with(alive, 300 + round, true));
    for (auto* h : {&a, &b}) {
      try {
        co_await *h;
      } catch (const tracked_error& e) {
        seen.push_back(e.code);
      }
    }
  }
  co_return seen;
}

TEST(task, each_exception_reaches_its_own_awaiter_and_none_is_kept) {
  zokio::runtime rt{{.workers = 1}};
  int alive = 0;
  const std::vector<int> seen = rt.block_on(errors_through_nesting(&alive));
  EXPECT_EQ(seen,
            (std::vector<int>{1, 0, 100, 200, 300, 11, 1, 101, 201, 301, 21, 2, 102, 202, 302}));
  EXPECT_EQ(alive, 0) << "an exception object outlived every handler";
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> await_twice(int* alive) {
  zokio::task<void> t = void_fail(alive, 7);
  int first = 0;
  try {
    co_await t;
  } catch (const tracked_error& e) {
    first = e.code;
  }
  try {
    co_await t; // a finished task, awaited again: misuse, reported rather than a success
  } catch (const std::logic_error&) {
    co_return first;
  }
  co_return -1;
}

TEST(task, a_failed_task_awaited_again_reports_the_misuse) {
  zokio::runtime rt{{.workers = 1}};
  int alive = 0;
  EXPECT_EQ(rt.block_on(await_twice(&alive)), 7);
  EXPECT_EQ(alive, 0);
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
