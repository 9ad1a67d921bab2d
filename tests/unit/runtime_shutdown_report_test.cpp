#include <zokio/runtime/runtime.hpp>

#include "lsan.hpp"
#include "zokio_test.hpp"

#include <atomic>
#include <cerrno>
#include <string>

using namespace std::chrono_literals;

namespace {

// --- the report itself: clean() and to_string() say what is left --------------------------------

zokio::shutdown_report clean_report(unsigned workers) {
  zokio::shutdown_report r;
  r.loop_close_status.assign(workers, 0);
  return r;
}

TEST(shutdown_report, nothing_left_is_clean) {
  const zokio::shutdown_report r = clean_report(2);
  EXPECT_TRUE(r.clean());
  EXPECT_EQ(r.to_string(), "clean");
}

TEST(shutdown_report, a_task_left_is_not_clean) {
  zokio::shutdown_report r = clean_report(1);
  r.tasks_left = 2;
  EXPECT_FALSE(r.clean());
  EXPECT_EQ(r.to_string(), "2 task(s) left");
}

TEST(shutdown_report, a_handle_left_is_not_clean) {
  zokio::shutdown_report r = clean_report(1);
  r.handles_left["tcp"] = 1;
  r.handles_left["timer"] = 3;
  EXPECT_FALSE(r.clean());
  EXPECT_EQ(r.to_string(), "handles left: tcp=1 timer=3");
}

TEST(shutdown_report, a_loop_that_did_not_close_is_not_clean) {
  zokio::shutdown_report r = clean_report(3);
  r.loop_close_status[1] = -EBUSY;
  EXPECT_FALSE(r.clean());
  EXPECT_EQ(r.to_string(), "loop 1 close: EBUSY");
}

TEST(shutdown_report, everything_left_is_listed_in_one_line) {
  zokio::shutdown_report r = clean_report(2);
  r.tasks_left = 1;
  r.handles_left["udp"] = 2;
  r.loop_close_status[0] = -EBUSY;
  EXPECT_FALSE(r.clean());
  EXPECT_EQ(r.to_string(), "1 task(s) left; handles left: udp=2; loop 0 close: EBUSY");
}

// --- a real runtime whose task outlasts shutdown_grace -------------------------------------------

// A blocking job cannot be interrupted (spawn_blocking.hpp): a task waiting for one that runs
// until released cannot unwind when shutdown cancels it.
struct gate {
  std::atomic<bool> started{false};
  std::atomic<bool> released{false};
  std::atomic<bool> finished{false};
};

gate g_gate; // outlives the runtime: the job ends after shutdown has given up on its task

// spawn_blocking runs the job in a task of its own: that task is the one left behind (the task
// awaiting it is cancelled and unwinds).
zokio::task<int> wait_for_release() {
  co_return co_await zokio::spawn_blocking([] {
    g_gate.started = true;
    while (!g_gate.released.load()) {
      std::this_thread::sleep_for(1ms);
    }
    g_gate.finished = true;
    return 1;
  });
}

zokio::task<void> start_stuck_task() {
  zokio::spawn(wait_for_release(), {.name = "stuck"}).detach();
  while (!g_gate.started.load()) {
    co_await zokio::sleep_for(1ms);
  }
}

TEST(shutdown_grace, a_task_that_outlasts_it_is_reported_and_the_report_is_not_clean) {
#ifdef ZOKIO_TEST_LSAN
  // The stuck task's frame is never destroyed, by design (a suspended frame may still be pointed
  // to): not a leak of the test's making.
  __lsan::ScopedDisabler no_leak_check;
#endif
  zokio::runtime rt{{.workers = 1, .shutdown_grace = 100ms}};
  zokio::testing::block_on_within(rt, 10s, "the blocking job to start", start_stuck_task());

  zokio::shutdown_report report;
  {
    // The job runs until released, and is released only after shutdown() returns: shutdown must
    // give up on the task after its grace rather than wait for it.
    zokio::testing::must_happen_within guard(10s,
                                             "shutdown() to give up after shutdown_grace (100 ms)");
    report = rt.shutdown();
  }
  EXPECT_FALSE(g_gate.finished.load()) << "shutdown() waited for the job it should give up on";
  EXPECT_FALSE(report.clean()) << report.to_string();
  EXPECT_EQ(report.tasks_left, 1u) << report.to_string();
  EXPECT_EQ(report.loop_close_status.size(), 1u);
  const std::string line = report.to_string();
  EXPECT_NE(line.find("1 task(s) left"), std::string::npos) << line;
  EXPECT_NE(line, "clean");
  // The task is still counted live: it never finished.
  EXPECT_EQ(rt.stats().tasks_live, 1u);
  EXPECT_EQ(rt.shutdown().to_string(), line) << "shutdown() is idempotent";

  g_gate.released = true;
  zokio::testing::wait_until([] { return g_gate.finished.load(); }, 10s,
                             "the released blocking job to finish");
}

// --- a runtime whose tasks unwind within shutdown_grace ------------------------------------------

zokio::task<void> sleep_long() {
  co_await zokio::sleep_for(1h);
}

zokio::task<void> spawn_sleepers(int n) {
  for (int i = 0; i < n; ++i) {
    zokio::spawn(sleep_long()).detach();
  }
  co_await zokio::yield_now();
}

TEST(shutdown_grace, tasks_that_unwind_in_time_leave_a_clean_report) {
  zokio::runtime rt{{.workers = 2, .shutdown_grace = 2s}};
  rt.block_on(spawn_sleepers(10));
  EXPECT_EQ(rt.stats().tasks_live, 10u);
  {
    zokio::testing::must_happen_within guard(10s, "shutdown() to cancel ten sleepers");
    zokio::testing::expect_clean_shutdown(rt);
  }
  EXPECT_EQ(rt.stats().tasks_cancelled, 10u);
}

} // namespace
