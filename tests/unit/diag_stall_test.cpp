// The stall watchdog ([diag] #9): a resume past stall_threshold is reported once, while it runs,
// with the task's name, spawn site and the co_await it was resumed from, a backtrace where one
// can be taken, through on_stall and diag::recent_stalls; waiting never counts.

#include <zokio/diag/stall.hpp>
#include <zokio/time/sleep.hpp>

#include "race.hpp"
#include "zokio_test.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace std::chrono_literals;

namespace {

using zokio::testing::busy_for;

struct hook_log {
  std::mutex mutex;
  std::vector<zokio::diag::stall_report> reports;
  std::vector<std::chrono::steady_clock::time_point> at;
  std::atomic<std::int64_t> started{0};
};

std::int64_t now_ns() {
  return std::chrono::steady_clock::now().time_since_epoch().count();
}

zokio::task<void> spin(hook_log* log, std::chrono::milliseconds d) {
  co_await zokio::sleep_for(2ms); // past the tick calibration's first millisecond
  log->started.store(now_ns());
  busy_for(d);
  co_await zokio::yield_now();
}

zokio::runtime_options armed(hook_log* log, unsigned workers = 1) {
  return {.workers = workers,
          .stall_threshold = 50ms,
          .on_stall = [log](const zokio::diag::stall_report& r) {
            std::lock_guard<std::mutex> lock(log->mutex);
            log->reports.push_back(r);
            log->at.push_back(std::chrono::steady_clock::now());
          }};
}

zokio::task<void> spin_named(hook_log* log) {
  co_await zokio::spawn(spin(log, 300ms), {.name = "spinner"}).join();
}

TEST(diag_stall, a_stall_is_reported_once_while_it_runs) {
  hook_log log;
  zokio::runtime rt{armed(&log)};
  rt.block_on(spin_named(&log));
  const auto reports = zokio::diag::recent_stalls(rt);
  ASSERT_EQ(reports.size(), 1u);
  const auto& r = reports.front();
  EXPECT_EQ(r.sequence, 1u);
  EXPECT_EQ(r.task_name, "spinner");
  EXPECT_EQ(r.worker, 0u);
  EXPECT_NE(std::string(r.spawn_site.file).find("diag_stall_test.cpp"), std::string::npos);
  EXPECT_GT(r.spawn_site.line, 0u);
  // Resumed from its sleep_for.
  EXPECT_NE(r.resumed_from_file.find("diag_stall_test.cpp"), std::string::npos);
  EXPECT_GE(r.duration, 50ms);
  EXPECT_LT(r.duration, 300ms) << "reported while it ran, not after";
  EXPECT_TRUE(r.ended);
  EXPECT_GE(r.total, 290ms);
  EXPECT_TRUE(!r.backtrace.empty() || !r.backtrace_note.empty());
  EXPECT_EQ(rt.stats().stalls, 1u);
  {
    std::lock_guard<std::mutex> lock(log.mutex);
    ASSERT_EQ(log.reports.size(), 1u) << "on_stall is called once per stall";
    EXPECT_EQ(log.reports.front().task_name, "spinner");
    EXPECT_FALSE(log.reports.front().ended) << "the hook runs while the stall goes on";
    const auto latency = log.at.front() - std::chrono::steady_clock::time_point(
                                              std::chrono::nanoseconds(log.started.load()));
    EXPECT_LT(latency, 250ms) << "reported within the stall, not after it";
  }
  const std::string text = zokio::diag::format_stall(r);
  EXPECT_NE(text.find("'spinner'"), std::string::npos) << text;
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> wait_and_yield() {
  for (int i = 0; i < 2000; ++i) {
    co_await zokio::yield_now();
  }
  co_await zokio::sleep_for(300ms); // waiting in the poller never counts
}

zokio::task<void> sleep_on_thread(std::chrono::milliseconds d) {
  co_await zokio::sleep_for(2ms);
  std::this_thread::sleep_for(d); // a blocking call on the loop thread
  co_await zokio::yield_now();
}

zokio::task<void> sleeper_named() {
  co_await zokio::spawn(sleep_on_thread(300ms), {.name = "sleeper"}).join();
}

// A resume that sleeps in the kernel is blocked (off-CPU), with the system call it sleeps in; a
// busy one is not (unless the machine starved it: then it is preempted, and still not blocked).
TEST(diag_stall, a_blocking_call_is_told_apart_from_a_busy_loop) {
  hook_log log;
  zokio::runtime rt{armed(&log)};
  rt.block_on(sleeper_named());
  rt.block_on(spin_named(&log));
  const auto reports = zokio::diag::recent_stalls(rt);
  ASSERT_EQ(reports.size(), 2u);
  const auto& sleeper = reports[0];
  EXPECT_EQ(sleeper.task_name, "sleeper");
  EXPECT_TRUE(sleeper.blocked()) << zokio::diag::format_stall(sleeper);
  EXPECT_TRUE(sleeper.thread_state == 'S' || sleeper.thread_state == 'D')
      << "state " << sleeper.thread_state;
  EXPECT_NE(sleeper.syscall.find("nanosleep"), std::string::npos) << sleeper.syscall;
  EXPECT_NE(zokio::diag::format_stall(sleeper).find("blocked (off-CPU) in "), std::string::npos);
  const auto& spinner = reports[1];
  EXPECT_EQ(spinner.task_name, "spinner");
  EXPECT_FALSE(spinner.blocked()) << zokio::diag::format_stall(spinner);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(diag_stall, waiting_and_short_resumes_are_never_reported) {
  hook_log log;
  zokio::runtime rt{armed(&log)};
  rt.block_on(wait_and_yield());
  EXPECT_TRUE(zokio::diag::recent_stalls(rt).empty());
  EXPECT_EQ(rt.stats().stalls, 0u);
  std::lock_guard<std::mutex> lock(log.mutex);
  EXPECT_TRUE(log.reports.empty());
  zokio::testing::expect_clean_shutdown(rt);
}

// --- A stall in a libuv callback, no task running ----------------------------------------------

struct planted_callback {
  std::atomic<bool> done{false};
};

void busy_callback(void* arg) {
  busy_for(300ms);
  static_cast<planted_callback*>(arg)->done.store(true);
}

bool callback_stall_ended(const zokio::runtime* rt) {
  const auto reports = zokio::diag::recent_stalls(*rt);
  return !reports.empty() && reports.front().ended;
}

zokio::task<void> plant_callback(planted_callback* p, bool in_poll_phase,
                                 const zokio::runtime* rt) {
  zokio::diag::testing::run_in_loop_callback(&busy_callback, p, in_poll_phase);
  while (!p->done.load()) {
    co_await zokio::sleep_for(5ms);
  }
  // The watchdog notes the end at its next look, within half a threshold: a second at most.
  for (int i = 0; i < 200 && !callback_stall_ended(rt); ++i) {
    co_await zokio::sleep_for(5ms);
  }
}

void expect_one_callback_stall(bool in_poll_phase) {
  SCOPED_TRACE(in_poll_phase ? "an I/O callback of the poll phase" : "a timer callback");
  hook_log log;
  planted_callback p;
  zokio::runtime rt{armed(&log)};
  rt.block_on(plant_callback(&p, in_poll_phase, &rt));
  const auto reports = zokio::diag::recent_stalls(rt);
  ASSERT_EQ(reports.size(), 1u);
  const auto& r = reports.front();
  EXPECT_TRUE(r.in_callback);
  EXPECT_EQ(r.in_poll_phase, in_poll_phase);
  EXPECT_EQ(r.task_id, 0u);
  EXPECT_TRUE(r.task_name.empty());
  EXPECT_GE(r.duration, 50ms);
  EXPECT_LT(r.duration, 300ms) << "reported while it ran, not after";
  EXPECT_TRUE(r.ended);
  // From the watchdog's first look, which a loaded machine may delay: a lower bound.
  EXPECT_GE(r.total, r.duration);
  EXPECT_TRUE(!r.backtrace.empty() || !r.backtrace_note.empty());
  EXPECT_NE(zokio::diag::format_stall(r).find("stall: in a libuv callback on worker 0"),
            std::string::npos)
      << zokio::diag::format_stall(r);
  EXPECT_EQ(rt.stats().stalls, 1u);
  {
    std::lock_guard<std::mutex> lock(log.mutex);
    EXPECT_EQ(log.reports.size(), 1u);
  }
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(diag_stall, a_stuck_timer_callback_is_reported_once) {
  expect_one_callback_stall(false);
}

TEST(diag_stall, a_stuck_io_callback_is_reported_once) {
  expect_one_callback_stall(true);
}

zokio::task<void> nap_400ms() {
  co_await zokio::sleep_for(400ms);
}

zokio::task<void> nap_on_one() {
  co_await zokio::spawn_on(1, nap_400ms()).join();
}

TEST(diag_stall, an_idle_loop_is_never_a_callback_stall) {
  // Worker 1 waits in its poller for 400 ms, eight thresholds, while worker 0 waits too.
  hook_log log;
  zokio::runtime rt{armed(&log, 2)};
  rt.block_on(nap_on_one());
  EXPECT_TRUE(zokio::diag::recent_stalls(rt).empty());
  EXPECT_EQ(rt.stats().stalls, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> spin_on_one(hook_log* log) {
  auto h = zokio::spawn_on(1, spin(log, 200ms), {.name = "on-one"});
  for (int i = 0; i < 50; ++i) {
    co_await zokio::sleep_for(2ms); // worker 0 keeps going
  }
  co_await h.join();
}

TEST(diag_stall, names_the_worker_that_stalled) {
  hook_log log;
  zokio::runtime rt{armed(&log, 2)};
  rt.block_on(spin_on_one(&log));
  const auto reports = zokio::diag::recent_stalls(rt);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports.front().worker, 1u);
  EXPECT_EQ(reports.front().task_name, "on-one");
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(diag_stall, without_backtraces_the_report_says_so) {
  hook_log log;
  auto options = armed(&log);
  options.stall_backtrace = false;
  zokio::runtime rt{std::move(options)};
  rt.block_on(spin(&log, 150ms));
  const auto reports = zokio::diag::recent_stalls(rt);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports.front().backtrace.empty());
  EXPECT_NE(reports.front().backtrace_note.find("stall_backtrace"), std::string::npos);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(diag_stall, a_throwing_hook_is_survived) {
  hook_log log;
  std::atomic<int> calls{0};
  zokio::runtime rt{{.workers = 1, .stall_threshold = 50ms, .on_stall = [&calls](const auto&) {
                       calls.fetch_add(1);
                       throw std::runtime_error("hook failed");
                     }}};
  rt.block_on(spin(&log, 150ms));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(zokio::diag::recent_stalls(rt).size(), 1u);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(diag_stall, a_threshold_of_zero_reports_nothing) {
  hook_log log;
  zokio::runtime rt{{.workers = 1, .stall_threshold = 0ms}};
  rt.block_on(spin(&log, 120ms));
  EXPECT_TRUE(zokio::diag::recent_stalls(rt).empty());
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> nap(std::chrono::milliseconds d) {
  co_await zokio::sleep_for(d);
}

zokio::task<void> nap_named() {
  co_await zokio::spawn(nap(700ms), {.name = "dump-me"}).join();
}

TEST(diag_sigquit, zokio_dump_prints_the_task_dump_and_the_program_goes_on) {
  ::setenv("ZOKIO_DUMP", "1", 1);
  zokio::runtime rt{{.workers = 1, .name = "dumped"}};
  ::unsetenv("ZOKIO_DUMP");
  testing::internal::CaptureStderr();
  std::thread quit([] {
    std::this_thread::sleep_for(150ms);
    ::kill(::getpid(), SIGQUIT); // the process goes on
  });
  rt.block_on(nap_named());
  quit.join();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("zokio: SIGQUIT: runtime 'dumped'"), std::string::npos) << err;
  EXPECT_NE(err.find("'dump-me' worker 0 suspended on timer"), std::string::npos) << err;
  zokio::testing::expect_clean_shutdown(rt);
}

// How a stall is judged from what the watchdog saw of the loop thread (what zokio-soak's
// loop_stalls criterion and zokio-diag --check-blocking rely on), on reports made by hand.
zokio::diag::stall_report seen(char state, int watched_ms, int cpu_ms, int wait_ms, int steal_ms) {
  zokio::diag::stall_report r;
  r.thread_state = state;
  r.watched = std::chrono::milliseconds(watched_ms);
  r.on_cpu = std::chrono::milliseconds(cpu_ms);
  r.runqueue_wait = std::chrono::milliseconds(wait_ms);
  r.steal = std::chrono::milliseconds(steal_ms);
  return r;
}

TEST(diag_stall_kind, each_way_a_loop_thread_can_spend_a_stall_is_told_apart) {
  const auto spin = seen('R', 100, 95, 2, 0);
  EXPECT_TRUE(spin.on_cpu_busy());
  EXPECT_FALSE(spin.preempted());
  EXPECT_FALSE(spin.blocked());
  const auto overloaded = seen('R', 100, 20, 70, 0);
  EXPECT_TRUE(overloaded.preempted());
  EXPECT_FALSE(overloaded.on_cpu_busy());
  const auto asleep = seen('S', 100, 1, 0, 0);
  EXPECT_TRUE(asleep.blocked());
  EXPECT_FALSE(asleep.preempted());
  EXPECT_FALSE(asleep.on_cpu_busy());
  // Runnable, yet neither run nor queued: a virtual CPU the host did not run. With the host's
  // steal on record it is preempted; without it, it is neither busy nor blocked (undetermined).
  const auto stolen = seen('R', 86, 0, 0, 90);
  EXPECT_TRUE(stolen.preempted());
  EXPECT_FALSE(stolen.on_cpu_busy());
  const auto unexplained = seen('R', 86, 0, 0, 0);
  EXPECT_FALSE(unexplained.preempted());
  EXPECT_FALSE(unexplained.blocked());
  EXPECT_FALSE(unexplained.on_cpu_busy());
  EXPECT_NE(zokio::diag::format_stall(unexplained).find("undetermined"), std::string::npos)
      << zokio::diag::format_stall(unexplained);
  EXPECT_NE(zokio::diag::format_stall(stolen).find("host did not run its CPU"), std::string::npos)
      << zokio::diag::format_stall(stolen);
  // Steal on other CPUs does not excuse a thread that computed.
  EXPECT_FALSE(seen('R', 100, 90, 0, 200).preempted());
  // Nothing watched: the state alone.
  EXPECT_TRUE(seen('R', 0, 0, 0, 0).on_cpu_busy());
  EXPECT_TRUE(seen('D', 0, 0, 0, 0).blocked());
}

} // namespace
