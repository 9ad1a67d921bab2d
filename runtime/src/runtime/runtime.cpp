#include <zokio/runtime/runtime.hpp>

#include "runtime/worker.hpp"

#include "diag/console_server.hpp"

#include <zokio/detail/awaiter.hpp>
#include <zokio/diag/task_dump.hpp>
#include <zokio/task/when_all.hpp>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <string_view>
#include <thread>
#include <unordered_set>

namespace zokio {

namespace detail {

const char* to_string(wait_kind k) noexcept {
  switch (k) {
  case wait_kind::none:
    return "none";
  case wait_kind::yield:
    return "yield";
  case wait_kind::timer:
    return "timer";
  case wait_kind::join:
    return "join";
  case wait_kind::oneshot:
    return "oneshot";
  case wait_kind::event:
    return "event";
  case wait_kind::blocking:
    return "blocking";
  case wait_kind::io:
    return "io";
  case wait_kind::file:
    return "file";
  case wait_kind::signal:
    return "signal";
  case wait_kind::channel:
    return "channel";
  case wait_kind::mutex:
    return "mutex";
  case wait_kind::semaphore:
    return "semaphore";
  }
  return "?";
}

const char* to_string(task_state s) noexcept {
  switch (s) {
  case task_state::scheduled:
    return "scheduled";
  case task_state::running:
    return "running";
  case task_state::suspended:
    return "suspended";
  case task_state::done:
    return "done";
  }
  return "?";
}

std::vector<diag::task_info> collect_tasks(runtime_impl& rt);

void throw_no_runtime(const char* what) {
  throw no_runtime_error(std::string("zokio: ") + what +
                         " outside a runtime: no runtime runs on this thread, and Zokio never "
                         "falls back to running it synchronously");
}

runtime_impl::runtime_impl(runtime_options options)
    : m_options(std::move(options)), m_blocking(m_options.max_blocking_threads) {
  unsigned n = m_options.workers;
  if (n == 0) {
    n = std::thread::hardware_concurrency();
    if (n == 0) {
      n = 1;
    }
  }
  m_ticks0 = ticks();
  m_ns0 = now_ns();
  m_report.loop_close_status.assign(n, 0);
  m_workers.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    m_workers.push_back(std::make_unique<worker>(this, i, m_options));
  }
  for (unsigned i = 1; i < n; ++i) {
    m_workers[i]->start_thread();
  }
  // ZOKIO_DUMP=1 (text) or json: a task dump on standard error at each SIGQUIT, with no
  // recompiling.
  const char* dump = std::getenv("ZOKIO_DUMP");
  const dump_format sigquit_dump = dump == nullptr                    ? dump_format::none
                                   : std::string_view(dump) == "1"    ? dump_format::text
                                   : std::string_view(dump) == "json" ? dump_format::json
                                                                      : dump_format::none;
  if (const std::int64_t stall_ns = saturating_ns(m_options.stall_threshold);
      stall_ns > 0 || sigquit_dump != dump_format::none) {
    m_stall = std::make_unique<stall_watchdog>(*this, stall_ns, sigquit_dump);
  }
  start_console(*this); // runtime_options::console or ZOKIO_CONSOLE
}

runtime_impl::~runtime_impl() {
  shutdown();
  // A worker whose loop did not close, or with a blocking job still running, may still be
  // referenced by a pool thread (libuv's, or a blocking-pool thread that shutdown detached):
  // its memory is left to the process rather than freed under a running thread.
  for (auto& w : m_workers) {
    if (!w->m_closed) {
      // Kept reachable from a global, so that leak checkers see a deliberate keep, not a leak.
      // The list itself is never destroyed: a static destructor would drop it before the leak
      // check at exit runs.
      static std::mutex kept_mutex;
      static auto* kept = new std::vector<worker*>;
      std::lock_guard<std::mutex> lock(kept_mutex);
      kept->push_back(w.release());
    }
  }
}

bool runtime_impl::owns(const worker_core* w) const noexcept {
  return w != nullptr && w->m_rt == this;
}

worker_core* runtime_impl::pick_worker() {
  if (owns(t_worker)) {
    return t_worker; // a task of this runtime: spawns locally, cancelled at once when stopping
  }
  if (m_shutting_down.load(std::memory_order_acquire)) {
    throw_stopping();
  }
  const unsigned i = m_next_worker.fetch_add(1, std::memory_order_relaxed) % size();
  return m_workers[i].get();
}

double runtime_impl::ns_per_tick() const noexcept {
#if defined(__x86_64__)
  const double dt = static_cast<double>(ticks() - m_ticks0);
  const double dn = static_cast<double>(now_ns() - m_ns0);
  return dt > 0 && dn > 1e6 ? dn / dt : 0.35; // early on, assume a ~3 GHz counter
#else
  return 1.0;
#endif
}

namespace {

std::string what_of(const std::exception_ptr& e) noexcept {
  try {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      return x.what();
    } catch (...) {
    }
    return "unknown exception";
  } catch (...) {
    return {}; // out of memory while copying the message
  }
}

} // namespace

