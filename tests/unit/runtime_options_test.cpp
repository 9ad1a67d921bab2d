#include <zokio/runtime/options.hpp>

#include "threads.hpp"
#include "zokio_test.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// --- name ----------------------------------------------------------------------------------------

zokio::task<std::string> thread_name_of_worker_1() {
  struct on_worker {
    static zokio::task<std::string> name() {
      char buf[16] = {};
      pthread_getname_np(pthread_self(), buf, sizeof buf);
      co_return std::string(buf);
    }
  };
  co_return co_await zokio::spawn_on(1, on_worker::name());
}

TEST(runtime_options, name_is_kept) {
  zokio::runtime rt{{.workers = 1, .name = "my-service"}};
  EXPECT_EQ(rt.options().name, "my-service");
  zokio::runtime unnamed{{.workers = 1}};
  EXPECT_EQ(unnamed.options().name, "zokio");
  zokio::testing::expect_clean_shutdown(rt);
  zokio::testing::expect_clean_shutdown(unnamed);
}

TEST(runtime_options, name_is_shown_in_worker_thread_names) {
  // options.hpp: "Shown in diagnostics and thread names."
  zokio::runtime rt{{.workers = 2, .name = "svc"}};
  const std::string thread_name = zokio::testing::block_on_within(
      rt, 10s, "a task on worker 1 to report its thread name", thread_name_of_worker_1());
  zokio::testing::expect_clean_shutdown(rt);
  EXPECT_EQ(thread_name, "svc-1");
}

TEST(runtime_options, every_thread_runs_and_is_named_when_the_constructor_returns) {
  // A runtime's threads run before its constructor returns (worker::start_thread, the stall
  // watchdog's constructor): none first runs later, when the program may have run out of
  // descriptors (UBSan's check at a thread's first run then fails, make test's asan pass once
  // saw it). A thread names itself once it runs, so its name is the evidence; a race would show
  // in some of twenty rounds.
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    zokio::runtime rt{{.workers = 3, .name = "ctor"}};
    const std::vector<std::string> names = zokio::testing::thread_names();
    for (const char* expected : {"ctor-1", "ctor-2", "ctor-stall"}) {
      EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end())
          << expected << " was not running when the constructor returned";
    }
    zokio::testing::expect_clean_shutdown(rt);
  }
}

// --- deadlock_grace = 0 turns detection off ------------------------------------------------------

// Waits on an event that a thread the runtime does not know about sets: to the runtime this
// looks exactly like a deadlock until the set arrives.
zokio::task<int> wait_for_foreign_set(zokio::event* e) {
  co_await e->wait();
  co_return 1;
}

TEST(runtime_options, deadlock_grace_detects_a_wait_on_an_unknown_thread) {
  // The counterpart of the next test: with a grace, the same program is taken for a deadlock.
  zokio::event e;
  zokio::runtime rt{{.workers = 1, .deadlock_grace = 50ms}};
  {
    zokio::testing::must_happen_within guard(10s, "deadlock_error after a 50 ms grace");
    EXPECT_THROW(rt.block_on(wait_for_foreign_set(&e)), zokio::deadlock_error);
  }
  EXPECT_EQ(rt.stats().deadlocks_detected, 1u);
  e.set();
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(runtime_options, deadlock_grace_zero_turns_detection_off) {
  zokio::event e;
  zokio::runtime rt{{.workers = 1, .deadlock_grace = 0ms}};
  std::thread setter([&e] {
    std::this_thread::sleep_for(300ms); // far past any grace the detector could assume
    e.set();
  });
  int v = 0;
  EXPECT_NO_THROW(v = zokio::testing::block_on_within(
                      rt, 10s, "block_on to return once the foreign thread set the event",
                      wait_for_foreign_set(&e)));
  setter.join();
  EXPECT_EQ(v, 1);
  EXPECT_EQ(rt.stats().deadlocks_detected, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- the default on_task_error prints one line to standard error ---------------------------------

zokio::task<void> fails_after_a_yield() {
  co_await zokio::yield_now();
  throw std::runtime_error("out of cheese");
}

zokio::task<void> detach_a_failure() {
  zokio::spawn(fails_after_a_yield(), {.name = "doomed"}).detach();
  co_await zokio::sleep_for(5ms);
}

TEST(runtime_options, default_on_task_error_prints_the_failure_to_stderr) {
  zokio::runtime rt{{.workers = 1}};
  ::testing::internal::CaptureStderr();
  zokio::testing::block_on_within(rt, 10s, "the detached failure to be reported",
                                  detach_a_failure());
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("zokio: detached task"), std::string::npos) << err;
  EXPECT_NE(err.find("'doomed'"), std::string::npos) << err;
  EXPECT_NE(err.find("runtime_options_test.cpp"), std::string::npos)
      << "names the spawn site: " << err;
  EXPECT_NE(err.find("failed: out of cheese"), std::string::npos) << err;
  // One line per failure.
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(rt.stats().tasks_failed, 1u);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(runtime_options, an_on_task_error_that_throws_is_reported_not_propagated) {
  zokio::runtime rt{{.workers = 1, .on_task_error = [](const zokio::task_failure&) { throw 1; }}};
  ::testing::internal::CaptureStderr();
  zokio::testing::block_on_within(rt, 10s, "the detached failure to be reported",
                                  detach_a_failure());
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("on_task_error threw"), std::string::npos) << err;
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
