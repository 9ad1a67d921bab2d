#pragma once
// The Zokio peer of zokio-bench (tools/zokio-bench/peers/PROTOCOL.md): what every workload
// shares. A workload gets a runtime made for it and the size N; it runs its measured part once,
// checks its own result (throwing check_failed when a count or sum is wrong) and returns what it
// measured. main.cpp makes the runtime, reads its counters, shuts it down and prints the line.

#include <zokio/zokio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace zokio_peer {

using clock = std::chrono::steady_clock;

/// A workload's own check failed (a count, a sum, an echo): exit 1 with this message.
class check_failed : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Throws check_failed with `what`.
[[noreturn]] inline void fail(const std::string& what) {
  throw check_failed(what);
}

/// Throws check_failed with `what` unless `ok`. For messages put together from values, use
/// `if (!ok) fail(...)`, so that a passing check builds no string.
inline void check(bool ok, const char* what) {
  if (!ok) {
    fail(what);
  }
}

/// What one repetition measured.
struct measurement {
  std::uint64_t ops = 0;
  double seconds = 0; ///< wall time of the measured part only
  /// Samples in microseconds (tcp_ping_pong: round trips; timer_precision_*: lateness); the
  /// line's `latency_us` is computed from all of them. Empty: no `latency_us`.
  std::vector<double> latency_us;
  /// Shown under "extra": name and a JSON number.
  std::vector<std::pair<std::string, double>> extra;
};

/// A measurement without latency samples.
inline measurement measured(std::uint64_t ops, double seconds) {
  measurement m;
  m.ops = ops;
  m.seconds = seconds;
  return m;
}

inline double seconds_since(clock::time_point t0) {
  return std::chrono::duration<double>(clock::now() - t0).count();
}

/// A count that tasks (on any worker) bring down; the one that reaches zero sets `done`.
struct countdown {
  explicit countdown(std::uint64_t n) : left(n) {}
  void arrive() noexcept {
    if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      done.set();
    }
  }
  std::atomic<std::uint64_t> left;
  zokio::event done;
};

/// Awaits every handle, also after one of them failed (their tasks may point into the caller's
/// frame), and returns the sum of their values; then rethrows the first failure.
template <typename T>
zokio::task<std::uint64_t> join_all(std::vector<zokio::join_handle<T>>& handles) {
  std::uint64_t sum = 0;
  std::exception_ptr first_error;
  for (zokio::join_handle<T>& h : handles) {
    try {
      if constexpr (std::is_void_v<T>) {
        co_await h;
      } else {
        sum += co_await h;
      }
    } catch (...) {
      if (!first_error) {
        first_error = std::current_exception();
      }
    }
  }
  handles.clear();
  if (first_error) {
    std::rethrow_exception(first_error);
  }
  co_return sum;
}

/// One workload: `run(rt, n, workers)` on a runtime made with `workers` workers (1 unless the
/// workload is multi-worker).
struct workload {
  const char* name;
  bool multi_worker; ///< uses --workers W; the others run on one worker
  std::uint64_t min_size;
  measurement (*run)(zokio::runtime& rt, std::uint64_t n);
};

/// The runtime suite (runtime_workloads.cpp) and the io suite (io_workloads.cpp).
const std::vector<workload>& runtime_workloads();
const std::vector<workload>& io_workloads();

/// `--serve http --port P --workers W` (http_serve.cpp): the process's exit code.
int serve_http(unsigned port, unsigned workers);

} // namespace zokio_peer
