#pragma once

// Shared helpers of the unit tests.
//
// - expect_clean_shutdown(rt): every runtime test ends with it. It shuts the runtime down and
//   asserts the whole shutdown_report (no task left, no handle left, every loop closed, "clean")
//   and every identity runtime_stats documents, on the sum and on each worker.
// - watchdogs: a test that hangs fails in seconds with a message saying what did not happen,
//   instead of running into ctest's timeout. Every test runs under a per-test watchdog
//   (ZOKIO_TEST_WATCHDOG_S, default 60 s); `must_happen_within` and `block_on_within` bound one
//   step more tightly and name it.
//
// Threads: the watchdog thread only reads the step names under its mutex and, on expiry, prints
// and ends the process; everything else runs on the test's thread.

#include <zokio/zokio.hpp>

// gtest's ASSERT_* return from the function, which a coroutine cannot do: CO_REQUIRE fails the
// test and co_returns from the coroutine.
#define CO_REQUIRE(cond)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      ADD_FAILURE() << "required: " #cond;                                                         \
      co_return;                                                                                   \
    }                                                                                              \
  } while (0)

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace zokio::testing {

// --- counters and the shutdown report ------------------------------------------------------------

/// The identities of runtime_stats that hold whenever the runtime is quiet (after shutdown, or
/// between two block_on calls of a one-worker runtime): see runtime/include/zokio/runtime/stats.hpp
/// and DESIGN.md ("each suspension is woken exactly once").
inline void expect_counter_identities(const worker_counters& c, const std::string& who) {
  SCOPED_TRACE(who);
  EXPECT_EQ(c.tasks_spawned, c.tasks_completed + c.tasks_failed + c.tasks_cancelled + c.tasks_live)
      << "every spawned task is completed, failed, cancelled or still live";
  EXPECT_EQ(c.awaits, c.awaits_inline + c.awaits_suspended + c.awaits_cancelled)
      << "awaits = inline + suspended + cancelled (inline " << c.awaits_inline << ", suspended "
      << c.awaits_suspended << ", cancelled " << c.awaits_cancelled << ")";
  EXPECT_EQ(c.resumes_from_loop + c.resumes_from_task + c.resumes_cross_thread, c.awaits_suspended)
      << "each suspension is resumed exactly once (from loop " << c.resumes_from_loop
      << ", from task " << c.resumes_from_task << ", cross thread " << c.resumes_cross_thread
      << ")";
  EXPECT_LE(c.sync_fallbacks, c.awaits_inline) << "a sync fallback is an await completed inline";
}

/// What every runtime must look like once shut down cleanly: the report says clean and nothing
/// is left, and the counters tell the same story.
inline void expect_clean_report(const shutdown_report& report, unsigned workers) {
  EXPECT_TRUE(report.clean()) << report.to_string();
  EXPECT_EQ(report.to_string(), "clean");
  EXPECT_EQ(report.tasks_left, 0u) << report.to_string();
  EXPECT_TRUE(report.handles_left.empty()) << report.to_string();
  EXPECT_EQ(report.loop_close_status.size(), workers) << "one loop_close_status per worker";
  for (std::size_t i = 0; i < report.loop_close_status.size(); ++i) {
    EXPECT_EQ(report.loop_close_status[i], 0) << "uv_loop_close() of worker " << i;
  }
}

/// Every counter of runtime_stats summed over its workers, so that the total and the per-worker
/// figures cannot disagree.
inline void expect_sum_of_workers(const runtime_stats& s) {
  worker_counters sum;
  for (const worker_counters& w : s.workers) {
    sum += w;
  }
#define ZOKIO_TEST_SUM(field) EXPECT_EQ(sum.field, s.field) << "sum over workers of " #field
  ZOKIO_TEST_SUM(tasks_spawned);
  ZOKIO_TEST_SUM(tasks_completed);
  ZOKIO_TEST_SUM(tasks_failed);
  ZOKIO_TEST_SUM(tasks_cancelled);
  ZOKIO_TEST_SUM(tasks_live);
  ZOKIO_TEST_SUM(awaits);
  ZOKIO_TEST_SUM(awaits_inline);
  ZOKIO_TEST_SUM(awaits_suspended);
  ZOKIO_TEST_SUM(awaits_cancelled);
  ZOKIO_TEST_SUM(resumes_from_loop);
  ZOKIO_TEST_SUM(resumes_from_task);
  ZOKIO_TEST_SUM(resumes_cross_thread);
  ZOKIO_TEST_SUM(sync_fallbacks);
  ZOKIO_TEST_SUM(loop_iterations);
  ZOKIO_TEST_SUM(stalls);
  ZOKIO_TEST_SUM(deadlocks_detected);
  ZOKIO_TEST_SUM(lost_wakeups);
  ZOKIO_TEST_SUM(timers_pending);
  ZOKIO_TEST_SUM(blocking_in_flight);
  ZOKIO_TEST_SUM(handles_active);
#undef ZOKIO_TEST_SUM
}

/// Shuts `rt` down and asserts a clean shutdown: the whole report, and every documented
/// invariant of its counters, on the sum and on each worker. The failure names the caller's line.
inline void expect_clean_shutdown(runtime& rt, const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
  ::testing::ScopedTrace trace(file, line, "expect_clean_shutdown");
  const shutdown_report report = rt.shutdown();
  expect_clean_report(report, rt.workers());
  const shutdown_report again = rt.shutdown();
  EXPECT_EQ(again.to_string(), report.to_string()) << "shutdown() is idempotent";

  const runtime_stats s = rt.stats();
  ASSERT_EQ(s.workers.size(), rt.workers());
  expect_sum_of_workers(s);
  expect_counter_identities(s, "runtime (sum over workers)");
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    const worker_counters& w = s.workers[i];
    const std::string who = "worker " + std::to_string(i);
    expect_counter_identities(w, who);
    EXPECT_EQ(w.tasks_live, 0u) << who << ": no task live after a clean shutdown";
    EXPECT_EQ(w.handles_active, 0u) << who << ": no handle active after a clean shutdown";
    EXPECT_EQ(w.timers_pending, 0u) << who << ": no timer armed after a clean shutdown";
    EXPECT_EQ(w.blocking_in_flight, 0u) << who << ": no blocking job after a clean shutdown";
    EXPECT_EQ(w.lost_wakeups, 0u) << who << ": no wake-up lost";
  }
  // Zokio has no synchronous fallback: only the injection can produce one, and at most as many
  // as were injected.
  const unsigned injected = rt.options().testing.inline_awaits;
  if (injected == 0 || !rt.options().force_async) {
    EXPECT_EQ(s.sync_fallbacks, 0u) << "no sync fallback unless injected";
  } else {
    EXPECT_LE(s.sync_fallbacks, injected) << "no more sync fallbacks than injected";
  }
}