void print_failure(const task_failure& f) noexcept {
  std::fprintf(stderr, "zokio: detached task %llu '%.*s' (spawned at %s:%u) failed: %s\n",
               static_cast<unsigned long long>(f.id), static_cast<int>(f.name.size()),
               f.name.data(), f.spawn_site.file, f.spawn_site.line, what_of(f.error).c_str());
}

void runtime_impl::report(const task_failure& f) noexcept {
  try {
    if (m_options.on_task_error) {
      m_options.on_task_error(f);
      return;
    }
    print_failure(f);
  } catch (...) {
    std::fprintf(stderr, "zokio: on_task_error threw; a detached task failure was dropped\n");
  }
}

void runtime_impl::report_failure(task_record* t) noexcept {
  report(task_failure{t->m_id, t->m_name, t->m_spawn_site, t->m_error});
}

void report_unobserved(std::uint64_t id, std::string_view name, const site& where,
                       std::exception_ptr error) noexcept {
  const task_failure f{id, name, where, std::move(error)};
  if (auto* w = static_cast<worker*>(t_worker); w != nullptr) {
    w->m_rt->report(f);
  } else {
    print_failure(f);
  }
}

[[noreturn]] void throw_stopping() {
  throw no_runtime_error("zokio: spawn on a runtime that is shutting down or has shut down: it "
                         "takes no new tasks from other threads");
}

namespace {

// The workers alive in this process, of every runtime. A join_handle may outlive its runtime;
// what it does then (cancel, report an unobserved failure) must not reach into a freed worker,
// so those rare paths look the worker up here first. Workers are added when made and removed
// when destroyed (a worker leaked on purpose at shutdown stays, and stays valid).
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::unordered_set<const worker_core*>& registry() {
  static std::unordered_set<const worker_core*> s;
  return s;
}

} // namespace

void register_worker(const worker_core* w) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().insert(w);
}

void unregister_worker(const worker_core* w) noexcept {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().erase(w);
}

bool worker_alive(const worker_core* w) noexcept {
  if (w == t_worker) {
    return true; // this thread drives it
  }
  std::lock_guard<std::mutex> lock(registry_mutex());
  return registry().count(w) != 0;
}

void runtime_impl::drive_until(task_record* t) {
  worker& w0 = at(0);
  m_deadlock_found = false;
  m_deadlock_armed = false;
  try {
    w0.run([t] { return t->done(); });
  } catch (...) {
    m_in_block_on.store(false, std::memory_order_release);
    throw;
  }
  w0.stop_watch();
  m_deadlock_armed = false;
  m_in_block_on.store(false, std::memory_order_release);
  if (m_deadlock_found && !t->done()) {
    m_deadlock_found = false;
    w0.m_stats.deadlocks_detected.add();
    std::ostringstream os;
    os << "zokio: deadlock: block_on's task can never finish: every live task waits on "
          "another task and nothing external (timer, I/O, blocking job, wake from another "
          "thread) has been pending for "
       << m_options.deadlock_grace.count() << " ms\n";
    const std::vector<diag::task_info> dump = collect_tasks(*this);
    for (const auto& i : dump) {
      if (i.waits_for_task != 0) {
        os << "  wait-for: task " << i.id << " -> task " << i.waits_for_task << "\n";
      }
    }
    os << diag::format_task_dump(dump);
    throw deadlock_error(os.str());
  }
}

