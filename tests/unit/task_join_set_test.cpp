#include <zokio/task/join_set.hpp>

#include "zokio_test.hpp"

#include <optional>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {

zokio::task<int> value_after(std::chrono::milliseconds d, int v) {
  co_await zokio::sleep_for(d);
  co_return v;
}

zokio::task<int> throws_now(const char* what) {
  co_await zokio::yield_now();
  throw std::runtime_error(what);
}

// What each next() gave, in order: a value, or the exception's text.
struct outcomes {
  std::vector<std::string> seen;
  bool ended = false; // next() returned nullopt
};

zokio::task<void> drain(zokio::join_set<int>* set, outcomes* out, int max_calls) {
  for (int i = 0; i < max_calls; ++i) {
    try {
      std::optional<int> v = co_await set->next();
      if (!v) {
        out->ended = true;
        co_return;
      }
      out->seen.push_back(std::to_string(*v));
    } catch (const zokio::operation_cancelled&) {
      out->seen.push_back("cancelled");
    } catch (const std::runtime_error& e) {
      out->seen.push_back(std::string("error: ") + e.what());
    }
  }
}

zokio::task<void> rethrow_then_continue(outcomes* out) {
  zokio::join_set<int> set;
  set.spawn(value_after(30ms, 7));
  set.spawn(throws_now("boom"));
  co_await drain(&set, out, 5);
}

TEST(join_set, next_rethrows_a_failure_and_the_set_goes_on) {
  zokio::runtime rt{{.workers = 1}};
  outcomes out;
  zokio::testing::block_on_within(rt, 10s, "the join_set to yield both tasks",
                                  rethrow_then_continue(&out));
  EXPECT_EQ(out.seen, (std::vector<std::string>{"error: boom", "7"}));
  EXPECT_TRUE(out.ended);
  EXPECT_EQ(rt.stats().tasks_failed, 1u);
  EXPECT_EQ(rt.stats().tasks_completed, 2u); // the value task and block_on's
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> cancel_everything(outcomes* out) {
  zokio::join_set<int> set;
  for (int i = 0; i < 3; ++i) {
    set.spawn(value_after(1h, i));
  }
  co_await zokio::yield_now(); // they start and sleep
  set.cancel_all();
  EXPECT_EQ(set.size(), 3u) << "cancel_all only requests: the tasks still come out of next()";
  co_await drain(&set, out, 5);
  EXPECT_TRUE(set.empty());
}

TEST(join_set, cancel_all_cancels_every_task_and_each_comes_out_of_next) {
  zokio::runtime rt{{.workers = 1}};
  outcomes out;
  zokio::testing::block_on_within(rt, 10s, "three hour-long sleepers to be cancelled",
                                  cancel_everything(&out));
  EXPECT_EQ(out.seen, (std::vector<std::string>{"cancelled", "cancelled", "cancelled"}));
  EXPECT_TRUE(out.ended);
  EXPECT_EQ(rt.stats().tasks_cancelled, 3u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> cancel_all_spares_finished(outcomes* out) {
  zokio::join_set<int> set;
  set.spawn(value_after(0ms, 1));
  set.spawn(value_after(1h, 2));
  co_await zokio::sleep_for(20ms); // the first has finished, the second sleeps
  set.cancel_all();
  co_await drain(&set, out, 5);
}

TEST(join_set, cancel_all_keeps_the_results_of_finished_tasks) {
  zokio::runtime rt{{.workers = 1}};
  outcomes out;
  zokio::testing::block_on_within(rt, 10s, "the join_set to yield both tasks",
                                  cancel_all_spares_finished(&out));
  EXPECT_EQ(out.seen, (std::vector<std::string>{"1", "cancelled"}));
  EXPECT_TRUE(out.ended);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> next_on_empty(outcomes* out) {
  zokio::join_set<int> set;
  co_await drain(&set, out, 1);
}

TEST(join_set, next_on_an_empty_set_returns_nullopt_at_once) {
  zokio::runtime rt{{.workers = 1}};
  outcomes out;
  zokio::testing::block_on_within(rt, 10s, "next() on an empty set to return", next_on_empty(&out));
  EXPECT_TRUE(out.seen.empty());
  EXPECT_TRUE(out.ended);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