// --- watchdogs: hangs become failures that name what did not happen ----------------------------

namespace detail {

/// One thread per process: it watches a stack of deadlines and, when the earliest passes, prints
/// the test's name and the step that did not happen, then ends the process with status 1 (ctest
/// runs each test case in its own process, so only that case fails).
class watchdog {
public:
  // Never destroyed: its thread waits on the condition variable until the process ends, and
  // destroying a condition variable that a thread waits on blocks (glibc) or is undefined.
  static watchdog& instance() {
    static watchdog* w = new watchdog;
    return *w;
  }

  std::uint64_t arm(std::chrono::steady_clock::duration limit, std::string what,
                    std::function<std::string()> state = {}) {
    std::lock_guard<std::mutex> lock(m_mutex);
    const std::uint64_t id = ++m_next;
    m_armed.push_back({id, std::chrono::steady_clock::now() + limit,
                       std::chrono::duration_cast<std::chrono::milliseconds>(limit),
                       std::move(what), std::move(state)});
    if (!m_thread.joinable()) {
      m_thread = std::thread([this] { watch(); });
      m_thread.detach();
    }
    m_cv.notify_all();
    return id;
  }

  void disarm(std::uint64_t id) {
    std::lock_guard<std::mutex> lock(m_mutex);
    for (auto it = m_armed.begin(); it != m_armed.end(); ++it) {
      if (it->id == id) {
        m_armed.erase(it);
        break;
      }
    }
    m_cv.notify_all();
  }

private:
  struct entry {
    std::uint64_t id;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds limit;
    std::string what;
    std::function<std::string()> state; // called on the watchdog thread when it fires
  };

