#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/util/site.hpp>

#include <initializer_list>
#include <optional>
#include <vector>

// A signal listener watches its signals from construction to destruction, so a signal that
// arrives before anyone awaits `recv()` waits in the listener instead of killing the process.
//
// Ownership and threads: the listener owns a heap state (src/signal/listener.cpp) holding one libuv
// signal handle per signal number, started in the constructor and closed in the destructor, the
// signals received and not yet taken, and the one awaiter waiting in `recv()`. All of it is
// touched only on the loop thread of the worker that made the listener: libuv's signal callback
// runs there, and so do the tasks that may use the listener.

namespace zokio::detail {

struct signal_listener_state;

/// `co_await listener.recv()`: the next signal, in order of arrival.
class signal_recv_awaiter final : public counted_awaiter<signal_recv_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::signal;

  signal_recv_awaiter(signal_listener_state* state, const site& where) noexcept
      : counted_awaiter<signal_recv_awaiter>(where), m_state(state) {}

  bool ready() const noexcept;
  bool arm();
  bool withdraw() noexcept;
  int take();

private:
  signal_listener_state* m_state;
};

} // namespace zokio::detail

namespace zokio::signal {

/// Watches signals from the moment it is made until it is destroyed, as Tokio's `signal()`:
///
///     zokio::signal::listener stop{SIGINT, SIGTERM};
///     ...                                   // a SIGTERM that comes now is kept, not fatal
///     const int sig = co_await stop.recv(); // SIGINT or SIGTERM
///
/// While a listener watches a signal, the signal's default action (terminating the process for
/// SIGINT and SIGTERM) is replaced; once no listener watches it any more, libuv restores the
/// default. Several listeners, on any workers, all receive the same signal.
///
/// Signals are kept in order of arrival until `recv()` takes them; a signal that comes again
/// while it is still kept counts once (the kernel coalesces pending signals the same way).
///
/// Thread-safety: a listener belongs to the worker that made it and is used only by tasks on that
/// worker (debug builds check), one `recv()` at a time. It must not outlive its runtime; like
/// every I/O object it is only safe to destroy after `shutdown()`.
class listener {
public:
  /// Starts watching `signums` at once. Throws `no_runtime_error` outside a runtime's worker,
  /// `std::invalid_argument` for an empty list or a number outside 1..NSIG-1, and
  /// `std::system_error` for a signal that cannot be caught (SIGKILL, SIGSTOP).
  listener(std::initializer_list<int> signums);
  explicit listener(std::vector<int> signums);
  explicit listener(int signum) : listener(std::vector<int>(1, signum)) {}

  listener(listener&& o) noexcept;
  listener& operator=(listener&& o) noexcept;
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  /// Stops watching and closes the handles. No task may be waiting in `recv()`.
  ~listener();

  /// Waits for the next signal and returns its number; a signal that arrived earlier is returned
  /// at once. The listener must outlive the await.
  ///
  /// Cancellation: throws `operation_cancelled`; a signal that arrives afterwards stays in the
  /// listener for the next `recv()`, so none is lost. Throws `std::logic_error` when another
  /// task already waits on this listener.
  detail::signal_recv_awaiter recv(site where = site::current());

  /// The next signal already received, without waiting; `std::nullopt` when none is.
  std::optional<int> try_recv();

private:
  detail::signal_listener_state* m_state = nullptr;
};

} // namespace zokio::signal
