#pragma once

// zokio-soak's shared pieces: the run's configuration (after the profile's scaling), the
// operations of the workload and their recorders, one sample, and the state the workload (on the
// runtime's workers), the sampler thread and the signal thread share.
//
// Threads: `op_recorder::record` is called from every worker; `take_window` from the sampler
// thread; each recorder's histogram is guarded by its own std::mutex. Everything else shared is
// an atomic.

#include <zokio_tools/histogram.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace zokio {
class runtime;
namespace diag {
struct stall_report;
}
namespace http {
struct server_counters;
}
} // namespace zokio

namespace zokio::soak {

using ms = std::chrono::milliseconds;

/// What the run does: the flags, and what the profile derives from them.
struct config {
  std::string profile = "full"; ///< "full" or "ci"
  ms duration{0};               ///< load phase, warm-up included; the drain comes after
  std::uint64_t seed = 1;
  double rate = 0; ///< operations per second, all kinds together (open loop)
  unsigned workers = 0;
  std::string out_dir;
  std::string json_path;
  std::string inject; ///< "", "leak", "fd-leak", "stall", "slowdown" or "hang"
  /// Storms spawned from worker 0 onto every worker (hidden flag --cross-worker-storms): shows
  /// the frame caches' growth (README.md, "What a run found").
  bool cross_worker_storms = false;
  /// --resume DIR: the run continues from DIR/checkpoint.json (out_dir is DIR).
  std::string resume_dir;
  /// The whole run's load duration; `duration` is this segment's (the remainder on a resume).
  ms total_duration{0};
  unsigned segment = 0;     ///< 0 for a fresh run, then 1, 2, ... for each resume
  double t_offset_s = 0;    ///< sample time where this segment starts (the last sample before)
  double load_offset_s = 0; ///< load time the earlier segments ran
  // Scaled by the profile.
  ms sample_interval{10000};
  ms warmup{0};
  ms storm_period{60000};
  unsigned storm_tasks = 10000;
  ms drift_window{300000};
  ms burst_period{3600000}; ///< a burst at 3x the rate every period (soak.md: once an hour)...
  ms burst_length{300000};  ///< ...lasting this long (5 minutes); one more in the warm-up
  ms hang_limit{60000};     ///< the watchdog's silence limit
  ms stall_limit{2000};     ///< a worker loop late by this much is not beating the watchdog
  ms drain_limit{30000};    ///< the most the final drain may take
  unsigned ka_clients = 16; ///< keep-alive HTTP clients per worker
  unsigned churn_max = 32;  ///< concurrent connection-churn requests per worker
  unsigned echo_conns = 4;  ///< TCP echo connections per worker
  std::size_t max_in_flight = 4000; ///< over it, a scheduled operation is shed (an error)
};

/// The kinds of operation, each with its own counters and latency histograms.
enum class op : unsigned {
  get_hello,
  get_status,
  post_echo,
  get_404,
  tcp_echo,
  sleep,
  timeout_fire,
  timeout_cancel,
  channel,
  mutex,
  semaphore,
  file,
  blocking,
  storm,
  count_
};
constexpr std::size_t op_count = static_cast<std::size_t>(op::count_);
const char* op_name(op o) noexcept;
inline op op_at(std::size_t i) noexcept {
  return static_cast<op>(i);
}

/// One operation kind's counters and its current window's latency histogram.
///
/// The counters move with the histogram, under the same lock, so that a window taken with
/// `take_window` and the counters it reports agree exactly: the completions in a sample's window
/// are the growth of ok + errors since the last one (the conservation a resumed run's checkpoint
/// relies on).
struct op_recorder {
  std::mutex m_mutex;
  zokio::tools::log_histogram m_window;   // guarded by m_mutex
  std::atomic<std::uint64_t> m_ok{0};     // written under m_mutex; read anywhere
  std::atomic<std::uint64_t> m_errors{0}; // likewise

