#include "diag/console_server.hpp"

#include "diag/detectors.hpp"
#include "runtime/worker.hpp"

#include <zokio/diag/deadlock.hpp>
#include <zokio/diag/lost_wakeup.hpp>
#include <zokio/diag/metrics.hpp>
#include <zokio/diag/stall.hpp>
#include <zokio/task/spawn.hpp>
#include <zokio/task/task.hpp>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

namespace zokio {

namespace detail {

namespace {

// -- the handle census --------------------------------------------------------------------------

} // namespace

struct handle_census::slot {
  std::mutex mutex;
  std::condition_variable done;
  bool pending = false; // asked, not answered yet
  bool answered = false;
  std::map<std::string, std::uint64_t> by_type;
};

namespace {

task<void> walk_own_loop(std::shared_ptr<handle_census::slot> s) {
  std::map<std::string, std::uint64_t> by_type;
  if (auto* w = static_cast<worker*>(t_worker); w != nullptr) {
    uv_walk(
        w->loop(),
        [](uv_handle_t* h, void* arg) {
          if (uv_is_closing(h) == 0) {
            ++(*static_cast<std::map<std::string, std::uint64_t>*>(
                arg))[uv_handle_type_name(h->type)];
          }
        },
        &by_type);
  }
  {
    std::lock_guard<std::mutex> lock(s->mutex);
    s->by_type = std::move(by_type);
    s->pending = false;
    s->answered = true;
  }
  s->done.notify_all();
  co_return;
}

} // namespace

void drop_census_tasks(std::vector<diag::task_info>& tasks) {
  std::erase_if(tasks, [](const diag::task_info& t) { return t.name == census_task_name; });
}

bool handle_census::result::complete() const noexcept {
  for (const per_worker& w : workers) {
    if (!w.answered) {
      return false;
    }
  }
  return true;
}

handle_census::handle_census(runtime_impl& rt) : m_rt(rt) {
  for (unsigned i = 0; i < rt.size(); ++i) {
    m_slots.push_back(std::make_shared<slot>());
  }
}

handle_census::~handle_census() = default;

void handle_census::ask() {
  for (unsigned i = 0; i < m_rt.size(); ++i) {
    if (m_rt.m_shutting_down.load(std::memory_order_acquire)) {
      break; // a task spawned now might never run, and would be reported as left
    }
    slot& s = *m_slots[i];
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      if (s.pending) {
        continue; // still owes the last answer (stalled, or not driven): do not pile up tasks
      }
      s.pending = true;
      s.answered = false;
    }
    try {
      // Detached: the task keeps its slot alive, and answers even after this call gave up.
      (void)spawn_on_worker(&m_rt.at(i), walk_own_loop(m_slots[i]), census_fixed_name,
                            site::current());
    } catch (...) {
      std::lock_guard<std::mutex> lock(s.mutex);
      s.pending = false; // refused: the runtime is shutting down
    }
  }
}

handle_census::result handle_census::collect(std::chrono::steady_clock::time_point deadline) {
  result r;
  for (unsigned i = 0; i < m_rt.size(); ++i) {
    slot& s = *m_slots[i];
    std::unique_lock<std::mutex> lock(s.mutex);
    s.done.wait_until(lock, deadline, [&s] { return !s.pending; });
    result::per_worker w;
    w.answered = s.answered;
    if (s.answered) {
      w.by_type = s.by_type;
      for (const auto& [type, n] : s.by_type) {
        r.by_type[type] += n;
      }
    }
    r.workers.push_back(std::move(w));
  }
  return r;
}

std::string format_handles(const handle_census::result& r) {
  std::ostringstream os;
  os << "open handles:";
  if (r.by_type.empty()) {
    os << " none";
  }
  for (const auto& [type, n] : r.by_type) {
    os << " " << type << "=" << n;
  }
  for (std::size_t i = 0; i < r.workers.size(); ++i) {
    if (!r.workers[i].answered) {
      os << "; worker " << i << " did not answer";
    }
  }
  os << "\n";
  return os.str();
}

// -- the JSON document ----------------------------------------------------------------------------

namespace {

void put_string(std::ostringstream& os, std::string_view s) {
  os << '"';
  for (const char c : s) {
    switch (c) {
    case '"':
      os << "\\\"";
      break;
    case '\\':
      os << "\\\\";
      break;
    case '\n':
      os << "\\n";
      break;
    case '\r':
      os << "\\r";
      break;
    case '\t':
      os << "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
        os << buf;
      } else {
        os << c;
      }
    }
  }
  os << '"';
}

void put_counts(std::ostringstream& os, const std::map<std::string, std::uint64_t>& m) {
  os << '{';
  const char* sep = "";
  for (const auto& [k, v] : m) {
    os << sep;
    put_string(os, k);
    os << ':' << v;
    sep = ",";
  }
  os << '}';
}

void put_task(std::ostringstream& os, const diag::task_info& t, const wait_history::seen* waited,
              std::chrono::steady_clock::time_point now) {
  os << "{\"id\":" << t.id << ",\"name\":";
  put_string(os, t.name);
  os << ",\"worker\":" << t.worker << ",\"state\":";
  put_string(os, t.state);
  os << ",\"waiting_on\":";
  put_string(os, t.waiting_on);
  os << ",\"external\":" << (t.external ? "true" : "false") << ",\"await_file\":";
  put_string(os, t.await_file);
  os << ",\"await_line\":" << t.await_line << ",\"waits_for_task\":" << t.waits_for_task
     << ",\"spawn_file\":";
  put_string(os, t.spawn_site.file);
  os << ",\"spawn_line\":" << t.spawn_site.line << ",\"resumes\":" << t.resumes
     << ",\"wakes\":" << t.wakes << ",\"self_wakes\":" << t.self_wakes
     << ",\"busy_ns\":" << t.busy.count() << ",\"age_ns\":" << t.age.count();
  if (waited != nullptr) {
    os << ",\"wait_ns\":"
       << std::chrono::duration_cast<std::chrono::nanoseconds>(now - waited->since).count();
  }
  os << '}';
}

/// The woken_without_progress lint: most of `t`'s wakes were its own, and it has many.
bool woken_without_progress(const diag::task_info& t, const diag::snapshot_options& o) {
  return t.wakes > 0 && t.wakes >= o.self_wake_min_wakes &&
         t.self_wakes * 100 > t.wakes * o.self_wake_percent;
}

bool same_wait(const wait_history::seen& s, const diag::task_info& t) {
  return s.resumes == t.resumes && s.waiting_on == t.waiting_on && s.await_file == t.await_file &&
         s.await_line == t.await_line;
}

} // namespace

