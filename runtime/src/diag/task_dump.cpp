#include <zokio/diag/task_dump.hpp>

#include "runtime/worker.hpp"

#include <algorithm>
#include <sstream>

namespace zokio {

namespace detail {

std::vector<diag::task_info> collect_tasks(runtime_impl& rt) {
  std::vector<diag::task_info> out;
  const double ns_per_tick = rt.ns_per_tick();
  const std::uint64_t now = ticks();
  for (unsigned w = 0; w < rt.size(); ++w) {
    rt.at(w).for_each_live([&](task_record* r) {
      diag::task_info i;
      i.id = r->m_id;
      i.name = r->m_name.view();
      i.worker = w;
      i.spawn_site = r->m_spawn_site;
      const task_state st = r->m_state.load(std::memory_order_relaxed);
      i.state = to_string(st);
      if (st == task_state::suspended) {
        const wait_kind k = r->m_wait_kind.load(std::memory_order_relaxed);
        i.waiting_on = to_string(k);
        i.external = is_external(k);
        i.await_file = r->m_wait_file.load(std::memory_order_relaxed);
        i.await_line = r->m_wait_line.load(std::memory_order_relaxed);
        if (k == wait_kind::join || k == wait_kind::mutex) {
          i.waits_for_task = r->m_wait_target.load(std::memory_order_relaxed);
        }
      }
      i.resumes = r->m_resumes.load(std::memory_order_relaxed);
      i.wakes = i.resumes > 0 ? i.resumes - 1 + (st == task_state::scheduled ? 1 : 0) : 0;
      // Read apart while the task runs: the self-wakes never show more than the wakes.
      i.self_wakes = std::min(r->m_self_wakes.load(std::memory_order_relaxed), i.wakes);
      i.busy = std::chrono::nanoseconds(
          to_ns(r->m_busy_ticks.load(std::memory_order_relaxed), ns_per_tick));
      // A task spawned since `now` was read (by a resume that began after it, whose start
      // stands in for the spawn time) is of age 0, not a wrapped-around one.
      const std::uint64_t spawned = r->m_spawned_at;
      i.age = std::chrono::nanoseconds(to_ns(now > spawned ? now - spawned : 0, ns_per_tick));
      out.push_back(std::move(i));
    });
  }
  std::stable_sort(out.begin(), out.end(), [](const diag::task_info& a, const diag::task_info& b) {
    return a.worker < b.worker || (a.worker == b.worker && a.id < b.id);
  });
  return out;
}

} // namespace detail

namespace diag {

std::vector<task_info> task_dump(const runtime& rt) {
  return detail::collect_tasks(detail::impl_of(rt));
}

std::string format_task_dump(const std::vector<task_info>& tasks) {
  std::ostringstream os;
  os << tasks.size() << " live task(s)\n";
  for (const task_info& t : tasks) {
    os << "  task " << t.id;
    if (!t.name.empty()) {
      os << " '" << t.name << "'";
    }
    os << " worker " << t.worker << " " << t.state;
    if (!t.waiting_on.empty()) {
      os << " on " << t.waiting_on;
      if (t.waits_for_task != 0) {
        os << " (task " << t.waits_for_task << ")";
      }
      if (t.await_line != 0) {
        os << " at " << t.await_file << ":" << t.await_line;
      }
    }
    os << "; spawned at " << t.spawn_site.file << ":" << t.spawn_site.line;
    os << "; resumes " << t.resumes << ", wakes " << t.wakes << " (self " << t.self_wakes
       << "), busy " << std::chrono::duration_cast<std::chrono::microseconds>(t.busy).count()
       << " us\n";
  }
  return os.str();
}

} // namespace diag
} // namespace zokio
