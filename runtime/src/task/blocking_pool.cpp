#include "task/blocking_pool.hpp"

#include "runtime/worker.hpp"

#include <system_error>

#if defined(__linux__)
#include <pthread.h>
#endif

namespace zokio::detail {

blocking_pool::blocking_pool(unsigned max_threads)
    : m_max_threads(max_threads == 0 ? 1 : max_threads), m_shared(std::make_shared<shared>()) {}

blocking_pool::~blocking_pool() {
  shutdown(std::chrono::steady_clock::now());
}

void blocking_pool::submit(worker* owner, blocking_job* job) {
  auto* item = new pool_item{job, owner};
  job->m_req = item;
  shared& s = *m_shared;
  bool start = false;
  {
    std::lock_guard<std::mutex> lock(s.m_mutex);
    item->prev = s.m_tail;
    (s.m_tail != nullptr ? s.m_tail->next : s.m_head) = item;
    s.m_tail = item;
    item->queued = true;
    // Wake an idle thread that no earlier job has claimed yet, or start one; at the limit the
    // job waits for the first thread to finish.
    if (s.m_idle_threads > s.m_notified) {
      ++s.m_notified;
      s.m_work.notify_one();
    } else if (s.m_threads < m_max_threads) {
      ++s.m_threads;
      start = true;
    }
  }
  if (!start) {
    return;
  }
  try {
    std::lock_guard<std::mutex> lock(m_threads_mutex);
    m_thread_objects.emplace_back(&blocking_pool::thread_main, m_shared);
  } catch (...) {
    std::lock_guard<std::mutex> lock(s.m_mutex);
    --s.m_threads;
    if (s.m_threads == 0 && item->queued) {
      // Nobody will ever run it: take it back and fail the spawn_blocking await.
      (item->prev != nullptr ? item->prev->next : s.m_head) = item->next;
      (item->next != nullptr ? item->next->prev : s.m_tail) = item->prev;
      job->m_req = nullptr;
      delete item;
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                              "zokio: spawn_blocking could not start a thread");
    }
    // Another thread will get to it.
  }
}

void blocking_pool::cancel(blocking_job* job) noexcept {
  auto* item = static_cast<pool_item*>(job->m_req);
  if (item == nullptr) {
    return;
  }
  shared& s = *m_shared;
  {
    std::lock_guard<std::mutex> lock(s.m_mutex);
    if (!item->queued) {
      return; // a thread runs it: it is waited for
    }
    (item->prev != nullptr ? item->prev->next : s.m_head) = item->next;
    (item->next != nullptr ? item->next->prev : s.m_tail) = item->prev;
    item->queued = false;
    item->cancelled = true;
  }
  // Completed through the inbox like a job that ran, so `m_done` never runs inside withdraw().
  hand_back(item);
}

void blocking_pool::hand_back(pool_item* item) noexcept {
  // A worker torn down after its grace refuses it: the job's task was reported as left behind,
  // and only the item is ours to free.
  if (!item->owner->post(nullptr, inbox_op::blocking_done, item)) {
    delete item;
  }
}

void blocking_pool::thread_main(std::shared_ptr<shared> sp) noexcept {
#if defined(__linux__)
  pthread_setname_np(pthread_self(), "zokio-blocking");
#endif
  shared& s = *sp;
  std::unique_lock<std::mutex> lock(s.m_mutex);
  for (;;) {
    if (s.m_stopping) {
      break; // jobs still queued belong to tasks that never unwound: shutdown reports them
    }
    pool_item* item = s.m_head;
    if (item == nullptr) {
      ++s.m_idle_threads;
      s.m_work.wait(lock); // no predicate: every wake, spurious or not, settles the counts
      --s.m_idle_threads;
      if (s.m_notified > 0) {
        --s.m_notified;
      }
      continue;
    }
    s.m_head = item->next;
    (s.m_head != nullptr ? s.m_head->prev : s.m_tail) = nullptr;
    item->queued = false;
    ++s.m_busy;
    lock.unlock();
    item->job->m_run(item->job); // catches the job's exceptions itself
    hand_back(item);
    lock.lock();
    --s.m_busy;
    s.m_idle.notify_all();
  }
  --s.m_threads;
}

void blocking_pool::shutdown(std::chrono::steady_clock::time_point deadline) noexcept {
  shared& s = *m_shared;
  bool stuck = false;
  {
    std::unique_lock<std::mutex> lock(s.m_mutex);
    s.m_stopping = true;
    s.m_work.notify_all();
    stuck = !s.m_idle.wait_until(lock, deadline, [&] { return s.m_busy == 0; });
  }
  std::lock_guard<std::mutex> lock(m_threads_mutex);
  for (std::thread& t : m_thread_objects) {
    if (stuck) {
      t.detach(); // it holds the shared state; its worker is not freed (see teardown)
    } else {
      t.join();
    }
  }
  m_thread_objects.clear();
}

unsigned blocking_pool::threads() const noexcept {
  std::lock_guard<std::mutex> lock(m_shared->m_mutex);
  return m_shared->m_threads;
}

void finish_blocking(worker* w, void* arg) noexcept {
  auto* item = static_cast<pool_item*>(arg);
  blocking_job* job = item->job;
  const bool cancelled = item->cancelled;
  delete item;
  job->m_req = nullptr;
  w->m_stats.blocking_in_flight.sub();
  job->m_done(job, cancelled);
}

} // namespace zokio::detail
