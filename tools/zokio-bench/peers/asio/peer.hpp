// zokio-bench-peer-asio: standalone Asio 1.22 with C++20 coroutines, one program per repetition
// (../PROTOCOL.md). What every workload file shares: the result of a run, the checks, the clock,
// and the Asio idioms the workloads are written with.
#pragma once

#include <asio.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/experimental/concurrent_channel.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace peer {

using Clock = std::chrono::steady_clock;

/// What one repetition measured (PROTOCOL.md, "Output of --run").
struct Result {
  explicit Result(std::uint64_t ops_ = 0, double seconds_ = 0) : ops(ops_), seconds(seconds_) {}
  std::uint64_t ops;
  double seconds;
  /// Every sample in microseconds; reported as latency_us when not empty.
  std::vector<double> latency_us;
  /// Reported under "extra": shown by the driver, not compared.
  std::vector<std::pair<std::string, std::uint64_t>> extra;
};

struct Options {
  std::uint64_t size = 0;
  unsigned workers = 1;
};

/// One workload of --list: its name, the protocol's default size, and the function that runs it.
struct Workload {
  const char* name;
  std::uint64_t default_size;
  Result (*run)(const Options&);
};

/// Part i of `total` split over `parts` as evenly as can be (the first total % parts parts get
/// one more), so that a workload split over tasks or connections does all N operations.
constexpr std::uint64_t share(std::uint64_t total, std::uint64_t parts, std::uint64_t i) {
  return total / parts + (i < total % parts ? 1 : 0);
}

std::span<const Workload> runtime_workloads();
std::span<const Workload> io_workloads();

/// --serve http: returns the exit code.
int serve_http(unsigned short port, unsigned workers);

/// The workload's own check failed: one line on stderr, exit 1.
[[noreturn]] void check_failed(const std::string& what);
inline void check(bool ok, const std::string& what) {
  if (!ok) {
    check_failed(what);
  }
}

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

inline double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

/// The completion handler of the root coroutines: an exception leaves io_context::run() and
/// reaches main (exit 1) instead of vanishing as it would with asio::detached.
inline void rethrow(const std::exception_ptr& e) {
  if (e) {
    std::rethrow_exception(e);
  }
}

/// Runs `root` (a callable returning awaitable<void>) on a fresh single-threaded io_context
/// until everything it started is done. The concurrency hint 1 tells Asio one thread runs it.
template <typename Root>
void run_single(Root root) {
  asio::io_context ctx{1};
  asio::co_spawn(ctx, std::move(root), rethrow);
  ctx.run();
}

/// Spawns a detached task that starts from the executor's queue, as a spawned task does in Tokio
/// and Zokio. Asio 1.22's co_spawn dispatches: called inside the io_context it runs the task
/// inline up to its first suspension before returning, so N tasks "spawned at once" would run
/// one by one inside the spawn loop, all on the spawner's thread, and a chain of N spawns would
/// recurse N deep on the stack. Posting a handler that calls co_spawn is the Asio way to start
/// it later.
template <typename Executor, typename T>
void spawn_detached(const Executor& ex, asio::awaitable<T> task) {
  asio::post(ex, [ex, task = std::move(task)]() mutable {
    asio::co_spawn(ex, std::move(task), asio::detached);
  });
}

/// What the signal channels carry. Asio 1.22's channel<void(error_code)> does not compile (two
/// channel_traits specialisations match it; fixed in later Asio), so they carry an empty Token.
struct Token {};
using SignalChannel = asio::experimental::channel<void(asio::error_code, Token)>;
using SharedSignalChannel = asio::experimental::concurrent_channel<void(asio::error_code, Token)>;

/// A count-down latch written the way Asio users signal "all done" to a waiting coroutine: a
/// counter, and a channel of capacity 1 the last count_down() sends on. Single-threaded
/// (experimental::channel, no lock).
class DoneLatch {
public:
  DoneLatch(const asio::any_io_executor& ex, std::uint64_t count) : count_(count), done_(ex, 1) {}
  void count_down() {
    if (--count_ == 0) {
      done_.try_send(asio::error_code{}, Token{});
    }
  }
  asio::awaitable<void> wait() { co_await done_.async_receive(asio::use_awaitable); }

private:
  std::uint64_t count_;
  SignalChannel done_;
};

/// The same for coroutines on several threads: an atomic counter and a concurrent_channel.
class SharedDoneLatch {
public:
  SharedDoneLatch(const asio::any_io_executor& ex, std::uint64_t count)
      : count_(count), done_(ex, 1) {}
  void count_down() {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      done_.try_send(asio::error_code{}, Token{});
    }
  }
  asio::awaitable<void> wait() { co_await done_.async_receive(asio::use_awaitable); }

private:
  std::atomic<std::uint64_t> count_;
  SharedSignalChannel done_;
};

} // namespace peer