shutdown_report runtime_impl::shutdown() {
  if (m_shut.load(std::memory_order_acquire)) {
    return m_report;
  }
  if (owns(t_worker)) {
    throw std::logic_error("zokio: runtime::shutdown() called from inside the runtime");
  }
  stop_console(*this); // its census tasks need the workers running
  m_shutting_down.store(true, std::memory_order_release);
  // From here on, spawns from other threads are refused (they throw); those posted before are
  // still in the inboxes, are drained below and start cancelled.
  for (auto& w : m_workers) {
    w->close_intake();
  }
  for (auto& w : m_workers) {
    (void)w->post(nullptr, inbox_op::cancel_all); // the loops are open until teardown
  }
  using clock = std::chrono::steady_clock;
  const auto deadline = saturating_deadline<clock>(clock::now(), m_options.shutdown_grace);
  auto all_done = [this, deadline] {
    if (clock::now() > deadline) {
      return true;
    }
    for (auto& w : m_workers) {
      if (w->live_count() != 0 || !w->inbox_empty()) {
        return false;
      }
    }
    return true;
  };
  worker& w0 = at(0);
  // Worker 0 has no thread of its own: drive it here, waking every 10 ms to look at the others.
  struct tick {
    static void again(worker* w) { w->arm_watch(10, &tick::again); }
  };
  w0.arm_watch(10, &tick::again);
  w0.run(all_done);
  w0.stop_watch();
  for (unsigned i = 1; i < size(); ++i) {
    (void)m_workers[i]->post(nullptr, inbox_op::stop);
  }
  for (unsigned i = 1; i < size(); ++i) {
    m_workers[i]->join_thread();
  }
  const auto teardown_deadline = saturating_deadline<clock>(clock::now(), m_options.shutdown_grace);
  for (auto& w : m_workers) {
    w->teardown(m_report, teardown_deadline);
  }
  // Every task has unwound, so no job runs any more unless its task was left behind: idle
  // threads end and are joined; one stuck in a job is detached at the deadline.
  m_blocking.shutdown(teardown_deadline);
  if (m_stall) {
    m_stall->stop(); // no task runs any more; its reports stay readable
  }
  m_shut.store(true, std::memory_order_release);
  return m_report;
}

runtime_stats runtime_impl::stats() const {
  runtime_stats s;
  for (const auto& w : m_workers) {
    const worker_stats_core& c = w->m_stats;
    worker_counters o;
    o.tasks_spawned = c.tasks_spawned.get();
    o.tasks_completed = c.tasks_completed.get();
    o.tasks_failed = c.tasks_failed.get();
    o.tasks_cancelled = c.tasks_cancelled.get();
    o.tasks_live = c.tasks_live.get();
    o.awaits = c.awaits.get();
    o.awaits_inline = c.awaits_inline.get();
    o.awaits_suspended = c.awaits_suspended.get();
    o.awaits_cancelled = c.awaits_cancelled.get();
    o.resumes_from_loop = c.resumes_from_loop.get();
    o.resumes_from_task = c.resumes_from_task.get();
    o.resumes_cross_thread = c.resumes_cross_thread.get();
    o.sync_fallbacks = c.sync_fallbacks.get();
    o.loop_iterations = c.loop_iterations.get();
    o.stalls = c.stalls.get();
    o.deadlocks_detected = c.deadlocks_detected.get();
    if (w.get() == m_workers.front().get()) {
      o.deadlocks_detected += m_cycles_found.load(std::memory_order_relaxed);
    }
    o.lost_wakeups = c.lost_wakeups.get() + w->m_lost_posts.load(std::memory_order_relaxed);
    o.timers_pending = c.timers_pending.get();
    o.blocking_in_flight = c.blocking_in_flight.get();
    o.handles_active = w->m_handles_active.load(std::memory_order_relaxed);
    s += o;
    s.workers.push_back(o);
  }
  return s;
}

namespace {

/// A fresh task id of `rt`: from the spawning worker's block when a worker of `rt` spawns.
std::uint64_t next_task_id(runtime_impl* rt) noexcept {
  auto* me = static_cast<worker*>(t_worker);
  if (me == nullptr || me->m_rt != rt) {
    return rt->m_next_id.fetch_add(1, std::memory_order_relaxed);
  }
  return me->take_task_id(rt->m_next_id);
}

} // namespace

void schedule_new(worker_core* w, task_record* t, const fixed_name& name, const site& where) {
  t->m_name.assign(name);
  schedule_new(w, t, std::string_view{}, where);
}

void schedule_new(worker_core* w, task_record* t, std::string_view name, const site& where) {
  auto* wk = static_cast<worker*>(w);
  t->m_worker = w;
  t->m_id = next_task_id(wk->m_rt);
  if (!name.empty()) {
    t->m_name.assign(name);
  }
  t->m_spawn_site = where;
  // Spawned by a task of this worker: the moment its resume began stands in for now (off by
  // that resume's running time, microseconds unless it stalls), which spares a clock read per
  // spawn (on a virtual machine that traps rdtsc, tens of nanoseconds).
  t->m_spawned_at = t_worker == w && t_current != nullptr
                        ? wk->m_resume_start.load(std::memory_order_relaxed)
                        : ticks();
  if (t_worker == w) {
    wk->accept_new(t);
  } else if (!wk->post(t, inbox_op::spawn)) {
    // Refused: the runtime is stopping. The task never runs; its join_handle (being unwound by
    // this exception) lets go of the last reference and destroys the unstarted frame.
    t->release();
    throw_stopping();
  }
}

