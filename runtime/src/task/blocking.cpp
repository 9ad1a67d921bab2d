#include <zokio/task/spawn_blocking.hpp>

#include "runtime/worker.hpp"
#include "task/blocking_pool.hpp"

namespace zokio::detail {

// Jobs run on the runtime's blocking pool (task/blocking_pool.cpp), not on libuv's: libuv's few
// threads are kept for file system requests and DNS. The pool hands a finished job back through
// the worker's inbox, and finish_blocking runs `m_done` on the loop thread, so the frame is
// resumed (let alone destroyed) only after the pool has let go of the job.
void queue_blocking(worker_core* w, blocking_job* job) {
  auto* wk = static_cast<worker*>(w);
  wk->m_rt->m_blocking.submit(wk, job);
  wk->m_stats.blocking_in_flight.add();
}

void cancel_blocking(blocking_job* job) noexcept {
  // Succeeds only while the job waits for a thread; it then completes as cancelled.
  if (job->m_req != nullptr) {
    static_cast<pool_item*>(job->m_req)->owner->m_rt->m_blocking.cancel(job);
  }
}

} // namespace zokio::detail