  /// `latency_ns` from the operation's intended start (open loop) to its end.
  void record(std::uint64_t latency_ns, bool ok) {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_window.record(latency_ns);
    (ok ? m_ok : m_errors).fetch_add(1, std::memory_order_relaxed);
  }
  /// Moves the window's histogram into `out` (reset first) and starts a new window; `ok` and
  /// `errors` get the cumulative counters as of the window's end.
  void take_window(zokio::tools::log_histogram& out, std::uint64_t& ok, std::uint64_t& errors) {
    out.reset();
    std::lock_guard<std::mutex> lock(m_mutex);
    out.merge(m_window);
    m_window.reset();
    ok = m_ok.load(std::memory_order_relaxed);
    errors = m_errors.load(std::memory_order_relaxed);
  }
};

/// One operation kind in one sample window.
struct op_window {
  std::uint64_t n = 0;      ///< completed in the window
  std::uint64_t errors = 0; ///< of which failed
  std::uint64_t p50_ns = 0, p90_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;
};

/// One sample: fixed size, so that the samples of a whole run are reserved up front and storing
/// them never shows up as the tool's own memory growth.
struct sample {
  double t_s = 0;       ///< since the load started (earlier segments' time included)
  unsigned segment = 0; ///< the process (0, then 1 after the first --resume, ...)
  /// The first sample of a resumed segment: what ended the one before (1 killed, 2 interrupted).
  int restart = 0;
  bool warm = false;  ///< after the warm-up
  int phase = 0;      ///< 0 warm-up, 1 steady, 2 drain
  bool burst = false; ///< the window overlapped a 3x burst: not judged (soak.md section 3)
  std::uint64_t rss_bytes = 0;
  std::uint64_t heap_live_bytes = 0; ///< mallinfo2(): uordblks + hblkhd
  /// The runtime's coroutine-frame pool: slab bytes taken so far (never given back; it grows
  /// only when more frames are live at once than ever before). Its first MiB per thread comes
  /// from operator new, so it is part of the live bytes too.
  std::uint64_t frame_pool_bytes = 0;
  double cpu_s = 0; ///< user + system, the whole process
  std::uint64_t fds = 0;
  std::uint64_t threads = 0;
  std::uint64_t tasks_live = 0;
  std::uint64_t tasks_spawned = 0;
  std::uint64_t handles_active = 0;
  std::uint64_t timers_pending = 0;
  std::uint64_t blocking_in_flight = 0;
  std::uint64_t connections_open = 0; ///< the HTTP server's
  std::uint64_t in_flight = 0;        ///< workload operations started and not finished
  std::uint64_t stalls = 0;           ///< runtime_stats::stalls, cumulative
  /// The runtime's stall reports after the warm-up and before the drain, cumulative, by what the
  /// loop thread did during the stall (stall_class).
  std::uint64_t stalls_on_cpu = 0, stalls_blocked = 0, stalls_preempted = 0,
                stalls_undetermined = 0;
  std::uint64_t deadlocks = 0; ///< cycles find_deadlocks reported, cumulative
  std::uint64_t lost_wakeups = 0;
  std::uint64_t max_loop_lag_ms = 0; ///< the worst worker heartbeat lateness in the window
  /// The worst lateness less the worker thread's run-queue wait (shared_state::max_own_lag_ns).
  std::uint64_t max_loop_lag_own_ms = 0;
  std::array<op_window, op_count> ops{};
};

/// What the workload reports after its final drain.
struct drain_report {
  bool reached = false;        ///< every operation finished within the drain limit
  double drain_s = 0;          ///< how long the drain took
  std::uint64_t in_flight = 0; ///< operations still running at its end
  std::uint64_t tasks_live_before = 0, tasks_live_after = 0;
  std::uint64_t handles_before = 0, handles_after = 0;
  std::uint64_t fds_before = 0, fds_after = 0;
  std::uint64_t server_open_after = 0;
  std::uint64_t server_accepted = 0;
  std::uint64_t client_connects = 0; ///< connections the clients opened (keep-alive + churn)
  std::uint64_t echo_accepted = 0, echo_closed = 0;
};

/// Shared between the workload, the sampler thread and the signal thread.
struct shared_state {
  explicit shared_state(const config& c) : cfg(c) {}
  const config& cfg;
  std::array<op_recorder, op_count> ops;
  std::atomic<std::uint64_t> echo_mismatches{0}; ///< bodies that came back different
  std::atomic<std::uint64_t> shed{0};            ///< scheduled operations dropped (overload)
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> client_connects{0};
  std::atomic<std::uint64_t> echo_accepted{0};
  std::atomic<std::uint64_t> echo_closed{0};
  std::atomic<std::uint64_t> injected_leak_bytes{0};
  std::atomic<bool> stop{false};      ///< SIGINT/SIGTERM: stop the load and drain now
  std::atomic<bool> load_done{false}; ///< the load phase ended (drain started)
  std::atomic<int> phase{0};
  std::atomic<const zokio::http::server_counters*> server{nullptr};
  std::chrono::steady_clock::time_point load_start{};
  std::atomic<bool> started{false};
  /// Each worker's last heartbeat (steady clock, ns) and the worst lateness seen since the
  /// sampler last read it. heartbeat_stopped once the heartbeat has ended (the teardown): no
  /// tick is missing then.
  std::array<std::atomic<std::int64_t>, 64> heartbeat_ns{};
  static constexpr std::int64_t heartbeat_stopped = INT64_MAX;
  std::atomic<std::uint64_t> max_lag_ns{0};
  /// The same lateness less the time the worker's thread waited for a CPU meanwhile (its
  /// run-queue wait, /proc/thread-self/schedstat): the part that is the loop's own doing. Each
  /// worker's thread id and run-queue wait at its last heartbeat, for a tick still missing.
  std::atomic<std::uint64_t> max_own_lag_ns{0};
  std::array<std::atomic<int>, 64> heartbeat_tid{};
  std::array<std::atomic<std::int64_t>, 64> heartbeat_runq_ns{};
  mutable std::mutex report_mutex;
  std::optional<drain_report> drain; // guarded by report_mutex
  /// The runtime's stall reports (runtime_options::on_stall) after the warm-up and before the
  /// drain, by stall_class; the first one that is the loop's own doing, formatted.
  std::array<std::atomic<std::uint64_t>, 4> stall_classes{};
  std::atomic<std::uint64_t> stall_spin_sink{0}; ///< --inject stall's spin result (kept)
  std::string stall_evidence;                    // guarded by report_mutex
};

/// What a worker's thread did during a stall (a resume past the runtime's stall threshold, by
/// wall time), from the stall report's per-thread accounting (/proc/self/task/TID/schedstat):
/// on a CPU (the task computed), blocked in the kernel (a synchronous call on the loop), or
/// preempted (it waited for a CPU most of the time: a loaded machine, not the task). Undetermined:
/// the watchdog saw none of it before reporting and the thread was runnable.
enum class stall_class : unsigned { on_cpu, blocked, preempted, undetermined };

/// Counts one stall report in `s.stall_classes` when it falls after the warm-up and before the
/// drain. Called from the runtime's stall watchdog thread.
void record_stall(shared_state& s, const zokio::diag::stall_report& r);

/// Whether `since_start` (from the load's start) falls in a 3x burst: one in the warm-up (from a
/// quarter of it, for at most half of it, so that the pools reach a burst's high water before
/// the samples are judged), then one every burst period.
inline bool in_burst(const config& c, std::chrono::steady_clock::duration since_start) {
  const auto first = std::chrono::duration_cast<std::chrono::steady_clock::duration>(c.warmup / 4);
  const auto first_len = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::min(c.burst_length, c.warmup / 2));
  if (since_start >= first && since_start < first + first_len) {
    return true;
  }
  const auto period =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(c.burst_period);
  if (since_start < period) {
    return false;
  }
  return since_start % period < c.burst_length;
}