worker_core* current_runtime_worker(unsigned index) {
  worker_core* w = t_worker;
  if (w == nullptr) {
    throw_no_runtime("zokio::spawn_on");
  }
  if (index >= w->m_rt->size()) {
    throw std::out_of_range("zokio::spawn_on: worker " + std::to_string(index) +
                            " does not exist (the runtime has " + std::to_string(w->m_rt->size()) +
                            ")");
  }
  return &w->m_rt->at(index);
}

void finish_task(task_record* t) noexcept {
  auto* w = static_cast<worker*>(t->m_worker);
  w->charge_busy(t);
  t->m_state.store(task_state::done, std::memory_order_relaxed);
  switch (t->m_outcome) {
  case task_outcome::value:
    w->m_stats.tasks_completed.add();
    break;
  case task_outcome::error:
    w->m_stats.tasks_failed.add();
    break;
  default:
    w->m_stats.tasks_cancelled.add();
    break;
  }
  w->unlink_live(t);
  std::uintptr_t prev = t->m_joiner.load(std::memory_order_acquire);
  if (prev == joiner_detached) {
    // Nobody holds the handle: no other thread writes m_joiner any more.
    t->m_joiner.store(joiner_done, std::memory_order_release);
  } else if ((prev & joiner_same_worker) != 0) {
    // A join from a task of this worker: it holds the handle, suspended on this thread, so no
    // other thread writes the word (see task_record::set_joiner).
    t->m_joiner.store(joiner_done, std::memory_order_release);
    auto* waiter = reinterpret_cast<completion_waiter*>(prev & ~joiner_same_worker);
    waiter->m_notify(waiter, t);
  } else {
    prev = t->m_joiner.exchange(joiner_done, std::memory_order_seq_cst);
    if (prev != joiner_none && prev != joiner_detached) {
      auto* waiter = reinterpret_cast<completion_waiter*>(prev); // never tagged: see above
      waiter->m_notify(waiter, t);
    }
  }
  if (t->m_outcome == task_outcome::error &&
      (prev == joiner_detached || t->m_detached.load(std::memory_order_seq_cst)) &&
      !t->m_error_reported.exchange(true)) {
    w->m_rt->report_failure(t);
  }
  t->release();
}

void detach_task(task_record* t) noexcept {
  // On the task's own worker, with only the handle and the unfinished task holding the record,
  // nothing else can write its count or its joiner meanwhile: another reference comes only from
  // a holder (the handle being dropped here, or the task, whose worker is this thread), and a
  // joiner only through the handle. So no locked instruction: `spawn(...).detach()` in a task,
  // the common case, costs two plain stores.
  if (t_worker == t->m_worker && t->m_refs.load(std::memory_order_relaxed) == 2 &&
      t->m_joiner.load(std::memory_order_relaxed) == joiner_none) {
    t->m_joiner.store(joiner_detached, std::memory_order_relaxed);
    t->m_refs.store(1, std::memory_order_relaxed);
    return;
  }
  std::uintptr_t prev = joiner_none;
  if (t->m_joiner.compare_exchange_strong(prev, joiner_detached, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
    t->release(); // finish_task sees joiner_detached and reports a failure itself
    return;
  }
  // Done already (then report its failure here), or a waiter is still registered: then the old
  // handshake, the flag against the exchange in finish_task.
  if (prev != joiner_done) {
    t->m_detached.store(true, std::memory_order_seq_cst);
    prev = t->m_joiner.load(std::memory_order_seq_cst);
  }
  if (prev == joiner_done && t->m_outcome == task_outcome::error &&
      !t->m_error_reported.exchange(true)) {
    // The handle may outlive its runtime: report through the runtime only while its worker
    // exists; after that the failure is still printed, never dropped and never a use of freed
    // memory. The lock keeps the worker alive while it reports.
    if (worker_alive(t->m_worker)) {
      static_cast<worker*>(t->m_worker)->m_rt->report_failure(t);
    } else {
      print_failure(task_failure{t->m_id, t->m_name, t->m_spawn_site, t->m_error});
    }
  }
  t->release();
}

void cancel_task(task_record* t) noexcept {
  if (t->done()) {
    return;
  }
  t->m_cancel_requested.store(true, std::memory_order_relaxed);
  auto* w = static_cast<worker*>(t->m_worker);
  if (t_worker == w) {
    w->cancel_local(t);
    return;
  }
  // From another thread: through the owner's inbox, if the owner still exists (a task left
  // behind by shutdown may be cancelled through a handle that outlived the runtime).
  if (!worker_alive(w)) {
    return;
  }
  t->add_ref(); // released when the worker has handled the request
  if (!w->post(t, inbox_op::cancel)) {
    t->release(); // the worker is torn down: nothing left to cancel
  }
}

} // namespace detail

