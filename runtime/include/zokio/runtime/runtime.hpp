#pragma once

#include <zokio/runtime/errors.hpp>
#include <zokio/runtime/options.hpp>
#include <zokio/runtime/stats.hpp>
#include <zokio/task/spawn.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace zokio {

class runtime;

namespace detail {
class runtime_impl;
/// The runtime's internals, for the library's own diagnostics (task dumps); not for programs.
runtime_impl& impl_of(const runtime& rt) noexcept;
} // namespace detail

/// What `runtime::shutdown()` found: tasks that did not unwind in time, libuv handles still open
/// (by type), and each worker's `uv_loop_close()` status.
struct shutdown_report {
  std::uint64_t tasks_left = 0;
  std::map<std::string, std::uint64_t> handles_left;
  std::vector<int> loop_close_status; ///< One per worker; 0 means closed.

  /// No task left, no handle left, every loop closed.
  bool clean() const noexcept;
  /// One line, e.g. "clean" or "2 tasks left; handles left: tcp=1; loop 0 close: EBUSY".
  std::string to_string() const;
};

/// A Zokio runtime: `workers` threads, each with its own libuv loop, ready queue, timers and
/// task records (shard per core; a task stays on the worker that spawned it).
///
/// Worker 0 is driven by the thread that calls `block_on` (or `shutdown`); the others run on
/// threads of their own from construction to shutdown. The destructor shuts down if nobody did.
class runtime {
public:
  explicit runtime(runtime_options options = {});
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;
  runtime(runtime&&) = delete;
  runtime& operator=(runtime&&) = delete;

  /// Drives worker 0 on the calling thread until `t` completes, and returns its value or
  /// rethrows its exception. Throws `nested_block_on_error` on a thread that already drives a
  /// worker, and `deadlock_error` when the runtime can provably make no more progress.
  template <typename T>
  T block_on(task<T> t, site where = site::current()) {
    begin_block_on();
    detail::root_promise<T>* rec = detail::make_root(std::move(t));
    join_handle<T> h(rec);
    detail::schedule_new(worker0(), rec, detail::block_on_name, where);
    drive_until(rec);
    return h.take_finished();
  }

  /// Spawns `t` from any thread, also one outside the runtime: on the calling worker when
  /// called from one of this runtime's workers, else on the workers in turn. Worker 0 runs only
  /// while some thread is in `block_on` or `shutdown`.
  ///
  /// Once `shutdown()` has begun, a spawn from outside the runtime throws `no_runtime_error`
  /// (the runtime takes no new work); a spawn accepted before that runs, or starts cancelled,
  /// and has finished before shutdown() returns. A task of the runtime may still spawn while it
  /// unwinds: the new task starts cancelled.
  template <typename T>
  join_handle<T> spawn(task<T> t, spawn_options opts = {}, site where = site::current()) {
    return detail::spawn_on_worker(pick_worker(), std::move(t), opts.name, where);
  }

  /// The counters, summed and per worker. Callable from any thread.
  runtime_stats stats() const;

  /// Cancels the tasks still running, lets them unwind (up to `shutdown_grace`), closes every
  /// handle, closes every loop and reports what was left. Idempotent. Not callable from inside
  /// the runtime.
  shutdown_report shutdown();

  unsigned workers() const noexcept;
  const runtime_options& options() const noexcept;

private:
  friend detail::runtime_impl& detail::impl_of(const runtime& rt) noexcept;

  void begin_block_on();
  void drive_until(detail::task_record* t);
  detail::worker_core* worker0() noexcept;
  detail::worker_core* pick_worker();

  std::unique_ptr<detail::runtime_impl> m_impl;
};

} // namespace zokio
