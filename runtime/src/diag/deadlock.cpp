#include <zokio/diag/deadlock.hpp>

#include "diag/detectors.hpp"
#include "runtime/worker.hpp"

#include <algorithm>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

// The wait-for graph has at most one edge out of each task (a task awaits one thing at a time),
// so its cycles are found by following edges from each node once, coloring what was visited.
// Both reads go through collect_tasks, the same reader as task_dump, and so share its guarantees.

namespace zokio {

namespace diag {

namespace {

/// A suspended task waiting for another one by name: the only waits that are graph edges.
bool is_edge(const task_info& t) noexcept {
  return t.state == "suspended" && !t.external && t.waits_for_task != 0 &&
         (t.waiting_on == "join" || t.waiting_on == "mutex");
}

/// The same suspension seen twice: not resumed in between, waiting on the same thing.
bool same_wait(const task_info& a, const task_info& b) noexcept {
  return a.resumes == b.resumes && a.waiting_on == b.waiting_on &&
         a.waits_for_task == b.waits_for_task && a.await_file == b.await_file &&
         a.await_line == b.await_line;
}

std::vector<deadlock_cycle> cycles_of(const std::vector<task_info>& before,
                                      const std::vector<task_info>& now) {
  std::unordered_map<std::uint64_t, const task_info*> first;
  for (const task_info& t : before) {
    if (is_edge(t)) {
      first.emplace(t.id, &t);
    }
  }
  // The stable edges: present at both reads, unchanged.
  std::unordered_map<std::uint64_t, const task_info*> node;
  for (const task_info& t : now) {
    if (!is_edge(t)) {
      continue;
    }
    const auto it = first.find(t.id);
    if (it != first.end() && same_wait(*it->second, t)) {
      node.emplace(t.id, &t);
    }
  }
  std::vector<std::uint64_t> ids;
  ids.reserve(node.size());
  for (const auto& [id, t] : node) {
    ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());

  std::vector<deadlock_cycle> out;
  // 0: not visited; otherwise the walk (its starting id) that visited it first.
  std::unordered_map<std::uint64_t, std::uint64_t> walk_of;
  for (const std::uint64_t start : ids) {
    if (walk_of.count(start) != 0) {
      continue;
    }
    std::uint64_t at = start;
    // Follow edges while they stay inside the stable graph and lead somewhere unvisited.
    for (;;) {
      walk_of.emplace(at, start);
      const auto n = node.find(at);
      if (n == node.end()) {
        break; // waits for a task that is running, external, gone or not stably waiting
      }
      const std::uint64_t next = n->second->waits_for_task;
      const auto seen = walk_of.find(next);
      if (seen == walk_of.end()) {
        if (node.count(next) == 0) {
          break;
        }
        at = next;
        continue;
      }
      if (seen->second == start) {
        // Back to a task of this walk: `next` starts the ring.
        deadlock_cycle c;
        std::uint64_t m = next;
        do {
          c.tasks.push_back(*node.at(m));
          m = node.at(m)->waits_for_task;
        } while (m != next);
        // Rotate to the lowest id, so that the same ring always reads the same way.
        const auto lowest =
            std::min_element(c.tasks.begin(), c.tasks.end(),
                             [](const task_info& a, const task_info& b) { return a.id < b.id; });
        std::rotate(c.tasks.begin(), lowest, c.tasks.end());
        out.push_back(std::move(c));
      }
      break; // joined an earlier walk, or closed this one's ring
    }
  }
  std::sort(out.begin(), out.end(), [](const deadlock_cycle& a, const deadlock_cycle& b) {
    return a.tasks.front().id < b.tasks.front().id;
  });
  return out;
}

/// Counts the cycles not counted before, and forgets counted cycles that can no longer recur (one
/// of their tasks has ended: ids are never reused).
void count_new(detail::runtime_impl& rt, const std::vector<deadlock_cycle>& cycles,
               const std::vector<task_info>& live) {
  std::unordered_set<std::uint64_t> alive;
  for (const task_info& t : live) {
    alive.insert(t.id);
  }
  std::lock_guard<std::mutex> lock(rt.m_cycles_mutex);
  auto& counted = rt.m_cycles_counted;
  counted.erase(std::remove_if(counted.begin(), counted.end(),
                               [&alive](const std::vector<std::uint64_t>& ids) {
                                 return std::any_of(ids.begin(), ids.end(), [&alive](auto id) {
                                   return alive.count(id) == 0;
                                 });
                               }),
                counted.end());
  for (const deadlock_cycle& c : cycles) {
    std::vector<std::uint64_t> ids;
    for (const task_info& t : c.tasks) {
      ids.push_back(t.id);
    }
    std::sort(ids.begin(), ids.end());
    if (std::find(counted.begin(), counted.end(), ids) == counted.end()) {
      counted.push_back(std::move(ids));
      rt.m_cycles_found.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

} // namespace

std::vector<deadlock_cycle> find_deadlocks(const runtime& rt, deadlock_options options) {
  return detail::find_deadlocks(detail::impl_of(rt), options);
}

} // namespace diag

namespace detail {

std::vector<diag::deadlock_cycle> find_deadlocks(runtime_impl& impl,
                                                 diag::deadlock_options options) {
  using namespace diag;
  std::vector<task_info> before = detail::collect_tasks(impl);
  if (options.stable_for.count() > 0) {
    if (impl.owns(detail::t_worker)) {
      throw std::logic_error("zokio: diag::find_deadlocks with a stable_for interval called on a "
                             "worker thread of the runtime: it would stall that worker");
    }
    std::this_thread::sleep_for(options.stable_for);
  }
  std::vector<task_info> now =
      options.stable_for.count() > 0 ? detail::collect_tasks(impl) : std::move(before);
  std::vector<deadlock_cycle> cycles =
      cycles_of(options.stable_for.count() > 0 ? before : now, now);
  count_new(impl, cycles, now);
  return cycles;
}

} // namespace detail

namespace diag {

std::string format_deadlocks(const std::vector<deadlock_cycle>& cycles) {
  std::ostringstream os;
  for (const deadlock_cycle& c : cycles) {
    os << "deadlock: " << c.tasks.size() << " task(s) in a cycle\n";
    for (const task_info& t : c.tasks) {
      os << "  task " << t.id;
      if (!t.name.empty()) {
        os << " '" << t.name << "'";
      }
      os << " worker " << t.worker << " waits on " << t.waiting_on << " for task "
         << t.waits_for_task;
      if (t.await_line != 0) {
        os << " at " << t.await_file << ":" << t.await_line;
      }
      os << "; spawned at " << t.spawn_site.file << ":" << t.spawn_site.line << "\n";
    }
  }
  return os.str();
}

} // namespace diag
} // namespace zokio
