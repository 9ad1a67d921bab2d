#pragma once

#include <zokio/diag/stall.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

// The stall watchdog of one runtime: a plain thread that looks at each worker's running resume
// (worker_core::m_running, m_progress, m_resume_start) and reports a resume that has run past
// the threshold, once, with the task's record and the stuck thread's backtrace; between resumes
// it watches the loop (m_progress, m_polls) and reports a libuv callback that does not return.
//
// Threads: the watchdog's own thread scans and reports; a worker calls resume_ended() from its
// owner thread when a long resume ends; recent() is called from anywhere. The ring and the
// pending ends are under m_ring_mutex, which is never held while a live-list lock is taken.

namespace zokio::detail {

class runtime_impl;

/// What a SIGQUIT prints (ZOKIO_DUMP): nothing, the text dump (=1), or the console's snapshot
/// as one JSON document (=json).
enum class dump_format : unsigned char { none, text, json };

class stall_watchdog {
public:
  /// `threshold_ns` 0: no stall watching (the thread then only serves `dump_on_sigquit`).
  /// `dump`: what to print to standard error on each SIGQUIT (ZOKIO_DUMP=1 or json).
  stall_watchdog(runtime_impl& rt, std::int64_t threshold_ns, dump_format dump);
  ~stall_watchdog();
  stall_watchdog(const stall_watchdog&) = delete;
  stall_watchdog& operator=(const stall_watchdog&) = delete;

  /// Stops and joins the thread; the reports stay readable. Idempotent.
  void stop() noexcept;

  /// Owner thread of `worker`: its resume number `seq` ran `ns` in all, past the threshold.
  void resume_ended(unsigned worker, std::uint64_t seq, std::int64_t ns) noexcept;

  std::vector<diag::stall_report> recent() const;

  /// Wakes the watchdog's thread now (any thread): a worker busy with a slow busy clock asks for
  /// the tick that makes it fast.
  void wake() noexcept { m_wake.notify_one(); }

private:
  struct watched_worker {
    std::uint64_t seen_seq = 0; // the resume seen running at the last look (0: none)
    std::uint64_t seen_ticks = 0;
    std::int64_t cpu0 = -1; // schedstat at the first look at seen_seq; -1: unknown
    std::int64_t wait0 = -1;
    std::int64_t steal0 = -1; // the machine's steal time then (read_steal_ns; -1: unknown)
    std::uint64_t reported_seq = 0;
    // Between resumes: the loop seen without progress (same m_progress, same m_polls).
    bool cb_valid = false;
    std::uint64_t cb_seq = 0;
    std::uint64_t cb_polls = 0;
    std::uint64_t cb_first = 0; // ticks of the first look at this state
    std::uint64_t cb_base = 0;  // ticks of the schedstat baseline (0: none yet)
    std::int64_t cb_cpu0 = -1;
    std::int64_t cb_wait0 = -1;
    std::int64_t cb_steal0 = -1;
    bool cb_reported = false;
    std::uint64_t cb_report_id = 0; // the ring's key of its report
  };
  struct ended_resume {
    std::uint64_t seq = 0;
    std::int64_t ns = 0;
  };

  void main() noexcept;
  /// Prints the task dump, the open handles and the counters to standard error (SIGQUIT).
  void dump() noexcept;
  /// Looks at every worker once; returns how long to sleep before the next look.
  std::int64_t scan();
  /// Bumps the runtime's busy clock (stall watching only). True while a worker runs tasks: it
  /// resumed one since the last tick, or one runs now; the next tick is then due in a
  /// millisecond, and the clock is marked fast.
  bool tick_busy_clock();

  void report(unsigned index, void* running, std::uint64_t seq, std::int64_t elapsed_ns,
              const watched_worker& seen);
  /// Between resumes: watches worker `index`'s loop for a callback that does not return.
  void scan_callback(unsigned index, std::uint64_t seq, std::uint64_t now, std::int64_t& sleep_ns);
  /// The watched callback state ends (progress, or a resume): a reported stall has ended.
  void end_callback_watch(unsigned index, std::uint64_t now);
  void report_callback(unsigned index, std::int64_t elapsed_ns, const watched_worker& seen,
                       std::int64_t cpu1, std::int64_t wait1, std::uint64_t now);
  /// Adds a report to the ring (and calls on_stall); `key` matches a later end.
  void publish(diag::stall_report& r, unsigned index, std::uint64_t key);

  runtime_impl& m_rt;
  const std::int64_t m_threshold_ns;
  /// The workers sample busy time by the clock this watchdog ticks (worker_core::m_clock).
  const bool m_ticks_busy_clock;
  const bool m_dump_on_sigquit;
  const dump_format m_dump_format;
  std::uint64_t m_dumps_seen = 0;        // the SIGQUIT count already answered
  std::vector<watched_worker> m_watched; // the watchdog thread's own
  /// Each worker's m_progress at the last busy-time tick (the watchdog thread's own).
  std::vector<std::uint64_t> m_tick_progress;

  mutable std::mutex m_ring_mutex;
  struct ring_entry {
    diag::stall_report report;
    unsigned worker;
    std::uint64_t seq;
  };
  std::deque<ring_entry> m_ring;     // m_ring_mutex
  std::uint64_t m_reports = 0;       // m_ring_mutex
  std::vector<ended_resume> m_ended; // m_ring_mutex: the last long resume ended, per worker

  std::mutex m_wake_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;                // m_wake_mutex
  std::atomic<bool> m_started{false}; // set once m_thread runs, named; the constructor waits
  std::thread m_thread;
};

} // namespace zokio::detail
