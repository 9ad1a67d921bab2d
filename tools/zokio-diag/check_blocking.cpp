#include "check_blocking.hpp"
#include "scenario.hpp"

#include <zokio/diag/stall.hpp>
#include <zokio/zokio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <utility>

#include <unistd.h>

// Coroutines take their state as parameters by value, never through lambda captures (STYLE.md).

using namespace std::chrono_literals;

namespace zokio::diag_tool {

/// The planted blocking calls. Not static and never inlined: the executable exports its symbols
/// (ENABLE_EXPORTS), so the backtrace taken in the blocked thread names these functions.
[[gnu::noinline]] void injected_sleep_on_loop_thread(std::chrono::milliseconds d) {
  std::this_thread::sleep_for(d); // a synchronous sleep on the loop thread
}

/// Reads one byte from `fd`, a pipe that gets it only later: a blocking read on the loop thread.
[[gnu::noinline]] void injected_blocking_read(int fd) {
  char c = 0;
  while (::read(fd, &c, 1) < 0 && errno == EINTR) {
  }
}

/// A task that computes: the control that must be told apart from blocking.
[[gnu::noinline]] void busy_control_loop(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
}

namespace {

constexpr auto threshold = 50ms;
constexpr auto planted_for = 300ms;
constexpr auto busy_for = 200ms;
constexpr auto long_wait = 200ms;

zokio::runtime_options options() {
  return zokio::runtime_options{
      .workers = 2, .force_async = true, .stall_threshold = threshold, .name = "zokio-diag"};
}

/// Runs `t` on worker 1 under `name`, and waits for it.
zokio::task<void> on_worker_1(zokio::task<void> t, const char* name) {
  co_await zokio::spawn_on(1, std::move(t), {.name = name}).join();
}

/// Shuts the runtime down (it must be clean), keeps its counters and its stall reports in `out`,
/// and returns the reports.
std::vector<zokio::diag::stall_report> shut_down(watched_runtime_base& w, scenario_outcome& out) {
  const zokio::shutdown_report report = w.rt().shutdown();
  out.record(w.rt().stats());
  out.expect(report.clean(), "shutdown not clean: " + report.to_string());
  auto reports = zokio::diag::recent_stalls(w.rt());
  out.stalls(reports);
  return reports;
}

/// The reports of `rt` that say blocked, and those that are preempted.
std::vector<zokio::diag::stall_report> blocked_of(const std::vector<zokio::diag::stall_report>& v) {
  std::vector<zokio::diag::stall_report> out;
  for (const auto& r : v) {
    if (r.blocked()) {
      out.push_back(r);
    }
  }
  return out;
}

// --- Clean: waiting in the poller and on the blocking pool --------------------------------------

zokio::task<void> sleep_long() {
  co_await zokio::sleep_for(long_wait);
}

zokio::task<void> blocking_job_long() {
  co_await zokio::spawn_blocking([] { std::this_thread::sleep_for(long_wait); });
}

zokio::task<void> read_files(int n) {
  for (int i = 0; i < n; ++i) {
    (void)co_await zokio::fs::read_file("/proc/self/stat");
  }
}

zokio::task<void> waits() {
  std::vector<zokio::join_handle<void>> hs;
  for (unsigned w = 0; w < 2; ++w) {
    hs.push_back(zokio::spawn_on(w, sleep_long(), {.name = "sleeper"}));
    hs.push_back(zokio::spawn_on(w, blocking_job_long(), {.name = "blocking-job"}));
    hs.push_back(zokio::spawn_on(w, read_files(50), {.name = "file-reader"}));
  }
  for (auto& h : hs) {
    co_await h.join();
  }
}

void check_waits(watchdog& wd, scenario_outcome& out) {
  watched_runtime_base w(wd, options());
  w.rt().block_on(waits());
  const auto reports = shut_down(w, out);
  const auto blocked = blocked_of(reports);
  if (!blocked.empty()) {
    out.fail("a wait in the poller or on the blocking pool was reported as blocking: " +
             zokio::diag::format_stall(blocked.front()));
    return;
  }
  out.note("no blocking call: sleeps of " + ms(long_wait) + " in the poller, blocking jobs of " +
           ms(long_wait) +
           " on the pool and 100 file reads on the thread pool never block a "
           "loop thread (threshold " +
           ms(threshold) + ")");
}

// --- Clean: a busy loop is a stall on a CPU, not a blocking call -------------------------------

zokio::task<void> busy() {
  co_await zokio::yield_now();
  busy_control_loop(busy_for);
  co_await zokio::yield_now();
}

void check_busy_control(watchdog& wd, scenario_outcome& out) {
  watched_runtime_base w(wd, options());
  w.rt().block_on(on_worker_1(busy(), "busy-control"));
  const auto reports = shut_down(w, out);
  const auto blocked = blocked_of(reports);
  if (!blocked.empty()) {
    out.fail("a " + ms(busy_for) + " busy loop was taken for a blocking call: " +
             zokio::diag::format_stall(blocked.front()));
    return;
  }
  if (reports.empty()) {
    out.fail("the " + ms(busy_for) + " busy loop was not reported at all (threshold " +
             ms(threshold) + ")");
    return;
  }
  const auto& r = reports.front();
  out.note("the " + ms(busy_for) + " busy loop was reported as a stall on a CPU, not as " +
           "blocking: of " + ms(r.watched) + " watched, " + ms(r.on_cpu) + " on CPU, " +
           ms(r.runqueue_wait) + " waiting for a CPU, state " +
           (r.thread_state == 0 ? std::string("unknown") : std::string(1, r.thread_state)));
}

// --- Planted (--inject blocking) ----------------------------------------------------------------

zokio::task<void> sleep_on_loop() {
  co_await zokio::yield_now(); // the report names this co_await as the resume's origin
  injected_sleep_on_loop_thread(planted_for);
  co_await zokio::yield_now();
}

zokio::task<void> read_on_loop(int fd) {
  co_await zokio::yield_now();
  injected_blocking_read(fd);
  co_await zokio::yield_now();
}

void judge_planted(scenario_outcome& out, const std::vector<zokio::diag::stall_report>& reports,
                   const char* task, const char* function) {
  const auto blocked = blocked_of(reports);
  if (blocked.empty()) {
    out.fail(std::string("the planted blocking call in '") + task + "' was not reported as " +
             "blocked (" + std::to_string(reports.size()) + " stall report(s)" +
             (reports.empty() ? std::string() : ": " + zokio::diag::format_stall(reports.front())) +
             ")");
    return;
  }
  const zokio::diag::stall_report& r = blocked.front();
  std::string gaps;
  const auto gap = [&gaps](bool ok, const std::string& what) {
    if (!ok) {
      gaps += "; MISSING: " + what;
    }
  };
  gap(r.task_name == task, "the task's name (got '" + r.task_name + "')");
  gap(std::string(r.spawn_site.file).find("check_blocking.cpp") != std::string::npos,
      "the spawn site in check_blocking.cpp");
  gap(!r.syscall.empty(), "the system call it blocked in");
  const auto frame = std::find_if(r.backtrace.begin(), r.backtrace.end(), [&](const auto& f) {
    return f.find(function) != std::string::npos;
  });
  gap(frame != r.backtrace.end(),
      std::string("a backtrace naming ") + function + " (" +
          (r.backtrace.empty() ? r.backtrace_note
                               : std::to_string(r.backtrace.size()) + " frames") +
          ")");
  std::string where = r.syscall.empty() ? std::string() : " in " + r.syscall;
  if (!r.wchan.empty()) {
    where += " (kernel: " + r.wchan + ")";
  }
  out.fail("blocked (off-CPU): task '" + r.task_name + "' on worker " + std::to_string(r.worker) +
           " blocked its loop thread" + where + " for " + ms(r.duration) + " when reported" +
           (r.ended ? ", " + ms(r.total) + " in all" : std::string()) + "; of " + ms(r.watched) +
           " watched, " + ms(r.on_cpu) + " on CPU; at " +
           (frame != r.backtrace.end() ? *frame : std::string("an unknown location")) +
           "; spawned at " + r.spawn_site.file + ":" + std::to_string(r.spawn_site.line) +
           (r.resumed_from_line != 0 ? "; resumed from " + r.resumed_from_file + ":" +
                                           std::to_string(r.resumed_from_line)
                                     : std::string()) +
           gaps);
}

void check_sleep(watchdog& wd, scenario_outcome& out) {
  watched_runtime_base w(wd, options());
  w.rt().block_on(on_worker_1(sleep_on_loop(), "blocking-sleep"));
  judge_planted(out, shut_down(w, out), "blocking-sleep", "injected_sleep_on_loop_thread");
}

void check_read(watchdog& wd, scenario_outcome& out) {
  int fds[2];
  if (::pipe(fds) != 0) {
    out.fail("pipe() failed");
    return;
  }
  // The writer answers only after the planted time: until then the read blocks its thread.
  std::thread writer([fd = fds[1]] {
    std::this_thread::sleep_for(planted_for);
    (void)!::write(fd, "x", 1);
  });
  {
    watched_runtime_base w(wd, options());
    w.rt().block_on(on_worker_1(read_on_loop(fds[0]), "blocking-read"));
    judge_planted(out, shut_down(w, out), "blocking-read", "injected_blocking_read");
  }
  writer.join();
  ::close(fds[0]);
  ::close(fds[1]);
}

struct scenario {
  const char* name;
  bool planted; // runs only with --inject blocking
  void (*run)(watchdog&, scenario_outcome&);
};

constexpr scenario battery[] = {
    {"waits-off-loop", false, &check_waits},
    {"busy-is-not-blocking", false, &check_busy_control},
    {"sleep-on-loop", true, &check_sleep},
    {"read-on-loop", true, &check_read},
};

bool chosen(const scenario& s, const blocking_check_options& options) {
  return selected(!s.planted || options.inject_blocking, s.name, options.only);
}

} // namespace

const std::vector<std::string>& blocking_scenario_names() {
  static const std::vector<std::string> names = names_of(battery);
  return names;
}

std::vector<std::string> planned_blocking_scenarios(const blocking_check_options& options) {
  return planned_names(battery, [&options](const scenario& s) { return chosen(s, options); });
}

check_result run_check_blocking(const blocking_check_options& options, watchdog& wd,
                                const std::function<void(const scenario_result&)>& on_result) {
  return run_chosen(
      "blocking", battery, [&options](const scenario& s) { return chosen(s, options); }, wd,
      on_result);
}

} // namespace zokio::diag_tool
