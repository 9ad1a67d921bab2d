#pragma once

// Child processes under a watchdog: every peer run, every server and every wrk is one. Each
// child gets a process group of its own, so a launcher script and what it started are killed
// together; nothing here waits without a deadline.

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace zokio::bench {

using clock = std::chrono::steady_clock;

/// True once SIGINT or SIGTERM reached the driver (install_stop_handlers()).
bool stop_requested() noexcept;
/// SIGINT and SIGTERM set stop_requested() instead of ending the driver, so that the child
/// running is killed and the results so far are written.
void install_stop_handlers();

struct child_result {
  bool started = false;     ///< false: the program could not be started (error says why)
  bool timed_out = false;   ///< the watchdog killed it
  bool interrupted = false; ///< killed because the driver was asked to stop
  int exit_code = -1;       ///< when it exited normally
  int signal = 0;           ///< when a signal ended it
  std::string out;          ///< standard output (at most out_limit bytes kept)
  bool out_truncated = false;
  std::string err_tail; ///< the end of standard error
  double wall_seconds = 0;
  double cpu_seconds = 0; ///< user + system of the child and its waited-for children
  std::string error;      ///< when !started
};

/// Runs argv to completion or until `timeout`, whichever comes first (then SIGKILL to its
/// process group). Standard input is /dev/null. `cpu` >= 0 pins the child to that CPU.
child_result run_child(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                       int cpu = -1, std::size_t out_limit = 1 << 20);

/// A long-running child (a server): its standard output is read line by line.
class server_child {
public:
  server_child() = default;
  server_child(const server_child&) = delete;
  server_child& operator=(const server_child&) = delete;
  ~server_child(); ///< kills the group if it still runs

  /// Starts argv; false with error() set when it cannot. `cpu` pins the child to that CPU
  /// (-1: no pinning).
  bool start(const std::vector<std::string>& argv, int cpu = -1);
  /// The next line of its standard output, or nothing at the deadline or at EOF.
  std::optional<std::string> read_line(clock::time_point deadline);
  /// Sends `sig` to the child, then waits until the deadline; the exit status when it ended
  /// (exit code, or 128 + signal), nothing when it did not (it is then killed).
  std::optional<int> stop(int sig, clock::time_point deadline);
  pid_t pid() const noexcept { return m_pid; }
  const std::string& error() const noexcept { return m_error; }
  std::string err_tail();

private:
  pid_t m_pid = -1;
  int m_out = -1;
  int m_err = -1;
  std::string m_buffer;
  std::string m_err_text;
  std::string m_error;
  void drain_err();
};

/// Starts argv with stdout/stderr into pipes: used by run_child and server_child. `cpu` >= 0
/// pins the child (the affinity is inherited through posix_spawn).
pid_t spawn(const std::vector<std::string>& argv, int& out_fd, int& err_fd, int cpu,
            std::string& error);

/// The last non-empty line of `text`, at most 200 characters.
std::string last_line(const std::string& text);

} // namespace zokio::bench
