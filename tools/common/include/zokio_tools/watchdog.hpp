#pragma once

// The one process watchdog of the tools (ROADMAP.md, "Shared pieces, built once"; DESIGN.md,
// "Tools: the shared contract"): the tool re-executes itself (/proc/self/exe, never fork() of a
// threaded process) with a hidden flag naming a pipe, and the parent watches the child:
//
//   - the child writes a heartbeat byte to the pipe while its work makes progress
//     (`watchdog_heartbeat::beat`); what "progress" means is the tool's to decide (zokio-soak
//     beats only while every worker's loop turns);
//   - no heartbeat for `silence_limit`: a hang. The parent sends `dump_signal` (SIGUSR2) to the
//     child, which may print a task dump and write its partial report and exit by itself; after
//     `kill_grace` the parent sends SIGKILL. Either way the parent exits 3;
//   - SIGINT, SIGTERM and SIGUSR1 to the parent are forwarded to the child (which is in a process
//     group of its own, so a terminal's Ctrl-C reaches it once, through the parent);
//   - the child's exit code is the parent's; a child killed by a signal is exit 4 (an error of
//     the tool itself), with one line naming the signal.
//
// The parent starts no thread and touches no runtime: it only polls the pipe and a signalfd.

#include <chrono>
#include <string>

namespace zokio::tools {

struct watchdog_options {
  std::string tool = "zokio-tool"; ///< for messages: "<tool>: watchdog: ..."
  /// The hidden flag the child gets, followed by the pipe's descriptor number:
  /// `<argv...> --watchdog-child 5`.
  std::string child_flag = "--watchdog-child";
  /// No heartbeat for this long is a hang.
  std::chrono::milliseconds silence_limit{std::chrono::seconds(60)};
  /// After the dump signal, how long the child may take to exit by itself.
  std::chrono::milliseconds kill_grace{std::chrono::seconds(10)};
  /// Sent to the child on a hang, before SIGKILL.
  int dump_signal = 0; ///< 0: SIGUSR2
};

/// How a watched run ended, for a parent that reports it: `signal` is the signal that killed the
/// child (0 if it exited), `hang` is true when the watchdog declared a hang.
struct watched_exit {
  int signal = 0;
  bool hang = false;
};

/// Runs the tool again as a watched child with the same arguments plus the hidden flag, and
/// returns the exit code the parent must exit with. Errors starting the child: exit 4, with one
/// line on standard error. `how`, when given, is filled in.
int run_watched(int argc, char** argv, const watchdog_options& options,
                watched_exit* how = nullptr);

/// The child's end of the pipe. beat() is async-signal-safe and thread-safe (one write(2)); a
/// parent that went away is ignored (SIGPIPE must be ignored or blocked: the constructor ignores
/// it).
class watchdog_heartbeat {
public:
  watchdog_heartbeat() noexcept = default; ///< no parent: beat() does nothing
  explicit watchdog_heartbeat(int fd) noexcept;
  void beat() const noexcept;
  bool watched() const noexcept { return m_fd >= 0; }

private:
  int m_fd = -1;
};

} // namespace zokio::tools
