#include <zokio/diag/lost_wakeup.hpp>

#include "diag/detectors.hpp"
#include "runtime/worker.hpp"

#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include <sys/syscall.h>
#include <unistd.h>

// Two reads of every live record, `stable_for` apart, each also noting which task each worker is
// running at that moment (worker_core::m_running, set around every resume). A record whose state
// says "running" while its worker runs another task or none has suspended outside note_suspend:
// on an awaiter the runtime does not know.

namespace zokio {

namespace diag {

namespace {

struct snapshot {
  std::map<std::uint64_t, task_info> tasks;
  std::unordered_set<std::uint64_t> running; // the tasks a worker was running
  // Each task's last co_await of a runtime operation (kept while it runs).
  std::map<std::uint64_t, std::pair<std::string, std::uint32_t>> last_await;
};

snapshot read(detail::runtime_impl& rt) {
  snapshot s;
  for (unsigned i = 0; i < rt.size(); ++i) {
    detail::worker& w = rt.at(i);
    w.for_each_live([&](detail::task_record* t) {
      if (w.m_running.load(std::memory_order_acquire) == t) {
        s.running.insert(t->m_id);
      }
      const char* file = t->m_wait_file.load(std::memory_order_relaxed);
      s.last_await[t->m_id] = {file != nullptr ? file : "",
                               t->m_wait_line.load(std::memory_order_relaxed)};
    });
  }
  for (task_info& t : detail::collect_tasks(rt)) {
    const std::uint64_t id = t.id;
    s.tasks.emplace(id, std::move(t));
  }
  // A task that was running at either look of this read counts as running.
  for (unsigned i = 0; i < rt.size(); ++i) {
    detail::worker& w = rt.at(i);
    w.for_each_live([&](detail::task_record* t) {
      if (w.m_running.load(std::memory_order_acquire) == t) {
        s.running.insert(t->m_id);
      }
    });
  }
  return s;
}

/// Why `t` cannot be resumed, by what `s` shows; empty when it can.
std::string lost(const task_info& t, const snapshot& s) {
  if (t.state == "running" && s.running.count(t.id) == 0) {
    return "suspended on an awaiter that is not the runtime's: the runtime holds no waker for it";
  }
  if (t.state == "suspended" && t.waiting_on == "join" && t.waits_for_task != 0 &&
      s.tasks.count(t.waits_for_task) == 0) {
    return "waits to join task " + std::to_string(t.waits_for_task) +
           ", which has ended without waking it";
  }
  return {};
}

} // namespace

std::vector<lost_wakeup> find_lost_wakeups(const runtime& rt, lost_wakeup_options options) {
  return detail::find_lost_wakeups(detail::impl_of(rt), options);
}

} // namespace diag

namespace detail {

std::vector<diag::lost_wakeup> find_lost_wakeups(runtime_impl& impl,
                                                 diag::lost_wakeup_options options) {
  using namespace diag;
  for (unsigned i = 0; i < impl.size(); ++i) {
    if (impl.at(i).m_tid.load(std::memory_order_relaxed) ==
            static_cast<long>(::syscall(SYS_gettid)) &&
        options.stable_for.count() > 0) {
      throw std::logic_error("find_lost_wakeups: called from a worker thread of the runtime");
    }
  }
  const snapshot before = read(impl);
  if (options.stable_for.count() > 0) {
    std::this_thread::sleep_for(options.stable_for);
  }
  const snapshot now = read(impl);
  std::vector<lost_wakeup> found;
  for (const auto& [id, t] : now.tasks) {
    std::string why = lost(t, now);
    if (why.empty()) {
      continue;
    }
    const auto it = before.tasks.find(id);
    if (it == before.tasks.end() || it->second.resumes != t.resumes ||
        lost(it->second, before) != why) {
      continue; // not seen the same way twice: it may be about to be resumed
    }
    lost_wakeup l{t, std::move(why)};
    if (l.task.await_line == 0) {
      const auto site = now.last_await.find(id);
      if (site != now.last_await.end()) {
        l.task.await_file = site->second.first;
        l.task.await_line = site->second.second;
      }
    }
    found.push_back(std::move(l));
  }
  return found;
}

} // namespace detail

namespace diag {

std::string format_lost_wakeups(const std::vector<lost_wakeup>& found) {
  if (found.empty()) {
    return {};
  }
  std::ostringstream os;
  os << "lost wake-up: " << found.size() << " task(s)\n";
  for (const lost_wakeup& l : found) {
    const task_info& t = l.task;
    os << "  task " << t.id;
    if (!t.name.empty()) {
      os << " '" << t.name << "'";
    }
    os << " worker " << t.worker << ": " << l.why;
    if (t.await_line != 0) {
      os << "; last runtime co_await at " << t.await_file << ":" << t.await_line;
    }
    os << "; spawned at " << t.spawn_site.file << ":" << t.spawn_site.line << "\n";
  }
  return os.str();
}

} // namespace diag
} // namespace zokio
