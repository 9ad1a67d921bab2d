#include "runtime/worker.hpp"

#include <zokio/detail/awaiter.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace zokio::detail {

namespace {

void fatal(const char* what, int err) {
  std::fprintf(stderr, "zokio: %s: %s\n", what, uv_strerror(err));
  std::abort();
}

} // namespace

worker::worker(runtime_impl* rt, unsigned index, const runtime_options& options)
    : m_budget(options.ready_budget == 0 ? 1 : options.ready_budget),
      m_stall_ns(saturating_ns(options.stall_threshold)) {
  m_index = index;
  m_rt = rt;
  m_force_async = options.force_async;
  m_inject_inline = options.testing.inline_awaits;
  if (samples_busy_time(options)) {
    m_clock = &rt->m_busy_clock; // the runtime then has a stall watchdog, which ticks it
  }
  if (int r = uv_loop_init(&m_loop); r != 0) {
    fatal("uv_loop_init", r);
  }
  m_loop.data = this;
  m_async = new uv_async_t;
  if (int r =
          uv_async_init(&m_loop, m_async,
                        [](uv_async_t* a) { static_cast<worker*>(a->loop->data)->drain_inbox(); });
      r != 0) {
    fatal("uv_async_init", r);
  }
  m_async_open = true;
  m_watch = new uv_timer_t;
  uv_timer_init(&m_loop, m_watch);
  m_watch->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(m_watch));
  m_timers.init(&m_loop, this);
  if (m_stall_ns > 0) {
    // Unreferenced: they never keep the loop alive, and are not external work. No clock read:
    // one plain load and store a loop phase.
    m_prepare = new uv_prepare_t;
    uv_prepare_init(&m_loop, m_prepare);
    uv_prepare_start(m_prepare,
                     [](uv_prepare_t* h) { static_cast<worker*>(h->loop->data)->bump_polls(); });
    uv_unref(reinterpret_cast<uv_handle_t*>(m_prepare));
    m_check = new uv_check_t;
    uv_check_init(&m_loop, m_check);
    uv_check_start(m_check,
                   [](uv_check_t* h) { static_cast<worker*>(h->loop->data)->bump_polls(); });
    uv_unref(reinterpret_cast<uv_handle_t*>(m_check));
  }
  register_worker(this);
}

