#pragma once

#include <zokio/task/spawn_blocking.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

// The thread pool of spawn_blocking, apart from libuv's. libuv's pool (UV_THREADPOOL_SIZE, 4
// threads by default, process-wide) runs the file system requests and DNS lookups; if long
// blocking jobs shared it, a few of them would hold every file read of the process back.
//
// Ownership and threads:
// - One pool per runtime, owned by runtime_impl. Threads start on demand, up to `max_threads`,
//   and stay until shutdown.
// - `submit` and `cancel` run on the owner thread of the job's worker; pool threads take jobs
//   from the queue. The queue, the counts and `m_stopping` are guarded by `m_mutex`.
// - A finished (or cancelled) job is handed back to its worker through the worker's inbox
//   (inbox_op::blocking_done), and `finish_blocking` runs it there: the job's `m_done`, like
//   libuv's after-work callback, always runs on the worker's loop thread.
// - The shared state is reference counted by the pool and by every thread, so a thread still
//   stuck in a job when shutdown gives up on it (and detaches it) never touches freed memory.

namespace zokio::detail {

class worker;

/// A job in the pool: `blocking_job::m_req` points here while the pool holds the job.
struct pool_item {
  blocking_job* job = nullptr;
  worker* owner = nullptr;
  pool_item* next = nullptr;
  pool_item* prev = nullptr;
  bool queued = false;
  bool cancelled = false;
};

class blocking_pool {
public:
  explicit blocking_pool(unsigned max_threads);
  ~blocking_pool();
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  /// Queues `job` for `owner` (owner thread). Throws std::system_error when no thread can be
  /// started to run it.
  void submit(worker* owner, blocking_job* job);
  /// Drops `job` if no thread has taken it yet; it then completes as cancelled (owner thread).
  void cancel(blocking_job* job) noexcept;
  /// Stops the pool: idle threads end and are joined; threads still running a job at
  /// `deadline` are detached (their workers are then left unfreed). Idempotent.
  void shutdown(std::chrono::steady_clock::time_point deadline) noexcept;

  unsigned threads() const noexcept;

private:
  struct shared {
    std::mutex m_mutex;
    std::condition_variable m_work; // a job was queued, or the pool stops
    std::condition_variable m_idle; // a job finished (shutdown waits for the busy ones)
    pool_item* m_head = nullptr;
    pool_item* m_tail = nullptr;
    unsigned m_threads = 0;
    unsigned m_idle_threads = 0; // waiting in m_work
    unsigned m_notified = 0;     // notifications sent to idle threads and not yet taken
    unsigned m_busy = 0;
    bool m_stopping = false;
  };
  static void thread_main(std::shared_ptr<shared> s) noexcept;
  /// Posts a finished (or withdrawn) job back to its worker, or frees it if the worker is gone.
  static void hand_back(pool_item* item) noexcept;

  const unsigned m_max_threads;
  std::shared_ptr<shared> m_shared;
  std::vector<std::thread> m_thread_objects; // owner: whoever submits (a worker's loop thread)
  std::mutex m_threads_mutex;                // submits come from every worker
};

/// Runs on `w`'s loop thread when the inbox delivers a finished or cancelled job.
void finish_blocking(worker* w, void* item) noexcept;

} // namespace zokio::detail
