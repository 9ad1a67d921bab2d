#include <zokio/task/spawn_blocking.hpp>

#include "runtime/worker.hpp"

namespace zokio::detail {

namespace {

struct work_req {
  uv_work_t req;
  blocking_job* job;
  worker* owner;
};

} // namespace

// The uv_work_t is allocated here and freed in the after-work callback, the moment libuv lets go
// of it; the job (inside the awaiting frame) is told in that same callback, so the frame cannot
// be resumed, let alone destroyed, while the request is still referenced.
void queue_blocking(worker_core* w, blocking_job* job) {
  auto* wk = static_cast<worker*>(w);
  auto* r = new work_req{{}, job, wk};
  r->req.data = r;
  job->m_req = r;
  wk->m_stats.blocking_in_flight.add();
  const int rc = uv_queue_work(
      wk->loop(), &r->req,
      [](uv_work_t* req) {
        auto* r = static_cast<work_req*>(req->data);
        r->job->m_run(r->job);
      },
      [](uv_work_t* req, int status) {
        auto* r = static_cast<work_req*>(req->data);
        blocking_job* job = r->job;
        r->owner->m_stats.blocking_in_flight.sub();
        job->m_req = nullptr;
        delete r;
        job->m_done(job, status == UV_ECANCELED);
      });
  if (rc != 0) {
    wk->m_stats.blocking_in_flight.sub();
    job->m_req = nullptr;
    delete r;
    throw std::system_error(std::error_code(-rc, std::system_category()), "zokio: uv_queue_work");
  }
}

void cancel_blocking(blocking_job* job) noexcept {
  if (job->m_req != nullptr) {
    // Succeeds only while the job waits for a pool thread; the after-work callback then reports
    // UV_ECANCELED.
    uv_cancel(reinterpret_cast<uv_req_t*>(&static_cast<work_req*>(job->m_req)->req));
  }
}

} // namespace zokio::detail
