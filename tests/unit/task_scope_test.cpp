#include <zokio/task/scope.hpp>

#include "zokio_test.hpp"

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// --- children ------------------------------------------------------------------------------------

// A value whose instances are counted: a child's result lives in its root frame until the frame
// is freed, so `alive == 0` proves that every finished child's frame was freed.
struct tracked {
  static inline int alive = 0;
  tracked() noexcept { ++alive; }
  tracked(const tracked&) noexcept { ++alive; }
  tracked(tracked&&) noexcept { ++alive; }
  tracked& operator=(const tracked&) = default;
  tracked& operator=(tracked&&) = default;
  ~tracked() { --alive; }
};

zokio::task<tracked> yields_a_tracked() {
  co_await zokio::yield_now();
  co_return tracked{};
}

zokio::task<void> sleeps_then_counts(std::chrono::milliseconds d, int* done) {
  co_await zokio::sleep_for(d);
  ++*done;
}

// Counts its unwinding: `unwound` is bumped whether the task ends normally or by an exception.
struct unwind_counter {
  int* n;
  ~unwind_counter() { ++*n; }
};

zokio::task<void> sleeps_long(int* unwound, int* finished_normally) {
  unwind_counter c{unwound};
  co_await zokio::sleep_for(1h);
  ++*finished_normally;
}

zokio::task<void> throws_after_yield(const char* what) {
  co_await zokio::yield_now();
  throw std::runtime_error(what);
}

zokio::task<void> sets_flag(bool* ran) {
  *ran = true;
  co_return;
}

// Failures handed to on_task_error, from the worker threads.
struct failures {
  std::mutex mutex;
  std::vector<zokio::task_failure> seen;
  std::vector<std::string> messages;
  std::vector<std::string> names;

  std::function<void(const zokio::task_failure&)> hook() {
    return [this](const zokio::task_failure& f) {
      std::lock_guard<std::mutex> lock(mutex);
      seen.push_back(f);
      names.emplace_back(f.name);
      try {
        std::rethrow_exception(f.error);
      } catch (const std::exception& e) {
        messages.emplace_back(e.what());
      } catch (...) {
        messages.emplace_back("?");
      }
    };
  }
  std::size_t count() {
    std::lock_guard<std::mutex> lock(mutex);
    return seen.size();
  }
};

// --- reaping -------------------------------------------------------------------------------------

constexpr int many = 20'000;

zokio::task<void> spawn_many_and_watch_them_go(zokio::runtime* rt) {
  zokio::task_scope scope;
  for (int i = 0; i < many; ++i) {
    scope.spawn(yields_a_tracked());
  }
  EXPECT_EQ(scope.size(), static_cast<std::size_t>(many));
  EXPECT_EQ(scope.spawned(), static_cast<std::uint64_t>(many));
  // Nobody calls anything on the scope: the children finish and are reaped while it is open.
  while (!scope.empty()) {
    co_await zokio::yield_now();
  }
  EXPECT_FALSE(scope.is_closed());
  EXPECT_EQ(tracked::alive, 0) << "a finished child's frame (and its result) was kept";
  EXPECT_EQ(rt->stats().tasks_live, 1u) << "only this task is live";
  EXPECT_EQ(scope.spawned(), static_cast<std::uint64_t>(many));
  co_await scope.close();
  EXPECT_TRUE(scope.empty());
}

