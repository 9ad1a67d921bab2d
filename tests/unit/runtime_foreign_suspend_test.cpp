// A task suspended by something that is not one of Zokio's awaits can never be resumed by the
// runtime: it is reported at once (stderr, stats().lost_wakeups) and diag::find_lost_wakeups
// names it, instead of a silent hang. GCC 12.2 produces the same state from plain code (README,
// "Compilers"); a co_await of std::suspend_always, which the task never hands to the runtime, is
// the portable way to reach it.

#include <zokio/diag/lost_wakeup.hpp>
#include <zokio/runtime/runtime.hpp>
#include <zokio/time/sleep.hpp>

#include "lsan.hpp"
#include "zokio_test.hpp"

#include <coroutine>
#include <string>

using namespace std::chrono_literals;

namespace {

bool g_outsider_started = false;
bool g_outsider_went_on = false;

zokio::task<void> parks_outside() {
  g_outsider_started = true;
  co_await std::suspend_always{}; // not a Zokio await: nothing will resume this
  g_outsider_went_on = true;
}

zokio::task<void> start_outsider() {
  zokio::spawn(parks_outside(), {.name = "outsider"}).detach();
  co_await zokio::sleep_for(20ms); // the outsider runs and suspends meanwhile
}

TEST(foreign_suspend, a_task_suspended_outside_the_runtime_is_reported_at_once) {
#ifdef ZOKIO_TEST_LSAN
  // The outsider's frame is never destroyed, by design (like any task left at shutdown): not a
  // leak of the test's making.
  __lsan::ScopedDisabler no_leak_check;
#endif
  zokio::runtime rt{{.workers = 1, .shutdown_grace = 50ms}};
  testing::internal::CaptureStderr();
  zokio::testing::block_on_within(rt, 10s, "the outsider to suspend", start_outsider());
  const std::string err = testing::internal::GetCapturedStderr();

  EXPECT_TRUE(g_outsider_started);
  EXPECT_FALSE(g_outsider_went_on);
  EXPECT_NE(err.find("'outsider'"), std::string::npos) << err;
  EXPECT_NE(err.find("suspended outside the runtime"), std::string::npos) << err;
  EXPECT_NE(err.find("runtime_foreign_suspend_test.cpp"), std::string::npos) << err;
  EXPECT_EQ(rt.stats().lost_wakeups, 1u);
  // The lost wake-up detector names it too.
  const auto found = zokio::diag::find_lost_wakeups(rt);
  ASSERT_EQ(found.size(), 1u) << zokio::diag::format_lost_wakeups(found);
  EXPECT_EQ(found[0].task.name, "outsider");
  EXPECT_NE(found[0].why.find("not the runtime's"), std::string::npos) << found[0].why;

  const zokio::shutdown_report report = rt.shutdown();
  EXPECT_EQ(report.tasks_left, 1u) << report.to_string();
  EXPECT_FALSE(report.clean()) << report.to_string();
  EXPECT_EQ(rt.stats().lost_wakeups, 1u);
}

} // namespace
