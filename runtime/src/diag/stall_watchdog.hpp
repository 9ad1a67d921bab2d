#pragma once

#include <zokio/diag/stall.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

// The stall watchdog of one runtime: a plain thread that looks at each worker's running resume
// (worker_core::m_running, m_progress, m_resume_start) and reports a resume that has run past
// the threshold, once, with the task's record and the stuck thread's backtrace.
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

private:
  struct watched_worker {
    std::uint64_t seen_seq = 0; // the resume seen running at the last look (0: none)
    std::uint64_t seen_ticks = 0;
    std::int64_t cpu0 = -1; // schedstat at the first look at seen_seq; -1: unknown
    std::int64_t wait0 = -1;
    std::uint64_t reported_seq = 0;
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
  void report(unsigned index, void* running, std::uint64_t seq, std::int64_t elapsed_ns,
              const watched_worker& seen);

  runtime_impl& m_rt;
  const std::int64_t m_threshold_ns;
  const bool m_dump_on_sigquit;
  const dump_format m_dump_format;
  std::uint64_t m_dumps_seen = 0;        // the SIGQUIT count already answered
  std::vector<watched_worker> m_watched; // the watchdog thread's own

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
  bool m_stop = false; // m_wake_mutex
  std::thread m_thread;
};

} // namespace zokio::detail
