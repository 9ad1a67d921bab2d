#include <zokio/task/join_handle.hpp>

#include "zokio_test.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

struct probe {
  std::atomic<bool> started{false};
  std::atomic<bool> unwound{false};
  std::atomic<bool> finished{false};
};

zokio::task<int> long_sleep(probe* p) {
  p->started = true;
  struct on_exit {
    probe* p;
    ~on_exit() { p->unwound = true; }
  } guard{p};
  co_await zokio::sleep_for(10s);
  p->finished = true;
  co_return 1;
}

zokio::task<bool> cancel_a_sleeper() {
  probe p;
  auto h = zokio::spawn(long_sleep(&p));
  co_await zokio::sleep_for(5ms);
  h.cancel();
  try {
    co_await h;
  } catch (const zokio::operation_cancelled&) {
    EXPECT_TRUE(p.started);
    EXPECT_TRUE(p.unwound);
    EXPECT_TRUE(!p.finished);
    co_return true;
  }
  co_return false;
}

TEST(cancel, a_sleeping_task_unwinds_and_its_join_throws) {
  zokio::runtime rt{{.workers = 1}};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(zokio::testing::block_on_within(rt, 10s, "the cancelled sleeper to unwind",
                                              cancel_a_sleeper()));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(rt.stats().tasks_cancelled, 1u);
  EXPECT_EQ(rt.stats().timers_pending, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> cancel_before_start() {
  probe p;
  auto h = zokio::spawn(long_sleep(&p));
  h.cancel(); // it has not run yet: its body never starts
  try {
    co_await h;
  } catch (const zokio::operation_cancelled&) {
    co_return !p.started;
  }
  co_return false;
}

zokio::task<int> wait_then_throw() {
  co_await zokio::sleep_for(1ms); // the record pointed at an awaiter while this waited
  throw std::runtime_error("failed after a wait");
}

/// A failed task's error shares its record's word with the awaiter it last waited in: cancels
/// that arrive after it failed (from its worker and from another thread) must not read that
/// word as an awaiter, and the join must still get the error.
zokio::task<std::string> cancel_after_failure() {
  auto h = zokio::spawn(wait_then_throw());
  while (!h.is_finished()) {
    co_await zokio::sleep_for(1ms);
  }
  h.cancel();
  std::thread([&h] { h.cancel(); }).join();
  co_await zokio::yield_now(); // whatever the foreign cancel queued runs here
  try {
    co_await h;
  } catch (const std::runtime_error& e) {
    co_return e.what();
  }
  co_return "no error";
}

/// Fails while a cancel from another thread is on its way: the thread's request reaches the
/// worker's inbox while the task runs, and the worker handles it after the task has failed.
zokio::task<int> throw_while_cancelled(zokio::join_handle<int>* self, std::atomic<int>* step) {
  co_await zokio::sleep_for(1ms);
  std::thread([self] { self->cancel(); }).join(); // queued: this task is running
  step->store(1);
  throw std::runtime_error("failed with a cancel queued");
}

zokio::task<std::string> cancel_queued_behind_failure() {
  std::atomic<int> step{0};
  zokio::join_handle<int> h;
  h = zokio::spawn(throw_while_cancelled(&h, &step));
  try {
    co_await h;
  } catch (const std::runtime_error& e) {
    co_return step.load() == 1 ? std::string(e.what()) : std::string("out of order");
  }
  co_return "no error";
}

TEST(cancel, a_failed_task_keeps_its_error_through_later_cancels) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(
      zokio::testing::block_on_within(rt, 10s, "the failed task's join", cancel_after_failure()),
      "failed after a wait");
  EXPECT_EQ(zokio::testing::block_on_within(rt, 10s, "the join behind a queued cancel",
                                            cancel_queued_behind_failure()),
            "failed with a cancel queued");
  EXPECT_EQ(rt.stats().tasks_failed, 2u);
  EXPECT_EQ(rt.stats().tasks_cancelled, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(cancel, a_task_cancelled_before_it_starts_never_runs) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(zokio::testing::block_on_within(
      rt, 10s, "a task cancelled before it started to finish", cancel_before_start()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> catches_and_awaits_again() {
  try {
    co_await zokio::sleep_for(10s);
  } catch (const zokio::operation_cancelled&) {
  }
  // Every later await of a cancelled task fails the same way.
  co_await zokio::yield_now();
  co_return 1;
}

zokio::task<bool> later_awaits_fail() {
  auto h = zokio::spawn(catches_and_awaits_again());
  co_await zokio::sleep_for(2ms);
  h.cancel();
  try {
    co_await h;
  } catch (const zokio::operation_cancelled&) {
    co_return true;
  }
  co_return false;
}

TEST(cancel, every_later_await_of_a_cancelled_task_fails) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(zokio::testing::block_on_within(rt, 10s, "the cancelled task's later awaits to fail",
                                              later_awaits_fail()));
  EXPECT_GE(rt.stats().awaits_cancelled, 1u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> cancel_from_another_thread() {
  probe p;
  auto h = zokio::spawn_on(1, long_sleep(&p));
  while (!p.started) {
    co_await zokio::sleep_for(1ms);
  }
  std::thread([&h] { h.cancel(); }).join();
  try {
    co_await h;
  } catch (const zokio::operation_cancelled&) {
    co_return p.unwound.load();
  }
  co_return false;
}

TEST(cancel, cancel_is_thread_safe_and_crosses_workers) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_TRUE(zokio::testing::block_on_within(
      rt, 10s, "a cancel from another thread to reach the task", cancel_from_another_thread()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> join_forever(zokio::join_handle<int>* target) {
  co_await *target;
}

zokio::task<bool> cancel_a_joiner() {
  probe p;
  auto target = zokio::spawn(long_sleep(&p));
  auto joiner = zokio::spawn(join_forever(&target));
  co_await zokio::sleep_for(2ms);
  joiner.cancel(); // stops the join, not the joined task
  bool joiner_cancelled = false;
  try {
    co_await joiner;
  } catch (const zokio::operation_cancelled&) {
    joiner_cancelled = true;
  }
  const bool target_alive = !target.is_finished();
  target.cancel();
  try {
    co_await target;
  } catch (const zokio::operation_cancelled&) {
  }
  EXPECT_TRUE(joiner_cancelled);
  EXPECT_TRUE(target_alive);
  co_return true;
}

TEST(cancel, cancelling_a_joiner_leaves_the_joined_task_running) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(zokio::testing::block_on_within(rt, 10s, "the cancelled joiner to unwind",
                                              cancel_a_joiner()));
  zokio::testing::expect_clean_shutdown(rt);
}

// --- a join racing the joined task's finish and the joiner's cancel ------------------------------
//
// A join from the joined task's own worker needs no locked instruction (the joiner word is
// stored, finish_task stores joiner_done); one from another worker is arbitrated by an exchange
// against clear_joiner's compare-exchange. Either way the joiner resumes exactly once: with the
// value, or cancelled, never both and never neither, whichever of the finish and the cancel
// comes first in the same loop turn.

zokio::task<int> seven_after(zokio::event* go) {
  co_await go->wait();
  co_return 7;
}

struct join_outcome {
  int resumes = 0;
  int value = 0;
  bool cancelled = false;
};

zokio::task<void> join_and_record(zokio::join_handle<int>* target, join_outcome* out) {
  try {
    out->value = co_await *target;
  } catch (const zokio::operation_cancelled&) {
    out->cancelled = true;
  }
  ++out->resumes;
}

zokio::task<std::string> race_joins(unsigned target_worker, int rounds) {
  int values = 0;
  int cancels = 0;
  for (int i = 0; i < rounds; ++i) {
    zokio::event go;
    join_outcome out;
    auto target = zokio::spawn_on(target_worker, seven_after(&go));
    auto joiner = zokio::spawn(join_and_record(&target, &out));
    for (int y = 0; y < 3; ++y) { // both run to their first suspension (the joiner's: the join)
      co_await zokio::yield_now();
    }
    switch (i % 3) {
    case 0: // the target is woken, then the joiner cancelled, in one turn
      go.set();
      joiner.cancel();
      break;
    case 1: // the other way round
      joiner.cancel();
      go.set();
      break;
    default: // the target finishes first: its wake of the joiner races the cancel
      go.set();
      while (!target.is_finished()) {
        co_await zokio::yield_now();
      }
      joiner.cancel();
      break;
    }
    try {
      co_await joiner;
    } catch (const zokio::operation_cancelled&) {
      // cancelled before its join resumed it: out says so
    }
    if (out.resumes != 1 || out.cancelled == (out.value == 7)) {
      co_return "round " + std::to_string(i) + ": resumed " + std::to_string(out.resumes) +
          " times, value " + std::to_string(out.value) + (out.cancelled ? ", cancelled" : "");
    }
    if (out.cancelled) {
      ++cancels;
      if (const int v = co_await target; v != 7) { // the join withdrawn: the handle still joins
        co_return "round " + std::to_string(i) + ": the target gave " + std::to_string(v);
      }
    } else {
      ++values;
    }
  }
  if (values == 0 || cancels == 0) { // both sides of the race were taken
    co_return "only " + std::string(values == 0 ? "cancels" : "values") + " in every round";
  }
  co_return "";
}

void expect_join_races(unsigned workers, unsigned target_worker) {
  zokio::runtime rt{{.workers = workers}};
  EXPECT_EQ(
      zokio::testing::block_on_within(rt, 30s, "300 join races", race_joins(target_worker, 300)),
      "");
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(cancel, a_join_on_one_worker_racing_finish_and_cancel_resumes_once) {
  expect_join_races(1, 0);
}

TEST(cancel, a_join_across_workers_racing_finish_and_cancel_resumes_once) {
  expect_join_races(2, 1);
}

zokio::task<void> spawn_sleepers(probe* probes, int n) {
  for (int i = 0; i < n; ++i) {
    zokio::spawn(long_sleep(&probes[i])).detach();
    zokio::spawn_on(1, long_sleep(&probes[n + i])).detach();
  }
  // Until every sleeper has started (worker 1 may be slow to take its share on a loaded machine);
  // the test's watchdog bounds the wait.
  for (int i = 0; i < 2 * n; ++i) {
    while (!probes[i].started.load()) {
      co_await zokio::sleep_for(1ms);
    }
  }
}

TEST(cancel, shutdown_cancels_what_still_runs_and_closes_cleanly) {
  probe probes[20];
  {
    zokio::runtime rt{{.workers = 2}};
    rt.block_on(spawn_sleepers(probes, 10));
    EXPECT_EQ(rt.stats().tasks_live, 20u);
    const auto start = std::chrono::steady_clock::now();
    zokio::testing::expect_clean_shutdown(rt);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    EXPECT_EQ(rt.stats().tasks_cancelled, 20u);
  }
  for (auto& p : probes) {
    EXPECT_TRUE(p.unwound);
    EXPECT_FALSE(p.finished);
  }
}

} // namespace