TEST(task_scope, finished_children_are_reaped_while_the_scope_is_open) {
  zokio::runtime rt{{.workers = 1}};
  tracked::alive = 0;
  zokio::testing::block_on_within(rt, 30s, "20,000 children to be reaped",
                                  spawn_many_and_watch_them_go(&rt));
  EXPECT_EQ(tracked::alive, 0);
  EXPECT_EQ(rt.stats().tasks_completed, static_cast<std::uint64_t>(many) + 1);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- close ---------------------------------------------------------------------------------------

zokio::task<void> close_an_empty_scope(zokio::runtime* rt, bool* closed) {
  zokio::task_scope scope;
  const std::uint64_t suspended = rt->stats().awaits_suspended;
  co_await scope.close();
  EXPECT_EQ(rt->stats().awaits_suspended, suspended) << "close() of an empty scope suspended";
  EXPECT_TRUE(scope.is_closed());
  co_await scope.close(); // again: still returns at once
  *closed = true;
}

zokio::task<void> close_an_empty_scope_async(bool* closed) {
  zokio::task_scope scope;
  co_await scope.close();
  *closed = scope.is_closed() && scope.empty();
}

TEST(task_scope, close_with_no_children_returns_at_once) {
  zokio::runtime rt{{.workers = 1}};
  bool closed = false;
  zokio::testing::block_on_within(rt, 10s, "close() of an empty scope to return",
                                  close_an_empty_scope(&rt, &closed));
  EXPECT_TRUE(closed);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> close_waits_for_sleepers(int* done, std::chrono::steady_clock::duration* took) {
  zokio::task_scope scope;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    scope.spawn(sleeps_then_counts(100ms, done));
  }
  co_await scope.close();
  *took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(*done, 1000) << "close() returned before every child finished";
  EXPECT_TRUE(scope.empty());
}

TEST(task_scope, close_waits_for_every_slow_child) {
  zokio::runtime rt{{.workers = 1}};
  int done = 0;
  std::chrono::steady_clock::duration took{};
  zokio::testing::block_on_within(rt, 10s, "close() to wait for 1,000 sleepers",
                                  close_waits_for_sleepers(&done, &took));
  EXPECT_EQ(done, 1000);
  EXPECT_GE(took, 50ms) << "close() cannot return before the sleeps end";
  EXPECT_LT(took, 2s) << "the children sleep concurrently";
  zokio::testing::expect_clean_shutdown(rt);
}

// --- cancel --------------------------------------------------------------------------------------

zokio::task<void> cancel_then_close(int* unwound, int* finished, bool* late_ran) {
  zokio::task_scope scope;
  for (int i = 0; i < 100; ++i) {
    scope.spawn(sleeps_long(unwound, finished));
  }
  co_await zokio::yield_now(); // they start and sleep
  scope.cancel();
  EXPECT_TRUE(scope.is_cancelled());
  EXPECT_EQ(scope.size(), 100u) << "cancel() only requests; the children unwind later";
  // The scope stays cancelled: a child spawned now never runs its body.
  scope.spawn(sets_flag(late_ran));
  co_await scope.close();
  EXPECT_TRUE(scope.empty());
  EXPECT_EQ(*unwound, 100);
}

TEST(task_scope, cancel_then_close_unwinds_every_child_and_reports_nothing) {
  failures f;
  zokio::runtime rt{{.workers = 1, .on_task_error = f.hook()}};
  int unwound = 0;
  int finished = 0;
  bool late_ran = false;
  zokio::testing::block_on_within(rt, 10s, "100 hour-long sleepers to be cancelled",
                                  cancel_then_close(&unwound, &finished, &late_ran));
  EXPECT_EQ(unwound, 100);
  EXPECT_EQ(finished, 0);
  EXPECT_FALSE(late_ran) << "a child spawned into a cancelled scope ran its body";
  EXPECT_EQ(f.count(), 0u) << "a cancelled child is not a failure";
  EXPECT_EQ(rt.stats().tasks_cancelled, 101u);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- failures ------------------------------------------------------------------------------------

zokio::task<void> one_child_throws(std::uint64_t* failed_id, int* done) {
  zokio::task_scope scope;
  scope.spawn(sleeps_then_counts(10ms, done));
  *failed_id = scope.spawn(throws_after_yield("boom"), {.name = "thrower"});
  scope.spawn(sleeps_then_counts(20ms, done));
  co_await scope.close(); // does not rethrow: the failure went to on_task_error
  EXPECT_EQ(*done, 2) << "a failing child took its siblings down";
}

TEST(task_scope, a_throwing_child_is_reported_to_on_task_error) {
  failures f;
  zokio::runtime rt{{.workers = 1, .on_task_error = f.hook()}};
  std::uint64_t failed_id = 0;
  int done = 0;
  zokio::testing::block_on_within(rt, 10s, "the scope with a failing child to close",
                                  one_child_throws(&failed_id, &done));
  ASSERT_EQ(f.count(), 1u) << "the failure was lost (or reported twice)";
  EXPECT_EQ(f.seen[0].id, failed_id);
  EXPECT_EQ(f.messages[0], "boom");
  EXPECT_EQ(f.names[0], "thrower");
  EXPECT_EQ(rt.stats().tasks_failed, 1u);
  EXPECT_EQ(done, 2);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- children spawning into their own scope while close() waits --------------------------------

zokio::task<void> fans_out(zokio::task_scope* scope, int* done, bool* spawned_while_closed) {
  co_await zokio::sleep_for(20ms); // by now the parent awaits close()
  *spawned_while_closed = scope->is_closed();
  for (int i = 0; i < 3; ++i) {
    scope->spawn(sleeps_then_counts(30ms, done), {.name = "grandchild"});
  }
  ++*done;
}

zokio::task<void> close_waits_for_grandchildren(int* done, bool* spawned_while_closed) {
  zokio::task_scope scope;
  scope.spawn(fans_out(&scope, done, spawned_while_closed));
  scope.spawn(fans_out(&scope, done, spawned_while_closed));
  co_await scope.close();
  EXPECT_EQ(*done, 8) << "close() returned before the grandchildren finished";
  EXPECT_EQ(scope.spawned(), 8u);
  EXPECT_TRUE(scope.empty());
}

TEST(task_scope, close_waits_for_children_spawned_by_children_meanwhile) {
  zokio::runtime rt{{.workers = 1}};
  int done = 0;
  bool spawned_while_closed = false;
  zokio::testing::block_on_within(rt, 10s, "close() to wait for the grandchildren",
                                  close_waits_for_grandchildren(&done, &spawned_while_closed));
  EXPECT_TRUE(spawned_while_closed) << "the test did not spawn while close() waited";
  EXPECT_EQ(done, 8);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- destroying the scope the moment close() returns ---------------------------------------------

zokio::task<void> closes_and_destroys(std::unique_ptr<zokio::task_scope>* owner, int* returned) {
  co_await (*owner)->close();
  owner->reset(); // the first closer to return destroys the scope
  ++*returned;
}

zokio::task<void> closes_only(zokio::task_scope* scope, int* returned) {
  co_await scope->close();
  ++*returned; // must not touch the scope: the other closer may have destroyed it
}

zokio::task<void> destroy_at_close(int* returned, int* done) {
  auto owner = std::make_unique<zokio::task_scope>();
  for (int i = 0; i < 10; ++i) {
    owner->spawn(sleeps_then_counts(10ms, done)); // all due in the same loop turn
  }
  zokio::join_handle<void> a = zokio::spawn(closes_and_destroys(&owner, returned));
  zokio::join_handle<void> b = zokio::spawn(closes_only(owner.get(), returned));
  co_await std::move(a);
  co_await std::move(b);
  EXPECT_EQ(owner, nullptr);
}

TEST(task_scope, a_scope_may_be_destroyed_the_moment_close_returns) {
  zokio::runtime rt{{.workers = 1}};
  int returned = 0;
  int done = 0;
  zokio::testing::block_on_within(rt, 10s, "both closers to return",
                                  destroy_at_close(&returned, &done));
  EXPECT_EQ(returned, 2);
  EXPECT_EQ(done, 10);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- cancelling the task that awaits close() -----------------------------------------------------

struct closer_view {
  bool cancelled = false;     // close() threw operation_cancelled
  std::size_t size_after = 1; // scope.size() when close() ended
  bool scope_cancelled = false;
};

zokio::task<void> awaits_close(zokio::task_scope* scope, closer_view* view) {
  try {
    co_await scope->close();
  } catch (const zokio::operation_cancelled&) {
    view->cancelled = true;
  }
  view->size_after = scope->size();
  view->scope_cancelled = scope->is_cancelled();
}

zokio::task<void> cancel_the_closer(closer_view* view, int* unwound, int* finished) {
  zokio::task_scope scope;
  for (int i = 0; i < 50; ++i) {
    scope.spawn(sleeps_long(unwound, finished));
  }
  zokio::join_handle<void> closer = zokio::spawn(awaits_close(&scope, view));
  co_await zokio::sleep_for(10ms); // the closer waits
  CO_REQUIRE(!closer.is_finished());
  closer.cancel();
  co_await std::move(closer);
  EXPECT_TRUE(scope.empty());
}

TEST(task_scope, cancelling_the_task_awaiting_close_cancels_the_children_and_waits) {
  failures f;
  zokio::runtime rt{{.workers = 1, .on_task_error = f.hook()}};
  closer_view view;
  int unwound = 0;
  int finished = 0;
  zokio::testing::block_on_within(rt, 10s, "the cancelled closer to return",
                                  cancel_the_closer(&view, &unwound, &finished));
  EXPECT_TRUE(view.cancelled) << "close() of a cancelled task did not throw operation_cancelled";
  EXPECT_EQ(view.size_after, 0u) << "close() returned before the children had unwound";
  EXPECT_TRUE(view.scope_cancelled);
  EXPECT_EQ(unwound, 50);
  EXPECT_EQ(finished, 0);
  EXPECT_EQ(f.count(), 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

// A task cancelled before it awaits close(): the children are cancelled all the same.
zokio::task<void> cancelled_then_closes(zokio::task_scope* scope, closer_view* view) {
  try {
    co_await zokio::sleep_for(1h);
  } catch (const zokio::operation_cancelled&) {
    // Cancelled; now it closes the scope on its way out.
  }
  co_await awaits_close(scope, view);
}

zokio::task<void> cancel_before_close(closer_view* view, int* unwound, int* finished) {
  zokio::task_scope scope;
  for (int i = 0; i < 5; ++i) {
    scope.spawn(sleeps_long(unwound, finished));
  }
  zokio::join_handle<void> closer = zokio::spawn(cancelled_then_closes(&scope, view));
  co_await zokio::sleep_for(10ms);
  closer.cancel();
  co_await std::move(closer);
  EXPECT_TRUE(scope.empty());
}

TEST(task_scope, a_task_cancelled_before_it_awaits_close_cancels_the_children_and_waits) {
  zokio::runtime rt{{.workers = 1}};
  closer_view view;
  int unwound = 0;
  int finished = 0;
  zokio::testing::block_on_within(rt, 10s, "the cancelled closer to return",
                                  cancel_before_close(&view, &unwound, &finished));
  EXPECT_TRUE(view.cancelled);
  EXPECT_EQ(view.size_after, 0u);
  EXPECT_EQ(unwound, 5);
  EXPECT_EQ(finished, 0);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- spawn after close ---------------------------------------------------------------------------

zokio::task<void> spawn_after_close(bool* threw, bool* ran) {
  zokio::task_scope scope;
  co_await scope.close();
  try {
    scope.spawn(sets_flag(ran));
  } catch (const std::logic_error& e) {
    *threw = std::string(e.what()).find("after close()") != std::string::npos;
  }
  EXPECT_EQ(scope.spawned(), 0u);
  co_await zokio::yield_now(); // a task that had been scheduled would run now
}

TEST(task_scope, spawn_after_close_throws_logic_error_and_never_runs_the_task) {
  zokio::runtime rt{{.workers = 1}};
  bool threw = false;
  bool ran = false;
  zokio::testing::block_on_within(rt, 10s, "the refused spawn", spawn_after_close(&threw, &ran));
  EXPECT_TRUE(threw);
  EXPECT_FALSE(ran);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(task_scope, spawn_outside_a_runtime_throws_no_runtime_error) {
  zokio::task_scope scope;
  bool ran = false;
  EXPECT_THROW(scope.spawn(sets_flag(&ran)), zokio::no_runtime_error);
  EXPECT_FALSE(ran);
  EXPECT_EQ(scope.spawned(), 0u);
}

// --- destroying a scope with live children -------------------------------------------------------

zokio::task<void> drop_a_live_scope(int* unwound, int* finished) {
  {
    zokio::task_scope scope;
    for (int i = 0; i < 10; ++i) {
      scope.spawn(sleeps_long(unwound, finished));
    }
    scope.spawn(throws_after_yield("after the scope"));
    co_await zokio::sleep_for(1ms); // they start and sleep
  }
  // Detached and cancelled: they unwind on their own.
  while (*unwound < 10) {
    co_await zokio::yield_now();
  }
}

TEST(task_scope, destroying_a_scope_cancels_its_live_children) {
  failures f;
  zokio::runtime rt{{.workers = 1, .on_task_error = f.hook()}};
  int unwound = 0;
  int finished = 0;
  zokio::testing::block_on_within(rt, 10s, "the dropped scope's children to unwind",
                                  drop_a_live_scope(&unwound, &finished));
  EXPECT_EQ(unwound, 10);
  EXPECT_EQ(finished, 0);
  // The thrower failed while the scope was alive: reported either way, exactly once.
  ASSERT_EQ(f.count(), 1u);
  EXPECT_EQ(f.messages[0], "after the scope");
  zokio::testing::expect_clean_shutdown(rt);
}

// --- shutdown ------------------------------------------------------------------------------------

zokio::task<void> owns_a_scope_and_waits(int* unwound, int* finished) {
  zokio::task_scope scope;
  for (int i = 0; i < 10; ++i) {
    scope.spawn(sleeps_long(unwound, finished));
  }
  co_await scope.close(); // cancelled by shutdown: cancels the children and waits for them
}

zokio::task<void> leave_a_closer_running(int* unwound, int* finished) {
  zokio::spawn(owns_a_scope_and_waits(unwound, finished)).detach();
  co_await zokio::sleep_for(5ms);
}

TEST(task_scope, shutdown_unwinds_a_task_awaiting_close_and_its_children) {
  failures f;
  zokio::runtime rt{{.workers = 1, .on_task_error = f.hook()}};
  int unwound = 0;
  int finished = 0;
  zokio::testing::block_on_within(rt, 10s, "the closer to start waiting",
                                  leave_a_closer_running(&unwound, &finished));
  EXPECT_EQ(unwound, 0);
  zokio::testing::expect_clean_shutdown(rt);
  EXPECT_EQ(unwound, 10);
  EXPECT_EQ(finished, 0);
  EXPECT_EQ(f.count(), 0u);
}

zokio::task<void> spawn_and_leave(zokio::task_scope* scope, int* unwound, int* finished) {
  for (int i = 0; i < 10; ++i) {
    scope->spawn(sleeps_long(unwound, finished));
  }
  co_await zokio::sleep_for(1ms);
}

TEST(task_scope, a_scope_outside_the_runtime_may_outlive_its_shutdown) {
  int unwound = 0;
  int finished = 0;
  zokio::task_scope scope; // destroyed after the runtime
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 10s, "the children to start",
                                  spawn_and_leave(&scope, &unwound, &finished));
  EXPECT_EQ(scope.size(), 10u);
  zokio::testing::expect_clean_shutdown(rt);
  EXPECT_EQ(scope.size(), 0u) << "shutdown cancelled the children; the scope reaped them";
  EXPECT_EQ(unwound, 10);
}

// --- force_async: every await suspends, even close() of a scope already empty ----------------

TEST(task_scope, close_and_reaping_hold_under_force_async) {
  zokio::runtime rt{{.workers = 1, .force_async = true}};
  int done = 0;
  bool spawned_while_closed = false;
  zokio::testing::block_on_within(rt, 10s, "close() to wait for the grandchildren",
                                  close_waits_for_grandchildren(&done, &spawned_while_closed));
  EXPECT_EQ(done, 8);
  int returned = 0;
  int done2 = 0;
  zokio::testing::block_on_within(rt, 10s, "both closers to return",
                                  destroy_at_close(&returned, &done2));
  EXPECT_EQ(returned, 2);
  EXPECT_EQ(done2, 10);
  bool closed = false;
  zokio::testing::block_on_within(rt, 10s, "close() of an empty scope to return",
                                  close_an_empty_scope_async(&closed));
  EXPECT_TRUE(closed);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- two workers ---------------------------------------------------------------------------------

zokio::task<void> records_thread(std::thread::id* where) {
  co_await zokio::sleep_for(1ms);
  *where = std::this_thread::get_id();
}

zokio::task<void> spawn_from_the_other_worker(zokio::task_scope* scope, bool* threw, bool* ran) {
  try {
    scope->spawn(sets_flag(ran));
  } catch (const std::logic_error& e) {
    *threw = std::string(e.what()).find("another worker") != std::string::npos;
  }
  co_return;
}

zokio::task<void> scope_on_two_workers(bool* threw, bool* ran, bool* same_thread) {
  zokio::task_scope scope;
  std::vector<std::thread::id> where(20);
  for (std::thread::id& w : where) {
    scope.spawn(records_thread(&w));
  }
  // A task on the other worker may not use this scope.
  const unsigned other = 1;
  co_await zokio::spawn_on(other, spawn_from_the_other_worker(&scope, threw, ran));
  co_await scope.close();
  *same_thread = true;
  for (const std::thread::id& w : where) {
    *same_thread = *same_thread && w == std::this_thread::get_id();
  }
}

TEST(task_scope, children_run_on_the_scopes_worker_and_other_workers_are_refused) {
  zokio::runtime rt{{.workers = 2}};
  bool threw = false;
  bool ran = false;
  bool same_thread = false;
  zokio::testing::block_on_within(rt, 10s, "the scope on a two-worker runtime to close",
                                  scope_on_two_workers(&threw, &ran, &same_thread));
  EXPECT_TRUE(threw) << "a spawn from another worker was accepted";
  EXPECT_FALSE(ran);
  EXPECT_TRUE(same_thread) << "a child ran on another worker than its scope's";
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