std::string snapshot_json(runtime_impl& rt, const diag::snapshot_options& options,
                          wait_history* history, handle_census* census) {
  if (rt.owns(t_worker)) {
    throw std::logic_error("zokio: diag::snapshot_json called on a worker thread of the runtime");
  }
  std::unique_ptr<handle_census> own;
  if (census == nullptr && options.handles_wait.count() > 0) {
    own = std::make_unique<handle_census>(rt);
    census = own.get();
  }
  const auto start = std::chrono::steady_clock::now();
  // The census tasks run while the detectors sleep between their reads.
  const bool with_handles = census != nullptr && options.handles_wait.count() > 0;
  if (with_handles) {
    census->ask();
  }
  std::vector<diag::deadlock_cycle> cycles;
  std::vector<diag::lost_wakeup> lost;
  if (options.detectors) {
    cycles = find_deadlocks(rt, diag::deadlock_options{options.stable_for});
    lost = find_lost_wakeups(rt, diag::lost_wakeup_options{options.stable_for});
  }
  handle_census::result handles;
  if (with_handles) {
    handles = census->collect(start + options.handles_wait);
  }
  const auto now = std::chrono::steady_clock::now();
  std::vector<diag::task_info> tasks = collect_tasks(rt);
  drop_census_tasks(tasks);
  const std::vector<diag::stall_report> stalls =
      rt.m_stall ? rt.m_stall->recent() : std::vector<diag::stall_report>{};

  // Wait times: since when the console has seen each task on the same wait.
  std::map<std::uint64_t, wait_history::seen> seen_now;
  if (history != nullptr) {
    for (const diag::task_info& t : tasks) {
      if (t.state != "suspended") {
        continue;
      }
      wait_history::seen s{t.resumes, t.waiting_on, t.await_file, t.await_line, now};
      const auto it = history->tasks.find(t.id);
      if (it != history->tasks.end() && same_wait(it->second, t)) {
        s.since = it->second.since;
      }
      seen_now.emplace(t.id, std::move(s));
    }
    history->tasks = seen_now;
  }

  std::ostringstream os;
  os << "{\"schema\":\"zokio.console/1\",\"runtime\":";
  put_string(os, rt.m_options.name);
  os << ",\"pid\":" << ::getpid() << ",\"time_unix_ms\":"
     << std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count()
     << ",\"workers\":" << rt.size()
     << ",\"stall_threshold_ms\":" << rt.m_options.stall_threshold.count()
     << ",\"long_wait_ms\":" << options.long_wait.count()
     << ",\"wait_times\":" << (history != nullptr ? "true" : "false")
     << ",\"detectors\":" << (options.detectors ? "true" : "false");
  os << ",\"stats\":" << diag::to_json(rt.stats());

  os << ",\"tasks\":[";
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (i != 0) {
      os << ',';
    }
    const auto it = seen_now.find(tasks[i].id);
    put_task(os, tasks[i], it == seen_now.end() ? nullptr : &it->second, now);
  }
  os << ']';

  os << ",\"handles\":{\"asked\":" << (with_handles ? "true" : "false")
     << ",\"complete\":" << (with_handles && handles.complete() ? "true" : "false")
     << ",\"by_type\":";
  put_counts(os, handles.by_type);
  os << ",\"workers\":[";
  for (std::size_t i = 0; i < handles.workers.size(); ++i) {
    os << (i != 0 ? "," : "") << "{\"worker\":" << i
       << ",\"answered\":" << (handles.workers[i].answered ? "true" : "false") << ",\"by_type\":";
    put_counts(os, handles.workers[i].by_type);
    os << '}';
  }
  os << "]}";

  os << ",\"stalls\":[";
  for (std::size_t i = 0; i < stalls.size(); ++i) {
    const diag::stall_report& s = stalls[i];
    os << (i != 0 ? "," : "") << "{\"sequence\":" << s.sequence << ",\"worker\":" << s.worker
       << ",\"in_callback\":" << (s.in_callback ? "true" : "false")
       << ",\"in_poll_phase\":" << (s.in_poll_phase ? "true" : "false")
       << ",\"task_id\":" << s.task_id << ",\"task_name\":";
    put_string(os, s.task_name);
    os << ",\"spawn_file\":";
    put_string(os, s.spawn_site.file);
    os << ",\"spawn_line\":" << s.spawn_site.line << ",\"resumed_from_file\":";
    put_string(os, s.resumed_from_file);
    os << ",\"resumed_from_line\":" << s.resumed_from_line
       << ",\"duration_ns\":" << s.duration.count() << ",\"total_ns\":" << s.total.count()
       << ",\"ended\":" << (s.ended ? "true" : "false")
       << ",\"blocked\":" << (s.blocked() ? "true" : "false") << ",\"backtrace\":[";
    for (std::size_t f = 0; f < s.backtrace.size(); ++f) {
      os << (f != 0 ? "," : "");
      put_string(os, s.backtrace[f]);
    }
    os << "],\"text\":";
    put_string(os, diag::format_stall(s));
    os << '}';
  }
  os << ']';

  os << ",\"deadlocks\":[";
  for (std::size_t i = 0; i < cycles.size(); ++i) {
    os << (i != 0 ? "," : "") << "{\"tasks\":[";
    for (std::size_t k = 0; k < cycles[i].tasks.size(); ++k) {
      os << (k != 0 ? "," : "");
      put_task(os, cycles[i].tasks[k], nullptr, now);
    }
    os << "]}";
  }
  os << ']';

  os << ",\"lost_wakeups\":[";
  for (std::size_t i = 0; i < lost.size(); ++i) {
    os << (i != 0 ? "," : "") << "{\"task\":";
    put_task(os, lost[i].task, nullptr, now);
    os << ",\"why\":";
    put_string(os, lost[i].why);
    os << '}';
  }
  os << ']';

  // The lints, tokio-console's: computed from what the runtime tracks.
  os << ",\"lints\":[";
  const char* sep = "";
  for (const diag::stall_report& s : stalls) {
    if (s.in_callback) {
      continue; // no task to name: the stall itself is in "stalls"
    }
    os << sep << "{\"lint\":\"never_yielded\",\"task_id\":" << s.task_id << ",\"message\":";
    std::ostringstream m;
    m << "task " << s.task_id << (s.task_name.empty() ? "" : " '" + s.task_name + "'") << " ran "
      << (s.ended ? s.total : s.duration).count() / 1000000 << " ms" << (s.ended ? "" : " so far")
      << " without yielding (stall threshold " << rt.m_options.stall_threshold.count() << " ms)";
    put_string(os, m.str());
    os << '}';
    sep = ",";
  }
  for (const diag::task_info& t : tasks) {
    const auto it = seen_now.find(t.id);
    if (it == seen_now.end()) {
      continue;
    }
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second.since);
    if (waited <= options.long_wait) {
      continue;
    }
    os << sep << "{\"lint\":\"long_wait\",\"task_id\":" << t.id << ",\"message\":";
    std::ostringstream m;
    m << "task " << t.id << (t.name.empty() ? "" : " '" + t.name + "'") << " has waited on "
      << t.waiting_on;
    if (t.await_line != 0) {
      m << " at " << t.await_file << ":" << t.await_line;
    }
    m << " for " << waited.count() << " ms (over " << options.long_wait.count() << " ms)";
    put_string(os, m.str());
    os << '}';
    sep = ",";
  }
  for (const diag::task_info& t : tasks) {
    if (!woken_without_progress(t, options)) {
      continue;
    }
    os << sep << "{\"lint\":\"woken_without_progress\",\"task_id\":" << t.id << ",\"message\":";
    std::ostringstream m;
    m << "task " << t.id << (t.name.empty() ? "" : " '" + t.name + "'") << " woke itself "
      << t.self_wakes << " of the " << t.wakes << " times it was woken ("
      << t.self_wakes * 100 / t.wakes << "%, over " << options.self_wake_percent
      << "%; yield_now or waking what it then awaits): woken far more often than anything "
         "else lets it progress";
    put_string(os, m.str());
    os << '}';
    sep = ",";
  }
  os << "],\"lints_coming\":[]}";
  return os.str();
}

} // namespace detail

namespace diag {

std::string snapshot_json(const runtime& rt, const snapshot_options& options) {
  return detail::snapshot_json(detail::impl_of(rt), options, nullptr, nullptr);
}

} // namespace diag
} // namespace zokio
