#pragma once

#include <zokio/task/task.hpp>
#include <zokio/util/site.hpp>

#include <vector>

namespace zokio::signal {

/// Waits until the process receives signal `signum` (e.g. SIGINT for a graceful shutdown). The
/// signal is watched by a libuv signal handle on the current worker from the moment the task
/// first suspends; a signal that arrives before that is not seen. Several waits, on any
/// workers, all see the same signal.
///
/// While a wait is pending the signal's default action (terminating the process, for SIGINT) is
/// replaced; once no wait watches it any more, libuv restores the default, so a second SIGINT
/// after the wait returned terminates the process as usual.
///
/// Thread-safety: await it from a task. Cancellation: the handle is stopped and closed and the
/// await throws `operation_cancelled`. Throws `std::invalid_argument` for a signal number
/// outside 1..NSIG-1 and `std::system_error` for one that cannot be caught (SIGKILL, SIGSTOP).
task<> wait(int signum, site where = site::current());

/// Waits until the process receives any of `signums` and returns the one that came first. As
/// `wait` otherwise.
task<int> wait_any(std::vector<int> signums, site where = site::current());

/// `co_await signal::wait_any(SIGINT, SIGTERM)`. Prefer it to a braced list inside `co_await`:
/// GCC 12 rejects `co_await wait_any({SIGINT, SIGTERM})` ("array used as initializer").
inline task<int> wait_any(int first, int second, site where = site::current()) {
  return wait_any(std::vector<int>{first, second}, where);
}

} // namespace zokio::signal