/// The warm-up's catch-up: in the middle of the warm-up burst every scheduler holds its
/// operations back for this long, then issues all that came due at once (each keeping its
/// intended start), as the open loop does after a loop hiccup. The live bytes follow the highest
/// concurrency the process has seen (the runtime's frame pool and other caches keep their high
/// water), and on a shared machine a hiccup of tens of milliseconds during a 3x burst raised it
/// after the warm-up, a one-time step of the live bytes of 0.1 to 0.4 MiB that the
/// late-over-early ratio of a 2-minute run took for growth (README.md, "Criteria",
/// heap_late_over_early). The catch-up makes the warm-up reach that high water first; a longer
/// stall can still raise it, and shows as loop lag.
constexpr ms warmup_catchup{100};

/// When the warm-up's catch-up starts, from the load's start: the middle of the warm-up burst.
inline ms warmup_catchup_at(const config& c) {
  return c.warmup / 4 + std::min(c.burst_length, c.warmup / 2) / 2;
}

/// The runtime's blocking-pool threads: the most blocking jobs the workload runs at a time.
constexpr unsigned blocking_threads = 4;

/// Runs the whole workload on `rt` (called through block_on on worker 0): servers, load, spawn
/// storms, final drain. Returns normally also when interrupted (`stop`).
void run_workload(zokio::runtime& rt, shared_state& s);

/// A thread's time waiting for a CPU so far (ns), from /proc/self/task/TID/schedstat (tid 0:
/// the calling thread); -1 when /proc does not tell.
std::int64_t thread_runqueue_ns(int tid);

/// Process facts read from /proc and the allocator.
std::uint64_t read_rss_bytes();
std::uint64_t read_heap_live_bytes();
std::uint64_t count_fds();
std::uint64_t count_threads();
double cpu_seconds();

} // namespace zokio::soak
