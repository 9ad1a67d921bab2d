#pragma once

#include <zokio/detail/task_record.hpp>
#include <zokio/diag/console.hpp>
#include <zokio/diag/task_dump.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// The runtime side of the live console and of the SIGQUIT dumps: one snapshot serializer
// (snapshot.cpp), the census of open libuv handles (asked of each worker on its own thread), and
// the console's socket server (console.cpp), started and stopped by runtime_impl.

namespace zokio::detail {

class runtime_impl;

/// The name of the census tasks, left out of every task list the dumps and the console show.
inline constexpr std::string_view census_task_name = "zokio.console";
inline constexpr detail::fixed_name census_fixed_name{census_task_name};

/// Leaves the census tasks out of `tasks`.
void drop_census_tasks(std::vector<diag::task_info>& tasks);

/// The open libuv handles of each worker, by type, as uv_walk on the worker's own thread sees
/// them (the runtime's own handles included). Asking is a short task spawned on each worker;
/// a worker still owing the answer to an earlier question is not asked again.
class handle_census {
public:
  struct result {
    /// One entry per worker; `answered` false when it did not answer within the wait.
    struct per_worker {
      bool answered = false;
      std::map<std::string, std::uint64_t> by_type;
    };
    std::vector<per_worker> workers;
    std::map<std::string, std::uint64_t> by_type; ///< Summed over the workers that answered.
    bool complete() const noexcept;
  };

  explicit handle_census(runtime_impl& rt);
  ~handle_census();
  handle_census(const handle_census&) = delete;
  handle_census& operator=(const handle_census&) = delete;

  /// Asks every worker not already owing an answer (spawns the census task on it).
  void ask();
  /// The answers, waiting until `deadline` for the workers that still owe theirs.
  result collect(std::chrono::steady_clock::time_point deadline);

  struct slot;

private:
  runtime_impl& m_rt;
  std::vector<std::shared_ptr<slot>> m_slots;
};

/// What the console remembers between snapshots: since when it has seen each task waiting on
/// the same thing (for wait times and the long-wait lint).
struct wait_history {
  struct seen {
    std::uint64_t resumes = 0;
    std::string waiting_on;
    std::string await_file;
    std::uint32_t await_line = 0;
    std::chrono::steady_clock::time_point since;
  };
  std::map<std::uint64_t, seen> tasks;
};

/// The snapshot as one JSON line (schema zokio.console/1). `history` null: no wait times.
/// `census` null: a census of its own for this call.
std::string snapshot_json(runtime_impl& rt, const diag::snapshot_options& options,
                          wait_history* history, handle_census* census);

/// The handles of a census as text ("open handles: async=2 timer=1; worker 0 did not answer").
std::string format_handles(const handle_census::result& r);

/// Starts the console if `runtime_options::console` or ZOKIO_CONSOLE names a path. A path it
/// cannot listen on is reported on standard error in one line; the runtime runs without it.
void start_console(runtime_impl& rt);
/// Stops the console of `rt` (if any), closes its connections and removes its socket file.
/// Idempotent.
void stop_console(runtime_impl& rt) noexcept;

} // namespace zokio::detail