  [[noreturn]] static void fire(const entry& e) {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string test = info != nullptr ? std::string(info->test_suite_name()) + "." + info->name()
                                       : std::string("(no test running)");
    std::fprintf(stderr,
                 "\n[  WATCHDOG ] %s: FAILED: %s did not happen within %lld ms; ending the test "
                 "process instead of hanging\n",
                 test.c_str(), e.what.c_str(), static_cast<long long>(e.limit.count()));
    if (e.state) {
      std::fprintf(stderr, "[  WATCHDOG ] state at that moment: %s\n", e.state().c_str());
    }
    std::fflush(stderr);
    std::fflush(stdout);
    std::_Exit(1);
  }

  void watch() {
    std::unique_lock<std::mutex> lock(m_mutex);
    for (;;) {
      if (m_armed.empty()) {
        m_cv.wait(lock);
        continue;
      }
      const entry* first = &m_armed.front();
      for (const entry& e : m_armed) {
        if (e.deadline < first->deadline) {
          first = &e;
        }
      }
      if (std::chrono::steady_clock::now() >= first->deadline) {
        fire(*first);
      }
      // A copy: wait_until reads its deadline again after waking, and while it waits another
      // thread's arm() may reallocate m_armed under the released lock.
      const std::chrono::steady_clock::time_point deadline = first->deadline;
      m_cv.wait_until(lock, deadline);
    }
  }

  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::vector<entry> m_armed;
  std::uint64_t m_next = 0;
  std::thread m_thread;
};

} // namespace detail

/// While alive, the process fails within `limit` with "<what> did not happen within N ms"
/// unless it is destroyed first. Use it around any wait that a broken runtime could make
/// endless: a block_on, a spin on a counter, a join. `state`, if given, is called on the
/// watchdog's thread when it fires (read only atomics there) to say how far things got.
class must_happen_within {
public:
  must_happen_within(std::chrono::steady_clock::duration limit, std::string what,
                     std::function<std::string()> state = {})
      : m_id(detail::watchdog::instance().arm(limit, std::move(what), std::move(state))) {}
  ~must_happen_within() { detail::watchdog::instance().disarm(m_id); }
  must_happen_within(const must_happen_within&) = delete;
  must_happen_within& operator=(const must_happen_within&) = delete;

private:
  std::uint64_t m_id;
};

/// `rt.block_on(t)`, failing the test within `limit` with a message naming `what` if it never
/// returns.
template <typename T>
T block_on_within(runtime& rt, std::chrono::steady_clock::duration limit, std::string what,
                  task<T> t) {
  must_happen_within guard(limit, std::move(what));
  return rt.block_on(std::move(t));
}

/// Spins (sleeping 1 ms between looks) until `done()` holds; fails the test within `limit` with
/// "<what> did not happen" otherwise. For waits outside the runtime.
template <typename Pred>
void wait_until(Pred done, std::chrono::steady_clock::duration limit, std::string what) {
  must_happen_within guard(limit, std::move(what));
  while (!done()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

namespace detail {

/// Puts every test case under a watchdog: a test that has not finished within
/// ZOKIO_TEST_WATCHDOG_S seconds (default 60, half of ctest's per-case timeout) fails with its
/// name instead of being killed silently by ctest.
class per_test_watchdog : public ::testing::EmptyTestEventListener {
public:
  static std::chrono::seconds limit() {
    const char* env = std::getenv("ZOKIO_TEST_WATCHDOG_S");
    const long s = env != nullptr ? std::strtol(env, nullptr, 10) : 0;
    return std::chrono::seconds(s > 0 ? s : 60);
  }
  void OnTestStart(const ::testing::TestInfo& info) override {
    m_id = watchdog::instance().arm(
        limit(), std::string("the test to finish (") + info.test_suite_name() + "." + info.name() +
                     "; raise ZOKIO_TEST_WATCHDOG_S if it is legitimately slow)");
  }
  void OnTestEnd(const ::testing::TestInfo&) override { watchdog::instance().disarm(m_id); }

private:
  std::uint64_t m_id = 0;
};

inline const bool per_test_watchdog_installed = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new per_test_watchdog);
  return true;
}();

} // namespace detail

} // namespace zokio::testing
