#pragma once

#include "diag/stall_watchdog.hpp"
#include "runtime/owner_lock.hpp"
#include "task/blocking_pool.hpp"
#include "time/timer_driver.hpp"

#include <zokio/detail/spinlock.hpp>
#include <zokio/detail/worker_core.hpp>
#include <zokio/runtime/runtime.hpp>

#include <uv.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

// A worker: one libuv loop, its ready queue, its timers, its live task records, and its inbox.
//
// Threads and ownership:
// - The owner thread (the worker's own thread, or for worker 0 whoever is in block_on or
//   shutdown) touches the loop, the queues, the timer heap and the counters.
// - Any thread may post() to the inbox: it is guarded by m_inbox_mutex (a spinlock: its
//   sections are a push_back or a swap, and a std::mutex costs a process that has more than one
//   thread two locked instructions and two library calls a post) and followed by
//   uv_async_send, the one thread-safe libuv call, by the post that found the inbox empty. The
//   owner drains the whole inbox per callback.
// - The live list is guarded by m_live_lock (owner_biased_lock): the owner links and unlinks
//   with plain stores, task dumps from other threads read it after a membarrier().
// - m_quiet is written by the owner and read by worker 0 for deadlock detection.
// - Handle memory (async, timers) is freed only in close callbacks.

namespace zokio::detail {

class runtime_impl;
class worker;

/// The private state of an I/O object that owns a libuv handle (a TCP stream or listener, a UDP
/// socket). Its worker tracks it while the handle is open. A user may keep the public object past
/// shutdown() or the runtime's end: teardown then closes the handle the way the object would
/// (waiters failed, state freed by reference count after libuv's close callback) and reports it
/// as left open; the object, destroyed later, finds it closed and touches neither loop nor
/// worker. Owner thread only.
struct io_object {
  io_object* m_io_prev = nullptr;
  io_object* m_io_next = nullptr;
  worker* m_io_worker = nullptr; // set while tracked
  const char* m_io_type = "";
  void (*m_io_close)(io_object*) noexcept = nullptr;
};

enum class inbox_op : unsigned char { wake, spawn, cancel, cancel_all, stop, blocking_done };

struct inbox_item {
  task_record* task;
  inbox_op op;
  void* arg; // blocking_done: the pool_item of the finished job
};

class worker final : public worker_core {
public:
  worker(runtime_impl* rt, unsigned index, const runtime_options& options);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  /// Posts a message from any thread and wakes the loop. False when the worker no longer takes
  /// it: a spawn once shutdown has begun (close_intake), anything once the loop is torn down.
  /// The caller then owns what it meant to hand over (a spawn's record, a cancel's reference).
  [[nodiscard]] bool post(task_record* t, inbox_op op, void* arg = nullptr) noexcept;

  /// Owner only: a fresh task id of this worker's runtime. Ids come from the runtime's shared
  /// counter in blocks, so a spawn does not touch that cache line; they are unique, and increase
  /// with spawn order only within one spawning thread.
  std::uint64_t take_task_id(std::atomic<std::uint64_t>& shared) noexcept {
    constexpr std::uint64_t block = 256;
    if (m_id_next == m_id_end) {
      m_id_next = shared.fetch_add(block, std::memory_order_relaxed);
      m_id_end = m_id_next + block;
    }
    return m_id_next++;
  }

  /// Refuses spawns posted from now on. Every spawn posted before is still drained and run (as a
  /// cancelled task) before the worker stops: shutdown() waits for empty inboxes.
  void close_intake() noexcept;

  /// Takes a new task on the owner thread.
  void accept_new(task_record* t) noexcept;
  /// Cancels `t` on the owner thread: withdraws its pending operation and wakes it.
  void cancel_local(task_record* t) noexcept;
  void cancel_all_local() noexcept;
  void unlink_live(task_record* t) noexcept;

  /// Tracks `o`, whose handle of type `type` ("tcp", "udp", ...) was just opened on this loop;
  /// `close` closes it as its owner would. untrack_io() when the owner closes it.
  void track_io(io_object* o, const char* type, void (*close)(io_object*) noexcept) noexcept;
  static void untrack_io(io_object* o) noexcept;

