#pragma once

#include <zokio/signal/listener.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/site.hpp>

#include <vector>

namespace zokio::signal {

/// Waits until the process receives signal `signum` (e.g. SIGINT for a graceful shutdown): a
/// `listener` that lives for one signal. The task is lazy, so the signal is watched only from the
/// moment it first runs (when it is awaited or spawned and scheduled): a signal that arrives
/// before that takes its default action. To be sure of a signal that may come early, make a
/// `listener` first and `co_await l.recv()` later. Several waits, on any workers, all see the
/// same signal.
///
/// While a wait is pending the signal's default action (terminating the process, for SIGINT) is
/// replaced; once no wait or listener watches it any more, libuv restores the default, so a
/// second SIGINT after the wait returned terminates the process as usual.
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