worker_counters& worker_counters::operator+=(const worker_counters& o) noexcept {
  tasks_spawned += o.tasks_spawned;
  tasks_completed += o.tasks_completed;
  tasks_failed += o.tasks_failed;
  tasks_cancelled += o.tasks_cancelled;
  tasks_live += o.tasks_live;
  awaits += o.awaits;
  awaits_inline += o.awaits_inline;
  awaits_suspended += o.awaits_suspended;
  awaits_cancelled += o.awaits_cancelled;
  resumes_from_loop += o.resumes_from_loop;
  resumes_from_task += o.resumes_from_task;
  resumes_cross_thread += o.resumes_cross_thread;
  sync_fallbacks += o.sync_fallbacks;
  loop_iterations += o.loop_iterations;
  stalls += o.stalls;
  deadlocks_detected += o.deadlocks_detected;
  lost_wakeups += o.lost_wakeups;
  timers_pending += o.timers_pending;
  blocking_in_flight += o.blocking_in_flight;
  handles_active += o.handles_active;
  return *this;
}

bool shutdown_report::clean() const noexcept {
  if (tasks_left != 0 || !handles_left.empty()) {
    return false;
  }
  for (int s : loop_close_status) {
    if (s != 0) {
      return false;
    }
  }
  return true;
}

std::string shutdown_report::to_string() const {
  if (clean()) {
    return "clean";
  }
  std::ostringstream os;
  const char* sep = "";
  if (tasks_left != 0) {
    os << tasks_left << " task(s) left";
    sep = "; ";
  }
  if (!handles_left.empty()) {
    os << sep << "handles left:";
    for (const auto& [type, n] : handles_left) {
      os << ' ' << type << '=' << n;
    }
    sep = "; ";
  }
  for (std::size_t i = 0; i < loop_close_status.size(); ++i) {
    if (loop_close_status[i] != 0) {
      os << sep << "loop " << i << " close: " << uv_err_name(loop_close_status[i]);
      sep = "; ";
    }
  }
  return os.str();
}

runtime::runtime(runtime_options options)
    : m_impl(std::make_unique<detail::runtime_impl>(std::move(options))) {}

runtime::~runtime() {
  try {
    m_impl->shutdown();
  } catch (...) {
    std::fprintf(stderr, "zokio: runtime destroyed from inside itself; shutdown skipped\n");
    std::abort();
  }
}

void runtime::begin_block_on() {
  if (detail::t_worker != nullptr) {
    throw nested_block_on_error(
        "zokio: block_on called on a thread that drives a worker; blocking here would stop the "
        "loop that must make progress: co_await the task instead");
  }
  if (m_impl->m_shutting_down.load(std::memory_order_acquire)) {
    throw no_runtime_error("zokio: block_on on a runtime that is shutting down or has shut down");
  }
  if (m_impl->m_in_block_on.exchange(true, std::memory_order_acq_rel)) {
    throw nested_block_on_error("zokio: block_on is already running on another thread");
  }
}

void runtime::drive_until(detail::task_record* t) {
  m_impl->drive_until(t);
}

detail::worker_core* runtime::worker0() noexcept {
  return &m_impl->at(0);
}

detail::worker_core* runtime::pick_worker() {
  return m_impl->pick_worker();
}

runtime_stats runtime::stats() const {
  return m_impl->stats();
}

shutdown_report runtime::shutdown() {
  return m_impl->shutdown();
}

detail::runtime_impl& detail::impl_of(const runtime& rt) noexcept {
  return *rt.m_impl;
}

unsigned runtime::workers() const noexcept {
  return m_impl->size();
}

const runtime_options& runtime::options() const noexcept {
  return m_impl->m_options;
}

} // namespace zokio
