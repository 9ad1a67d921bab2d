#pragma once

// Stall reports: a resume of a task that runs longer than `runtime_options::stall_threshold`,
// seen by the runtime's stall watchdog while it happens (Seastar's reactor stall detector).

#include <zokio/util/site.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace zokio {

class runtime;

namespace diag {

/// One stall: a resume, or a libuv callback, that ran past the threshold, reported once, while
/// it ran.
///
/// The watchdog thread of the runtime sees it: the worker's current resume started longer than
/// `stall_threshold` ago and the worker made no progress since. Time a worker spends waiting in
/// its poller is never a resume, so it never counts. A stall that ended before the watchdog
/// looked (it looks at least twice per threshold, and exactly when the running resume reaches
/// the threshold) is counted in `runtime_stats::stalls` but has no report.
///
/// Outside resumes, the watchdog watches the loop itself: each worker marks when its loop enters
/// and leaves libuv's poll phase (a uv_prepare and a uv_check handle: no clock read). A loop
/// thread that is outside the poll phase, in no resume, and has made no progress (no resume, no
/// loop turn) for the threshold is stuck in a callback. Inside the poll phase the thread is
/// either waiting in the poller (never a stall) or running I/O callbacks: it is a stall only when
/// the thread was on a CPU or waiting for one for most of the time watched (schedstat), so a
/// callback blocked in a system call during the poll phase is not told from waiting. A callback
/// stall is counted in `runtime_stats::stalls` when it is reported.
struct stall_report {
  std::uint64_t sequence = 0; ///< 1 for the runtime's first stall report, then 2, ...
  unsigned worker = 0;
  /// True when no task ran: the loop thread was stuck in a libuv callback (a timer, check or
  /// close callback, the runtime's own work between loop phases, or, in libuv's poll phase, an
  /// I/O callback on a CPU). The task fields are then empty; `duration` and `total` are measured
  /// by the watchdog's looks (from its first look at the stuck callback, so within half a
  /// threshold of the truth), not by the worker, and `ended` and `total` are filled in at the
  /// watchdog's first look after the callback returned.
  bool in_callback = false;
  /// For a callback stall: true when it was in libuv's poll phase (an I/O callback).
  bool in_poll_phase = false;
  std::uint64_t task_id = 0;
  std::string task_name;
  site spawn_site;
  /// Where the task last suspended before this resume (the `co_await` it was resumed from);
  /// empty for a task's first resume.
  std::string resumed_from_file;
  std::uint32_t resumed_from_line = 0;
  /// How long the resume had run when the watchdog reported it (at least the threshold).
  std::chrono::nanoseconds duration{0};
  /// The whole length of the resume, once it has ended (0 while it still runs). A later
  /// `recent_stalls` shows it; the `on_stall` hook is called before it is known.
  std::chrono::nanoseconds total{0};
  bool ended = false;
  /// What the worker's thread did during the part of the stall the watchdog watched (from its
  /// first look at this resume to the report): time on a CPU, and time it was runnable but
  /// waiting for a CPU (from /proc/self/task/TID/schedstat; a loaded machine, not the task).
  /// `watched` is 0 when the watchdog first saw the resume at the report.
  std::chrono::nanoseconds watched{0};
  std::chrono::nanoseconds on_cpu{0};
  std::chrono::nanoseconds runqueue_wait{0};
  /// The machine's steal time during the watched part: time the host of this virtual machine
  /// did not run its virtual CPUs (/proc/stat, all CPUs together, in 10 ms steps). A thread
  /// whose virtual CPU is not run neither runs nor waits in its kernel's run queue; this is what
  /// tells that apart from a thread asleep. 0 on bare metal or when /proc does not tell.
  std::chrono::nanoseconds steal{0};
  /// The stuck thread's scheduler state when the report was made, from
  /// /proc/self/task/TID/stat: 'R' on a CPU or waiting for one, 'S' asleep in the kernel, 'D'
  /// in an uninterruptible wait; 0 when /proc does not tell. For a thread not on a CPU, the
  /// kernel function it sleeps in (/proc wchan, e.g. "hrtimer_nanosleep", "pipe_read") and the
  /// system call it is blocked in ("clock_nanosleep", "read", or "syscall N"); empty otherwise.
  char thread_state = 0;
  std::string wchan;
  std::string syscall;
  /// The stuck thread's stack, taken while it was stuck (a signal to the thread, `backtrace()`
  /// in the handler), innermost first, one symbolized frame a line: "function+0x1f (module)".
  /// Empty when it could not be taken; `backtrace_note` says why.
  std::vector<std::string> backtrace;
  std::string backtrace_note;

  /// True when the thread did not get a CPU for most of the watched part, for a reason outside
  /// the process: it waited for one in the run queue (an overloaded machine), or it was runnable
  /// ('R') and yet neither ran nor waited for most of it while the host stole at least half of
  /// that time (a virtual machine's CPU not run by its host, which stops the kernel's clocks of
  /// both). The task itself may be innocent.
  bool preempted() const noexcept {
    if (watched.count() <= 0) {
      return false;
    }
    if (runqueue_wait * 2 > watched) {
      return true;
    }
    const std::chrono::nanoseconds unexplained = watched - on_cpu - runqueue_wait;
    return thread_state == 'R' && unexplained * 2 > watched && steal * 2 >= unexplained;
  }

  /// True when the thread computed for most of the watched part (or, with nothing watched, was
  /// running when reported): a stall on a CPU, the task's own doing.
  bool on_cpu_busy() const noexcept {
    if (watched.count() <= 0) {
      return thread_state == 'R';
    }
    return on_cpu * 2 >= watched;
  }

  /// True when the thread was blocked in the kernel (off-CPU), not computing: a synchronous call
  /// such as a sleep or a blocking read on the loop thread (what Node's --trace-sync-io reports).
  /// It was neither on a CPU nor waiting for one for most of the watched part, and it was not
  /// running when reported; with nothing watched, its state alone decides.
  bool blocked() const noexcept {
    const bool asleep = thread_state == 'S' || thread_state == 'D';
    if (watched.count() <= 0) {
      return asleep;
    }
    return (on_cpu + runqueue_wait) * 2 < watched && (asleep || thread_state == 0);
  }
};

namespace testing {

/// For tests of the stall watchdog (zokio-diag --check-stall --inject callback-stall): runs
/// `fn(arg)` once on the calling task's worker, inside a libuv callback, not in a task: a
/// uv_timer callback (outside the poll phase) or, with `in_poll_phase`, a uv_async callback (an
/// I/O callback of the poll phase). Call it from a task; the handle is closed after the callback
/// ran. Throws `no_runtime_error` outside a task.
void run_in_loop_callback(void (*fn)(void*), void* arg, bool in_poll_phase);

} // namespace testing

/// The runtime's most recent stall reports (up to 64), oldest first. Callable from any thread.
std::vector<stall_report> recent_stalls(const runtime& rt);

/// A report as text: a headline ("stall: task 3 'spin' on worker 0 ran 300.2 ms ...") and the
/// backtrace, one frame a line, indented.
std::string format_stall(const stall_report& r);

} // namespace diag
} // namespace zokio
