#pragma once

// A deadline for work that could hang, enforced from a thread of its own (outside every libuv
// loop, so a stuck loop cannot stop it), and the end of a run that SIGINT or SIGTERM interrupts.
//
// Threads: `arm`, `disarm` and `watch` are called by the thread running the checks; the watchdog
// thread waits on `m_cv` until the deadline. Everything shared is guarded by `m_mutex`. When the
// deadline passes, the watchdog thread holds `m_mutex` while it dumps the watched runtime, so the
// runtime cannot be unwatched (and then destroyed) under the dump. `stop_signals` runs a thread
// of its own that waits for SIGINT/SIGTERM (blocked in every other thread) and then calls
// `interrupt`, which takes `m_mutex` the same way.

#include "check.hpp"

#include <zokio/runtime/runtime.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace zokio::diag_tool {

class watchdog {
public:
  /// Called once the deadline has passed (verdict::hang, on the watchdog thread, after the task
  /// dump is printed) or a stop signal arrived (verdict::interrupted, on the signal thread),
  /// before the process exits with code 3: the work's name (empty when no work was armed), the
  /// runtime being watched (or nullptr) and how long the work has run.
  using expiry_fn = std::function<void(const std::string& name, const zokio::runtime* rt,
                                       std::chrono::nanoseconds, verdict why)>;

  watchdog(std::chrono::seconds limit, expiry_fn on_expiry);
  ~watchdog();
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

  /// Starts the deadline (`limit` from now) for the work called `name`.
  void arm(std::string name);
  /// Stops the deadline: the work finished in time.
  void disarm();
  /// The runtime whose task dump is printed if the deadline passes; nullptr for none. Call with
  /// nullptr before destroying it.
  void watch(const zokio::runtime* rt);
  /// Ends the run now: `on_expiry` with verdict::interrupted, then exit code 3.
  [[noreturn]] void interrupt(int signo);
  /// Ends the run now as a hang (the parent's watchdog said so): the task dump, `on_expiry` with
  /// verdict::hang, then exit code 3.
  [[noreturn]] void hang_now();
  /// Called (on the thread running the checks) when work is armed, with its name and true, and
  /// when it is disarmed, with false: the heartbeat of a watched child. Set before any arm.
  void on_progress(std::function<void(const std::string&, bool)> fn) {
    m_on_progress = std::move(fn);
  }
  /// The deadline is kept by a parent process (a re-executed child under the shared watchdog of
  /// tools/common, which sends SIGUSR2 past it): this thread no longer expires by itself.
  void deadline_from_parent();
  /// Bounds a whole check (--timeout): past `limit` from now, the same end as a hang (task dump,
  /// `on_expiry` with verdict::hang, exit 3), also in a child whose scenario deadline its parent
  /// keeps. `limit` 0 removes the bound. Each call starts the bound anew (one per check).
  void bound_check(std::chrono::seconds limit);
  /// The limit that expired (the scenario's, or the check's for --timeout), for the report.
  std::chrono::seconds expired_limit() const noexcept { return m_expired_limit; }

private:
  void run();
  [[noreturn]] void expire(std::chrono::nanoseconds elapsed, std::chrono::seconds limit,
                           const char* what);
  [[noreturn]] void finish(std::chrono::nanoseconds elapsed, verdict why);

  const std::chrono::seconds m_limit;
  const expiry_fn m_on_expiry;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_armed = false;
  bool m_stop = false;
  bool m_parent_deadline = false;
  std::string m_name;
  std::chrono::steady_clock::time_point m_started;
  std::chrono::seconds m_check_limit{0}; // 0: no --timeout
  std::chrono::steady_clock::time_point m_check_started;
  std::chrono::seconds m_expired_limit{0}; // written under m_mutex before on_expiry runs
  const zokio::runtime* m_rt = nullptr;
  std::function<void(const std::string&, bool)> m_on_progress;
  std::thread m_thread; // last: started once the fields above exist
};

/// Blocks SIGINT, SIGTERM and SIGUSR2 in the calling thread. Call it first in main, before any
/// thread starts: every thread started later inherits the mask, so only `stop_signals` sees them.
void block_stop_signals();

/// Turns SIGINT and SIGTERM into `watchdog::interrupt`, and SIGUSR2 (the dump signal of a parent's
/// watchdog, tools/common) into `watchdog::hang_now`, from a thread of its own that waits for
/// them (block_stop_signals must have run). `stop` (or the destructor) ends that thread and
/// unblocks the signals in the calling thread again, so a signal after the run has its default
/// effect.
class stop_signals {
public:
  explicit stop_signals(watchdog& wd);
  ~stop_signals();
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

  void stop();

private:
  watchdog& m_watchdog;
  std::atomic<bool> m_stop{false}; // set before the thread is woken with a signal of its own
  std::thread m_thread;
};

} // namespace zokio::diag_tool