  /// Drives the loop on the calling thread until `done()` holds. `idle_check` runs when the
  /// loop is about to block with nothing runnable; it may return true to stop driving.
  void run(const std::function<bool()>& done);

  /// Starts the worker's own thread (workers 1..N-1).
  void start_thread();
  void join_thread();

  /// Closes every handle, runs the loop empty and closes it. Owner thread, after all tasks.
  void teardown(shutdown_report& report, std::chrono::steady_clock::time_point deadline);

  /// Active handles and requests other than the runtime's own: external work pending.
  unsigned external_pending() const noexcept;
  bool quiet() const noexcept { return m_quiet.load(std::memory_order_acquire); }
  bool inbox_empty() noexcept;
  std::uint64_t live_count() noexcept;

  template <typename F>
  void for_each_live(F&& f) {
    m_live_lock.lock();
    for (task_record* t = m_live_head; t != nullptr; t = t->m_live_next) {
      f(t);
    }
    m_live_lock.unlock();
  }

  uv_loop_t* loop() noexcept { return &m_loop; }
  timer_driver& timers() noexcept { return m_timers; }

  /// Arms the watch timer (unref'd: it never keeps the loop alive and is not external work).
  void arm_watch(std::uint64_t ms, void (*cb)(worker*));
  void stop_watch() noexcept;
  /// The prepare and check callbacks: into or out of the poll phase (owner thread).
  void bump_polls() noexcept {
    m_polls.store(m_polls.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  std::atomic<std::uint64_t> m_handles_active{0};
  /// The kernel id of the thread driving the loop now (0: none); the stall watchdog signals it.
  std::atomic<long> m_tid{0};

private:
  void drain_inbox() noexcept;
  /// Teardown: what was posted after the last drain. Spawns never ran (reported as tasks left),
  /// cancels give back their reference, finished blocking jobs are accounted.
  void settle_leftovers(shutdown_report& report) noexcept;
  void run_ready() noexcept;
  void resume(task_record* t) noexcept;
  /// Counts a resume (number `seq`) that ran past `stall_threshold` (once per resume).
  /// First resume of a task already cancelled: finishes it without running its body (false).
  /// Otherwise true: go on and resume it.
  bool start_or_skip(task_record* t) noexcept;
  /// A resume returned with the task unfinished and not suspended in a Zokio await.
  void suspended_outside(task_record* t) noexcept;
  void note_long_resume(std::uint64_t spent_ticks, std::uint64_t seq) noexcept;

  /// Resumes shorter than this many ticks are never stalls: at most 100 µs on any clock of 1 GHz
  /// or more (and exactly 100 µs where ticks are nanoseconds), far below the smallest threshold
  /// of 1 ms. Only longer ones pay for the conversion to time.
  static constexpr std::uint64_t stall_screen_ticks = 100'000;
  void thread_main();

  unsigned m_budget;
  std::int64_t m_stall_ns; // 0: stall counting is off
  uv_loop_t m_loop;
  uv_async_t* m_async = nullptr;
  uv_timer_t* m_watch = nullptr;
  void (*m_watch_cb)(worker*) = nullptr;
  // Mark the poll phase in m_polls for the stall watchdog (null when stall watching is off).
  uv_prepare_t* m_prepare = nullptr;
  uv_check_t* m_check = nullptr;
  bool m_closed = false;
  timer_driver m_timers;

  spinlock m_inbox_mutex;
  std::vector<inbox_item> m_inbox;
  std::vector<inbox_item> m_inbox_work;
  std::atomic<bool> m_inbox_pending{false};
  bool m_async_open = false; // under m_inbox_mutex
  bool m_intake_open = true; // under m_inbox_mutex: spawns are taken
  /// Wakes dropped by post() after teardown, counted by the posting thread (m_stats has one
  /// writer, the owner); stats() adds them to lost_wakeups.
  std::atomic<std::uint64_t> m_lost_posts{0};
  // Owner only: the block of task ids this thread hands out (take_task_id).
  std::uint64_t m_id_next = 0;
  std::uint64_t m_id_end = 0;

  io_object* m_io_head = nullptr; // I/O objects with an open handle

  owner_biased_lock m_live_lock;
  task_record* m_live_head = nullptr;
  std::atomic<std::uint64_t> m_live{0}; // written by the owner under the lock, read by anyone

  std::thread m_thread;
  std::atomic<bool> m_thread_started{false}; // set once m_thread runs, named; start_thread waits
  std::atomic<bool> m_stop{false};
  std::atomic<bool> m_quiet{false};

  friend class runtime_impl;
};

/// Prints a detached task's failure to standard error (the default `on_task_error`).
void print_failure(const task_failure& f) noexcept;
/// Throws no_runtime_error: the runtime takes no new tasks from other threads.
[[noreturn]] void throw_stopping();
/// The process-wide set of live workers (see runtime.cpp).
void register_worker(const worker_core* w);
void unregister_worker(const worker_core* w) noexcept;
/// True while `w` exists. Its answer is only as fresh as the call: destroying a runtime while
/// another thread drops or cancels its handles is the caller's race.
bool worker_alive(const worker_core* w) noexcept;

/// The runtime behind zokio::runtime.
/// Whether the workers sample busy time by the clock the stall watchdog ticks: whenever it
/// watches stalls, unless testing.exact_busy_time. The workers (which then read the clock) and the
/// watchdog (which then ticks it) both ask here.
inline bool samples_busy_time(const runtime_options& o) noexcept {
  return o.stall_threshold.count() > 0 && !o.testing.exact_busy_time;
}

/// A count of time-stamp-counter ticks in nanoseconds (runtime_impl::ns_per_tick).
inline std::int64_t to_ns(std::uint64_t ticks_, double ns_per_tick) {
  return static_cast<std::int64_t>(static_cast<double>(ticks_) * ns_per_tick);
}

class runtime_impl {
public:
  explicit runtime_impl(runtime_options options);
  ~runtime_impl();

  worker& at(unsigned i) noexcept { return *m_workers[i]; }
  unsigned size() const noexcept { return static_cast<unsigned>(m_workers.size()); }

  void drive_until(task_record* t);
  shutdown_report shutdown();
  runtime_stats stats() const;
  worker_core* pick_worker();
  /// Hands a failure nobody observes to on_task_error, or to the default printer.
  void report(const task_failure& f) noexcept;
  void report_failure(task_record* t) noexcept;
  double ns_per_tick() const noexcept;
  bool owns(const worker_core* w) const noexcept;

  runtime_options m_options;
  std::vector<std::unique_ptr<worker>> m_workers;
  blocking_pool m_blocking; // spawn_blocking's threads; declared after m_workers: destroyed first
  // Written on spawns and posts from every thread: each on a cache line of its own, apart from
  // the flags every worker reads on every spawn (`perf annotate` of
  // multi_worker_spawn_many showed the id counter's locked add stalling on that line).
  alignas(64) std::atomic<std::uint64_t> m_next_id{1}; // worker threads take ids in blocks
  // Bumped by every drain that took messages from an inbox: cross-thread progress.
  alignas(64) std::atomic<std::uint64_t> m_epoch{0};
  // Written by the stall watchdog, read by every worker at its transitions.
  busy_clock m_busy_clock;
  alignas(64) std::atomic<bool> m_shutting_down{false};
  std::atomic<bool> m_in_block_on{false};
  std::atomic<unsigned> m_next_worker{0};
  std::atomic<bool> m_shut{false};
  shutdown_report m_report;
  std::uint64_t m_ticks0 = 0;
  std::int64_t m_ns0 = 0;

  // Deadlock detection state (worker 0's thread).
  std::uint64_t m_deadlock_epoch = 0;
  bool m_deadlock_armed = false;
  bool m_deadlock_found = false;

  // diag::find_deadlocks, from any thread: the cycles already counted (each a sorted list of
  // task ids; an entry goes once one of its tasks has ended) under m_cycles_mutex, and how many
  // distinct cycles were found. stats() adds m_cycles_found to worker 0's deadlocks_detected
  // (the worker counters have one writer, the worker's own thread).
  std::mutex m_cycles_mutex;
  std::vector<std::vector<std::uint64_t>> m_cycles_counted;
  std::atomic<std::uint64_t> m_cycles_found{0};

  // The stall watchdog (null when stall_threshold is 0): started last by the constructor,
  // stopped at the end of shutdown().
  std::unique_ptr<stall_watchdog> m_stall;
};

} // namespace zokio::detail