worker::~worker() {
  unregister_worker(this);
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

void worker_core::wake_busy_clock() noexcept {
  if (const auto& stall = static_cast<worker*>(this)->m_rt->m_stall) {
    stall->wake();
  }
}

void worker_core::remote_wake(task_record* t) noexcept {
  (void)static_cast<worker*>(this)->post(t, inbox_op::wake); // a refused wake is counted lost
}

bool worker::post(task_record* t, inbox_op op, void* arg) noexcept {
  std::lock_guard<spinlock> lock(m_inbox_mutex);
  // Refused: the worker is torn down (a wake from a thread the runtime does not know about,
  // after shutdown: its task was reported as left), a spawn once shutdown has begun, or a
  // message that cannot be queued for want of memory.
  bool taken = m_async_open && (op != inbox_op::spawn || m_intake_open);
  const bool was_empty = m_inbox.empty();
  if (taken) {
    try {
      m_inbox.push_back({t, op, arg});
    } catch (...) {
      taken = false;
    }
  }
  if (!taken) {
    if (op == inbox_op::wake) {
      m_lost_posts.fetch_add(1, std::memory_order_relaxed);
    }
    return false;
  }
  m_inbox_pending.store(true, std::memory_order_release);
  // The post that found the inbox empty woke the loop (inside this lock, so before we took it),
  // and the drain that takes its message has not swapped yet: it takes this one too. A post onto
  // a busy worker's inbox is a push and no more. (The deadlock detector's epoch moves at the
  // drain: every post is either drained after it or still in an inbox when the detector looks.)
  if (was_empty) {
    uv_async_send(m_async);
  }
  return true;
}

void worker::close_intake() noexcept {
  std::lock_guard<spinlock> lock(m_inbox_mutex);
  m_intake_open = false;
}

bool worker::inbox_empty() noexcept {
  std::lock_guard<spinlock> lock(m_inbox_mutex);
  return m_inbox.empty();
}

void worker::drain_inbox() noexcept {
  {
    std::lock_guard<spinlock> lock(m_inbox_mutex);
    m_inbox_work.swap(m_inbox);
    m_inbox_pending.store(false, std::memory_order_relaxed);
  }
  if (!m_inbox_work.empty()) {
    m_rt->m_epoch.fetch_add(1, std::memory_order_acq_rel); // cross-thread progress: see post()
  }
  for (const inbox_item& item : m_inbox_work) {
    task_record* t = item.task;
    switch (item.op) {
    case inbox_op::wake:
      m_stats.resumes_cross_thread.add();
      t->m_state.store(task_state::scheduled, std::memory_order_relaxed);
      m_ready.push(t);
      break;
    case inbox_op::spawn:
      accept_new(t);
      break;
    case inbox_op::cancel:
      if (!t->done()) {
        cancel_local(t);
      }
      t->release();
      break;
    case inbox_op::cancel_all:
      cancel_all_local();
      break;
    case inbox_op::stop:
      m_stop.store(true, std::memory_order_release);
      break;
    case inbox_op::blocking_done:
      finish_blocking(this, item.arg);
      break;
    }
  }
  m_inbox_work.clear();
  m_progress.store(m_progress.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void worker::settle_leftovers(shutdown_report& report) noexcept {
  // m_async_open is false: nothing is added any more, the lock only orders us after the last
  // post().
  {
    std::lock_guard<spinlock> lock(m_inbox_mutex);
    m_inbox_work.swap(m_inbox);
    m_inbox_pending.store(false, std::memory_order_relaxed);
  }
  for (const inbox_item& item : m_inbox_work) {
    switch (item.op) {
    case inbox_op::spawn:
      // Posted before the intake closed but never drained (the grace ran out first): it never
      // ran and never will. Its handle may still be dropped safely; the report says it is left.
      ++report.tasks_left;
      item.task->release();
      break;
    case inbox_op::cancel:
      item.task->release();
      break;
    case inbox_op::blocking_done:
      finish_blocking(this, item.arg);
      break;
    case inbox_op::wake:
      m_stats.lost_wakeups.add(); // its task is live, so already counted as left
      break;
    case inbox_op::cancel_all:
    case inbox_op::stop:
      break;
    }
  }
  m_inbox_work.clear();
}

void worker::track_io(io_object* o, const char* type, void (*close)(io_object*) noexcept) noexcept {
  o->m_io_worker = this;
  o->m_io_type = type;
  o->m_io_close = close;
  o->m_io_prev = nullptr;
  o->m_io_next = m_io_head;
  if (m_io_head != nullptr) {
    m_io_head->m_io_prev = o;
  }
  m_io_head = o;
}

void worker::untrack_io(io_object* o) noexcept {
  worker* w = o->m_io_worker;
  if (w == nullptr) {
    return;
  }
  (o->m_io_prev != nullptr ? o->m_io_prev->m_io_next : w->m_io_head) = o->m_io_next;
  if (o->m_io_next != nullptr) {
    o->m_io_next->m_io_prev = o->m_io_prev;
  }
  o->m_io_prev = o->m_io_next = nullptr;
  o->m_io_worker = nullptr;
}

void worker::accept_new(task_record* t) noexcept {
  m_live_lock.owner_lock();
  t->m_live_prev = nullptr;
  t->m_live_next = m_live_head;
  if (m_live_head != nullptr) {
    m_live_head->m_live_prev = t;
  }
  m_live_head = t;
  m_live.store(m_live.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  m_live_lock.owner_unlock();
  m_stats.tasks_spawned.add();
  m_stats.tasks_live.add();
  if (m_rt->m_shutting_down.load(std::memory_order_relaxed)) {
    t->m_cancel_requested.store(true, std::memory_order_relaxed);
  }
  t->m_state.store(task_state::scheduled, std::memory_order_relaxed);
  m_ready.push(t);
}

void worker::unlink_live(task_record* t) noexcept {
  m_live_lock.owner_lock();
  if (t->m_live_prev != nullptr) {
    t->m_live_prev->m_live_next = t->m_live_next;
  } else {
    m_live_head = t->m_live_next;
  }
  if (t->m_live_next != nullptr) {
    t->m_live_next->m_live_prev = t->m_live_prev;
  }
  t->m_live_prev = t->m_live_next = nullptr;
  m_live.store(m_live.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  m_live_lock.owner_unlock();
  m_stats.tasks_live.sub();
}

std::uint64_t worker::live_count() noexcept {
  return m_live.load(std::memory_order_relaxed); // no lock: shutdown polls it in a loop
}

void worker::cancel_local(task_record* t) noexcept {
  t->m_cancel_requested.store(true, std::memory_order_relaxed);
  if (t->m_state.load(std::memory_order_relaxed) != task_state::suspended) {
    return; // running or queued: its next await fails
  }
  awaiter_base* a = t->m_awaiter;
  if (a != nullptr && a->m_withdraw(a) && a->claim()) {
    a->m_cancelled = true;
    local_wake(t);
  }
}

void worker::cancel_all_local() noexcept {
  // Collect first: cancelling wakes tasks, but nothing runs until this returns.
  std::vector<task_record*> all;
  for_each_live([&](task_record* t) { all.push_back(t); });
  for (task_record* t : all) {
    cancel_local(t);
  }
}

void worker::resume(task_record* t) noexcept {
  t_current = t;
  m_in_task = true;
  t->m_awaiter = nullptr;
  note_running(t);
  // Single writer: plain load and store, no locked instruction on the hot path.
  t->m_resumes.store(t->m_resumes.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // For the stall watchdog: which resume runs (release: after m_resume_start), and whose.
  const std::uint64_t seq = m_progress.load(std::memory_order_relaxed) + 1;
  m_progress.store(seq, std::memory_order_release);
  m_running.store(t, std::memory_order_release);
  const std::uint64_t started = m_resume_start.load(std::memory_order_relaxed);
  if (start_or_skip(t)) [[likely]] {
    // The running task's reference keeps `t` alive through the resume, and only this thread
    // resumes it or frees its body.
    t->m_resume.resume();
    if (t->m_body.done()) {
      t->m_ops->complete(t); // the body finished: its outcome into the record, its frame freed
      finish_task(t);        // `t` may be freed once this returns
    } else if (t->m_state.load(std::memory_order_relaxed) == task_state::running) [[unlikely]] {
      suspended_outside(t);
    }
  }
  m_running.store(nullptr, std::memory_order_relaxed);
  m_in_task = false;
  t_current = nullptr;
  // The task charged its busy time when it suspended or finished, which moved m_resume_start to
  // that moment: the difference is how long this resume ran, with no extra clock read.
  if (const std::uint64_t spent = m_resume_start.load(std::memory_order_relaxed) - started;
      spent > stall_screen_ticks) [[unlikely]] {
    note_long_resume(spent, seq);
  }
}

bool worker::start_or_skip(task_record* t) noexcept {
  // A task cancelled before its first resume never runs its body: it finishes cancelled, as if
  // its first statement had been an await that saw the cancellation.
  if (t->m_resumes.load(std::memory_order_relaxed) != 1 ||
      !t->m_cancel_requested.load(std::memory_order_relaxed)) {
    return true;
  }
  t->m_cancel_seen = true;
  t->m_outcome = task_outcome::cancelled;
  t->m_ops->complete(t); // the body never started: only its frame goes
  finish_task(t);
  return false;
}

void worker::suspended_outside(task_record* t) noexcept {
  // Every suspension the runtime can end goes through counted_awaiter (state suspended) or a
  // wake (state scheduled); a task still "running" after its resume returned, unfinished, was
  // suspended by something else: a co_await of an awaitable that is not Zokio's, or a coroutine
  // the compiler got wrong (README, "Compilers"). Nothing will resume it: it is a lost wake-up,
  // said at once instead of a hang. Its state stays "running" and its last await site stays,
  // which is how diag::find_lost_wakeups knows it (a record running while its worker runs
  // something else).
  charge_busy(t);
  m_stats.lost_wakeups.add();
  const std::string_view name = t->m_name.view();
  std::fprintf(stderr,
               "zokio: task %llu%s%.*s%s (spawned at %s:%u) suspended outside the runtime: its "
               "resume returned unfinished without a Zokio await, so nothing will resume it (a "
               "co_await of an awaitable that is not Zokio's, or GCC 12's miscompiled co_await "
               "in a condition: README, \"Compilers\")\n",
               static_cast<unsigned long long>(t->m_id), name.empty() ? "" : " '",
               static_cast<int>(name.size()), name.data(), name.empty() ? "" : "'",
               t->m_spawn_site.file, static_cast<unsigned>(t->m_spawn_site.line));
}

void worker::note_long_resume(std::uint64_t spent_ticks, std::uint64_t seq) noexcept {
  const double ns = static_cast<double>(spent_ticks) * m_rt->ns_per_tick();
  if (m_stall_ns > 0 && ns >= static_cast<double>(m_stall_ns)) {
    // The stall watchdog counts callback stalls here too: an atomic add (a cold path).
    m_stats.stalls.m_v.fetch_add(1, std::memory_order_relaxed);
    if (m_rt->m_stall) {
      m_rt->m_stall->resume_ended(m_index, seq, static_cast<std::int64_t>(ns));
    }
  }
}

void worker::run_ready() noexcept {
  if (m_clock != nullptr) {
    see_busy_clock(m_clock->tick.load(std::memory_order_acquire));
  }
  m_resume_start.store(ticks(), std::memory_order_relaxed);
  for (unsigned n = 0; n < m_budget; ++n) {
    task_record* t = m_ready.pop();
    if (t == nullptr) {
      return;
    }
    resume(t);
  }
}

unsigned worker::external_pending() const noexcept {
  // The async handle is referenced (it lets the loop block waiting for other threads) and is
  // the runtime's own; the watch timer is unreferenced and so never counted.
  const unsigned own = m_async_open ? 1u : 0u;
  const unsigned handles = m_loop.active_handles > own ? m_loop.active_handles - own : 0u;
  // spawn_blocking jobs run on the runtime's own pool, invisible to libuv: count them here, so
  // a task waiting for one is never taken for a deadlock.
  return handles + m_loop.active_reqs.count +
         static_cast<unsigned>(m_stats.blocking_in_flight.get());
}

void worker::run(const std::function<bool()>& done) {
  worker_core* const prev = t_worker;
  t_worker = this;
  const long prev_tid = m_tid.exchange(static_cast<long>(::syscall(SYS_gettid)));
  for (;;) {
    if (m_inbox_pending.load(std::memory_order_acquire)) {
      drain_inbox();
    }
    run_ready();
    if (done()) {
      break;
    }
    const bool idle =
        m_ready.empty() && m_deferred.empty() && !m_inbox_pending.load(std::memory_order_acquire);
    if (idle) {
      m_timers.settle(); // no wake for a timer left armed with nothing due
      m_quiet.store(external_pending() == 0, std::memory_order_release);
      if (m_index == 0 && m_rt->m_options.deadlock_grace.count() > 0 && !m_rt->m_deadlock_armed &&
          m_rt->m_in_block_on.load(std::memory_order_relaxed)) {
        m_rt->m_deadlock_armed = true;
        m_rt->m_deadlock_epoch = m_rt->m_epoch.load(std::memory_order_acquire);
        arm_watch(static_cast<std::uint64_t>(m_rt->m_options.deadlock_grace.count()),
                  [](worker* w) {
                    runtime_impl* rt = w->m_rt;
                    rt->m_deadlock_armed = false;
                    const bool still =
                        w->m_ready.empty() && w->m_deferred.empty() && w->external_pending() == 0;
                    bool all = still &&
                               rt->m_epoch.load(std::memory_order_acquire) == rt->m_deadlock_epoch;
                    for (unsigned i = 1; all && i < rt->size(); ++i) {
                      all = rt->at(i).quiet() && rt->at(i).inbox_empty();
                    }
                    if (all && w->inbox_empty()) {
                      rt->m_deadlock_found = true;
                    }
                  });
      }
    }
    uv_run(&m_loop, idle ? UV_RUN_ONCE : UV_RUN_NOWAIT);
    m_quiet.store(false, std::memory_order_release);
    m_stats.loop_iterations.add();
    m_handles_active.store(external_pending(), std::memory_order_relaxed);
    if (!m_deferred.empty()) {
      m_ready.splice(m_deferred); // deferred wakes: delivered a loop turn later
    }
    if (m_index == 0 && m_rt->m_deadlock_found) {
      break;
    }
  }
  m_tid.store(prev_tid);
  t_worker = prev;
}

void worker::arm_watch(std::uint64_t ms, void (*cb)(worker*)) {
  m_watch_cb = cb;
  uv_timer_start(
      m_watch,
      [](uv_timer_t* h) {
        auto* w = static_cast<worker*>(h->data);
        w->m_watch_cb(w);
      },
      ms, 0);
}

void worker::stop_watch() noexcept {
  uv_timer_stop(m_watch);
}

// Returns once the thread runs: the runtime a constructor returns has all its threads, and none
// first runs later, when the program may have no descriptor left. (A thread's first run is where
// UBSan checks its std::thread state's dynamic type, through a pipe; with no descriptor for the
// pipe it reports a valid state as "invalid vptr", as make test's asan pass once did.)
void worker::start_thread() {
  m_thread = std::thread([this] { thread_main(); });
  m_thread_started.wait(false, std::memory_order_acquire);
}

void worker::join_thread() {
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

void worker::thread_main() {
#if defined(__linux__)
  // "<name>-<index>", as runtime_options::name promises; Linux allows 15 characters.
  std::string thread_name = m_rt->m_options.name;
  const std::string suffix = "-" + std::to_string(m_index);
  thread_name.resize(std::min<std::size_t>(thread_name.size(), 15 - suffix.size()));
  thread_name += suffix;
  pthread_setname_np(pthread_self(), thread_name.c_str());
#endif
  m_thread_started.store(true, std::memory_order_release);
  m_thread_started.notify_one();
  run([this] { return m_stop.load(std::memory_order_acquire); });
}

void worker::teardown(shutdown_report& report, std::chrono::steady_clock::time_point deadline) {
  worker_core* const prev = t_worker;
  t_worker = this;
  // Tasks that did not unwind keep their frames: destroying a suspended frame could free memory
  // a libuv request or another worker still points to. They are reported instead.
  report.tasks_left += live_count();
  {
    std::lock_guard<spinlock> lock(m_inbox_mutex);
    m_async_open = false;
  }
  settle_leftovers(report);
  uv_close(reinterpret_cast<uv_handle_t*>(m_async),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(m_watch),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  if (m_prepare != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(m_prepare),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
    uv_close(reinterpret_cast<uv_handle_t*>(m_check),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
    m_prepare = nullptr;
    m_check = nullptr;
  }
  m_timers.close();
  // I/O objects whose owners kept them open: a leak, reported by type, and closed the way the
  // owner would close it, so that destroying the owner later is safe (io_object).
  while (io_object* o = m_io_head) {
    ++report.handles_left[o->m_io_type];
    o->m_io_close(o); // untracks it
    if (m_io_head == o) {
      untrack_io(o); // a close that forgot: never loop for ever
    }
  }
  // Anything else still open is a leak: report it by type, then close it so the loop can close.
  uv_walk(
      &m_loop,
      [](uv_handle_t* h, void* arg) {
        if (uv_is_closing(h) == 0) {
          auto& left = *static_cast<shutdown_report*>(arg);
          ++left.handles_left[uv_handle_type_name(h->type)];
          uv_close(h, nullptr);
        }
      },
      &report);
  // Requests in flight (a blocking job still running) keep the loop alive; wait for them only
  // until the deadline.
  while (uv_run(&m_loop, UV_RUN_NOWAIT) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int status = uv_loop_close(&m_loop);
  report.loop_close_status[m_index] = status;
  m_handles_active.store(status == 0 ? 0 : external_pending(), std::memory_order_relaxed);
  // A blocking job still running (its task never unwound) will post to this worker when it
  // ends: the worker must then outlive the runtime (see ~runtime_impl).
  m_closed = status == 0 && m_stats.blocking_in_flight.get() == 0;
  t_worker = prev;
}

} // namespace zokio::detail
