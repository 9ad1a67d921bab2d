#pragma once

#include <zokio/util/site.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace zokio {

class runtime;

namespace diag {

/// One live task as a dump shows it.
struct task_info {
  std::uint64_t id = 0;
  std::string name;
  unsigned worker = 0;
  site spawn_site;
  std::string state;      ///< scheduled, running, suspended
  std::string waiting_on; ///< wait kind while suspended: timer, join, oneshot, event, ...
  bool external = false;  ///< the wait can end without any task acting (timer, I/O, ...)
  std::string await_file; ///< the `co_await` site, where known
  std::uint32_t await_line = 0;
  std::uint64_t waits_for_task = 0; ///< for joins: the id of the task joined (a wait-for edge)
  std::uint64_t resumes = 0;
  /// Times the task was made ready again after its first run (each such wake leads to one
  /// resume: the resumes but the first, plus one while it is scheduled).
  std::uint64_t wakes = 0;
  /// Of those, the wakes the task issued for itself while it ran (`yield_now`): a task whose
  /// wakes are mostly its own is woken far more often than anything else lets it progress.
  std::uint64_t self_wakes = 0;
  std::chrono::nanoseconds busy{0};
  std::chrono::nanoseconds age{0};
};

/// The live tasks of `rt`, by worker then age. Callable from any thread, also while the runtime
/// runs; each record is read with relaxed atomics, so a running task may show a state a moment
/// old.
std::vector<task_info> task_dump(const runtime& rt);

/// The dump as text, one task a line.
std::string format_task_dump(const std::vector<task_info>& tasks);

} // namespace diag
} // namespace zokio
