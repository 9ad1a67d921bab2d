#include <zokio/task/spawn.hpp>

#include "race.hpp"
#include "zokio_test.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

zokio::task<int> square(int x) {
  co_await zokio::yield_now();
  co_return x* x;
}

zokio::task<int> fails() {
  co_await zokio::yield_now();
  throw std::runtime_error("task failed");
}

zokio::task<int> sum_of_squares(int n) {
  std::vector<zokio::join_handle<int>> hs;
  for (int i = 0; i < n; ++i) {
    hs.push_back(zokio::spawn(square(i)));
  }
  int sum = 0;
  for (auto& h : hs) {
    sum += co_await h;
  }
  co_return sum;
}

TEST(spawn, joins_many_tasks) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(sum_of_squares(100)), 328350);
  EXPECT_EQ(rt.stats().tasks_completed, 101u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> join_rethrows() {
  auto h = zokio::spawn(fails());
  try {
    co_await h;
  } catch (const std::runtime_error& e) {
    co_return std::string(e.what()) == "task failed";
  }
  co_return false;
}

TEST(spawn, join_rethrows_the_task_exception) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(join_rethrows()));
  EXPECT_EQ(rt.stats().tasks_failed, 1u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> detach_failing() {
  zokio::spawn(fails(), {.name = "doomed"}).detach();
  co_await zokio::sleep_for(5ms);
}

TEST(spawn, a_detached_failure_reaches_on_task_error) {
  std::vector<std::string> seen;
  zokio::runtime rt{{.workers = 1, .on_task_error = [&](const zokio::task_failure& f) {
                       try {
                         std::rethrow_exception(f.error);
                       } catch (const std::exception& e) {
                         seen.push_back(std::string(f.name) + ": " + e.what());
                       }
                     }}};
  rt.block_on(detach_failing());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "doomed: task failed");
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> fails_now() {
  throw std::runtime_error("failed at once");
  co_return 0;
}

zokio::task<int> succeeds_now() {
  co_return 1;
}

// A handle dropped on a plain thread while its task finishes on its worker: the drop's detach
// and the worker's finish race for the task's joiner word. Whichever wins, each failure is
// reported once and each success never, and every record is freed (the clean shutdown).
zokio::task<void> spawn_and_hand_off(std::vector<zokio::join_handle<int>>* out, int n) {
  for (int i = 0; i < n; ++i) {
    out->push_back(zokio::spawn_on(1, i % 2 == 0 ? fails_now() : succeeds_now()));
  }
  co_return;
}

TEST(spawn, detach_racing_finish_reports_each_failure_once) {
  std::atomic<int> reports{0};
  zokio::runtime rt{{.workers = 2, .on_task_error = [&](const zokio::task_failure&) {
                       reports.fetch_add(1, std::memory_order_relaxed);
                     }}};
  constexpr int rounds = 200;
  constexpr int per_round = 16;
  for (int round = 0; round < rounds; ++round) {
    std::vector<zokio::join_handle<int>> handles;
    rt.block_on(spawn_and_hand_off(&handles, per_round));
    // Dropped on a plain thread after a short, varying head start: some tasks are done by then
    // (the detach reports), some not yet (the finish does).
    std::thread dropper([&handles, round] {
      zokio::testing::busy_for(std::chrono::microseconds(round % 20));
      handles.clear();
    });
    dropper.join();
  }
  const int failing = rounds * per_round / 2;
  zokio::testing::wait_until([&] { return reports.load() >= failing; }, 10s,
                             "every detached failure reported");
  EXPECT_EQ(reports.load(), failing);
  EXPECT_EQ(rt.stats().tasks_failed, static_cast<std::uint64_t>(failing));
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(spawn, a_failure_detached_after_it_finished_is_reported_once) {
  int seen = 0;
  zokio::runtime rt{{.workers = 1, .on_task_error = [&](const zokio::task_failure&) { ++seen; }}};
  zokio::join_handle<int> h;
  rt.block_on([](zokio::join_handle<int>* out) -> zokio::task<void> {
    *out = zokio::spawn(fails_now());
    while (!out->is_finished()) {
      co_await zokio::yield_now();
    }
  }(&h));
  EXPECT_EQ(seen, 0); // finished, still held: nobody has let go of its failure yet
  h.detach();
  EXPECT_EQ(seen, 1);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<std::thread::id> thread_of() {
  co_await zokio::yield_now();
  co_return std::this_thread::get_id();
}

zokio::task<bool> spawn_on_other_worker() {
  const auto here = std::this_thread::get_id();
  auto there = co_await zokio::spawn_on(1, thread_of());
  auto again = co_await zokio::spawn_on(0, thread_of());
  co_return there != here&& again == here;
}

TEST(spawn, spawn_on_runs_on_that_worker_and_returns_across_threads) {
  zokio::runtime rt{{.workers = 2}};
  // The join suspends only when worker 1 has not finished by the time worker 0 awaits; on a
  // loaded machine worker 0's thread can be descheduled for that long, so repeat (bounded) until
  // the cross-thread resume has been seen once.
  for (int round = 0; round < 50 && rt.stats().resumes_cross_thread == 0; ++round) {
    EXPECT_TRUE(rt.block_on(spawn_on_other_worker()));
  }
  EXPECT_GT(rt.stats().resumes_cross_thread, 0u);
  EXPECT_GT(rt.stats().workers[1].tasks_completed, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> bad_worker() {
  (void)zokio::spawn_on(7, thread_of());
  co_return;
}

TEST(spawn, spawn_on_a_missing_worker_throws) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_THROW(rt.block_on(bad_worker()), std::out_of_range);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> join_set_sum() {
  zokio::join_set<int> set;
  for (int i = 1; i <= 50; ++i) {
    set.spawn(square(i));
  }
  int sum = 0;
  std::size_t n = 0;
  while (auto v = co_await set.next()) {
    sum += *v;
    ++n;
  }
  co_return n == 50 ? sum : -1;
}

TEST(join_set, yields_every_result) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(join_set_sum()), 42925);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> sleeper(std::chrono::milliseconds d, int v) {
  co_await zokio::sleep_for(d);
  co_return v;
}

zokio::task<std::vector<int>> join_set_order() {
  zokio::join_set<int> set;
  set.spawn(sleeper(60ms, 3));
  set.spawn(sleeper(20ms, 1));
  set.spawn(sleeper(40ms, 2));
  std::vector<int> order;
  while (auto v = co_await set.next()) {
    order.push_back(*v);
  }
  co_return order;
}

TEST(join_set, results_come_out_as_tasks_finish) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(join_set_order()), (std::vector<int>{1, 2, 3}));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> join_set_dropped() {
  zokio::join_set<int> set;
  set.spawn(sleeper(10s, 1));
  set.spawn(sleeper(10s, 2));
  co_await zokio::yield_now();
  // Leaving the scope cancels both sleepers.
}

TEST(join_set, destroying_the_set_cancels_the_rest) {
  zokio::runtime rt{{.workers = 1}};
  const auto start = std::chrono::steady_clock::now();
  rt.block_on(join_set_dropped());
  rt.block_on(sleeper(1ms, 0)); // a loop turn for the cancelled sleepers to unwind
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(rt.stats().tasks_cancelled, 2u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> nap(std::chrono::milliseconds d) {
  co_await zokio::sleep_for(d);
}

zokio::task<bool> when_all_runs_concurrently() {
  const auto start = std::chrono::steady_clock::now();
  auto [a, b, c] = co_await zokio::when_all(sleeper(200ms, 1), nap(200ms), sleeper(200ms, 3));
  (void)b;
  const auto took = std::chrono::steady_clock::now() - start;
  // Three 200 ms sleeps one after another would take 600 ms. Each condition is its own
  // assertion, so that a failure names itself.
  EXPECT_EQ(a, 1);
  EXPECT_EQ(c, 3);
  EXPECT_LT(took, 550ms) << "the three sleeps did not run concurrently";
  co_return a == 1 && c == 3 && took < 550ms;
}

TEST(when_all, waits_for_every_task_concurrently) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(when_all_runs_concurrently()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> when_all_vector() {
  std::vector<zokio::task<int>> ts;
  for (int i = 0; i < 10; ++i) {
    ts.push_back(square(i));
  }
  auto v = co_await zokio::when_all(std::move(ts));
  int sum = 0;
  for (int x : v) {
    sum += x;
  }
  co_return sum;
}

// A child that records that it ran to its end (or failed there), after `d`.
zokio::task<int> finishes_after(std::chrono::milliseconds d, int v, std::vector<int>* done) {
  co_await zokio::sleep_for(d);
  done->push_back(v);
  co_return v;
}

zokio::task<int> fails_after(std::chrono::milliseconds d, int v, std::vector<int>* done) {
  co_await zokio::sleep_for(d);
  done->push_back(v);
  throw std::runtime_error("failure " + std::to_string(v));
}

// The later failure in argument order (3) happens first in time; the earlier one (1) happens
// later; a slow success (2) comes last of all. when_all must wait for all three and rethrow
// failure 1, the first in argument order.
zokio::task<std::string> when_all_failure(std::vector<int>* done) {
  try {
    co_await zokio::when_all(fails_after(40ms, 1, done), finishes_after(80ms, 2, done),
                             fails_after(5ms, 3, done));
  } catch (const std::runtime_error& e) {
    co_return e.what();
  }
  co_return "nothing thrown";
}

zokio::task<std::string> when_all_vector_failure(std::vector<int>* done) {
  std::vector<zokio::task<int>> ts;
  // The first child fails early, a slow one follows: it must still be awaited to its end.
  ts.push_back(fails_after(10ms, 11, done));
  ts.push_back(finishes_after(60ms, 10, done));
  ts.push_back(fails_after(1ms, 12, done));
  ts.push_back(finishes_after(30ms, 13, done));
  try {
    co_await zokio::when_all(std::move(ts));
  } catch (const std::runtime_error& e) {
    co_return e.what();
  }
  co_return "nothing thrown";
}

TEST(when_all, vector_form_and_failure) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(when_all_vector()), 285);
  std::vector<int> done;
  EXPECT_EQ(zokio::testing::block_on_within(rt, 10s, "when_all over failing children to finish",
                                            when_all_failure(&done)),
            "failure 1")
      << "the first failure in argument order is rethrown";
  EXPECT_EQ(done, (std::vector<int>{3, 1, 2})) << "every child was awaited to its end";
  done.clear();
  EXPECT_EQ(zokio::testing::block_on_within(rt, 10s, "when_all over a vector to finish",
                                            when_all_vector_failure(&done)),
            "failure 11")
      << "the first failure in argument order is rethrown";
  EXPECT_EQ(done, (std::vector<int>{12, 11, 13, 10})) << "every child was awaited to its end";
  EXPECT_EQ(rt.stats().tasks_failed, 4u);
  EXPECT_EQ(rt.stats().tasks_cancelled, 0u) << "a failure does not cancel the siblings";
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<std::pair<std::size_t, int>> first_of() {
  co_return co_await zokio::when_any(sleeper(5s, 1), sleeper(10ms, 2), sleeper(5s, 3));
}

TEST(when_any, returns_the_first_and_cancels_the_rest) {
  zokio::runtime rt{{.workers = 1}};
  const auto start = std::chrono::steady_clock::now();
  const auto [index, value] = rt.block_on(first_of());
  EXPECT_EQ(index, 1u);
  EXPECT_EQ(value, 2);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(rt.stats().tasks_cancelled, 2u);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
