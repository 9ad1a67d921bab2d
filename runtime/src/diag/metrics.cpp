#include <zokio/diag/metrics.hpp>

#include <sstream>

namespace zokio::diag {

namespace {

template <typename F>
void for_each_counter(const worker_counters& c, F&& f) {
  f("tasks_spawned", c.tasks_spawned, true);
  f("tasks_completed", c.tasks_completed, true);
  f("tasks_failed", c.tasks_failed, true);
  f("tasks_cancelled", c.tasks_cancelled, true);
  f("tasks_live", c.tasks_live, false);
  f("awaits", c.awaits, true);
  f("awaits_inline", c.awaits_inline, true);
  f("awaits_suspended", c.awaits_suspended, true);
  f("awaits_cancelled", c.awaits_cancelled, true);
  f("resumes_from_loop", c.resumes_from_loop, true);
  f("resumes_from_task", c.resumes_from_task, true);
  f("resumes_cross_thread", c.resumes_cross_thread, true);
  f("sync_fallbacks", c.sync_fallbacks, true);
  f("loop_iterations", c.loop_iterations, true);
  f("stalls", c.stalls, true);
  f("deadlocks_detected", c.deadlocks_detected, true);
  f("lost_wakeups", c.lost_wakeups, true);
  f("timers_pending", c.timers_pending, false);
  f("blocking_in_flight", c.blocking_in_flight, false);
  f("handles_active", c.handles_active, false);
}

void object(std::ostringstream& os, const worker_counters& c) {
  os << '{';
  const char* sep = "";
  for_each_counter(c, [&](const char* name, std::uint64_t v, bool) {
    os << sep << '"' << name << "\":" << v;
    sep = ",";
  });
  os << '}';
}

} // namespace

std::string to_json(const runtime_stats& s) {
  std::ostringstream os;
  object(os, s);
  std::string out = os.str();
  out.pop_back(); // reopen the object to add the workers
  std::ostringstream ws;
  ws << ",\"workers\":[";
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    if (i != 0) {
      ws << ',';
    }
    object(ws, s.workers[i]);
  }
  ws << "]}";
  return out + ws.str();
}

std::string to_prometheus(const runtime_stats& s) {
  std::ostringstream os;
  for_each_counter(s, [&](const char* name, std::uint64_t, bool monotonic) {
    os << "# TYPE zokio_" << name << (monotonic ? "_total counter\n" : " gauge\n");
    for (std::size_t i = 0; i < s.workers.size(); ++i) {
      for_each_counter(s.workers[i], [&](const char* n2, std::uint64_t v, bool) {
        if (n2 == name) {
          os << "zokio_" << name << (monotonic ? "_total" : "") << "{worker=\"" << i << "\"} " << v
             << '\n';
        }
      });
    }
  });
  return os.str();
}

} // namespace zokio::diag
