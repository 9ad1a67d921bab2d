// The runtime suite (PROTOCOL.md): one io_context run by one thread, or, for multi_worker_*, one
// io_context run by W threads. Tasks are coroutines started with co_spawn.
#include "peer.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <cstdio>
#include <memory>
#include <thread>

#include <unistd.h>

namespace peer {
namespace {

using asio::awaitable;
using asio::use_awaitable;
using namespace std::chrono_literals;
using U64Channel = asio::experimental::channel<void(asio::error_code, std::uint64_t)>;
using SharedU64Channel =
    asio::experimental::concurrent_channel<void(asio::error_code, std::uint64_t)>;

/// Runs `root` on an io_context run by `workers` threads (this one and workers - 1 more) that
/// are already running when it starts; `root` gets the work guard and resets it when done.
template <typename Root>
void run_multi(unsigned workers, Root root) {
  asio::io_context ctx{static_cast<int>(workers)};
  auto guard = asio::make_work_guard(ctx);
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < workers; ++i) {
    threads.emplace_back([&ctx] {
      try {
        ctx.run();
      } catch (const std::exception& e) {
        check_failed(e.what());
      }
    });
  }
  asio::co_spawn(ctx, root(guard), rethrow);
  ctx.run();
  for (auto& t : threads) {
    t.join();
  }
}

/// On a fresh single-threaded runtime, from inside it: spawns `tasks` detached tasks, each made
/// by make(latch) and counting the latch down when done, and returns the seconds from the first
/// spawn until the last task was done.
template <typename Make>
double time_spawned(std::uint64_t tasks, Make make) {
  double seconds = 0;
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    DoneLatch latch(ex, tasks);
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < tasks; ++i) {
      spawn_detached(ex, make(latch));
    }
    co_await latch.wait();
    seconds = seconds_since(start);
  });
  return seconds;
}

awaitable<void> yield_once() {
  co_await asio::post(co_await asio::this_coro::executor, use_awaitable);
}

// --- spawn_many_local ---------------------------------------------------------------------

awaitable<void> count_down(DoneLatch& latch, std::uint64_t& ran) {
  ++ran;
  latch.count_down();
  co_return;
}

Result spawn_many_local(const Options& o) {
  std::uint64_t ran = 0;
  const double seconds =
      time_spawned(o.size, [&](DoneLatch& latch) { return count_down(latch, ran); });
  check(ran == o.size,
        "spawn_many_local: " + std::to_string(ran) + " tasks ran, not " + std::to_string(o.size));
  return Result(o.size, seconds);
}

// --- park_memory --------------------------------------------------------------------------

/// This process's resident set in bytes (/proc/self/statm), 0 where it cannot be read.
std::uint64_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) {
    return 0;
  }
  unsigned long size = 0;
  unsigned long resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

/// Parks on a timer that never expires; cancelling it releases every parked task.
awaitable<void> park(asio::steady_timer& go, std::uint64_t& parked, DoneLatch& latch) {
  ++parked;
  asio::error_code ec;
  co_await go.async_wait(asio::redirect_error(use_awaitable, ec));
  latch.count_down();
}

Result park_memory(const Options& o) {
  double seconds = 0;
  std::uint64_t rss0 = 0;
  std::uint64_t rss1 = 0;
  std::uint64_t parked = 0;
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer go(ex, asio::steady_timer::time_point::max());
    DoneLatch latch(ex, o.size);
    rss0 = rss_bytes();
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < o.size; ++i) {
      spawn_detached(ex, park(go, parked, latch));
    }
    while (parked != o.size) {
      co_await yield_once(); // each spawned task runs to its wait
    }
    seconds = seconds_since(start);
    rss1 = rss_bytes();
    go.cancel();
    co_await latch.wait();
  });
  check(rss0 != 0 && rss1 != 0, "park_memory: cannot read /proc/self/statm");
  Result r(o.size, seconds);
  r.extra.emplace_back("rss_growth_bytes", rss1 > rss0 ? rss1 - rss0 : 0);
  return r;
}

// --- spawn_many_remote --------------------------------------------------------------------

struct RemoteState {
  std::uint64_t total;
  asio::executor_work_guard<asio::io_context::executor_type> guard;
  std::uint64_t ran = 0;
  Clock::time_point end{};
};

awaitable<void> remote_task(RemoteState& s) {
  if (++s.ran == s.total) {
    s.end = Clock::now();
    s.guard.reset();
  }
  co_return;
}

Result spawn_many_remote(const Options& o) {
  asio::io_context ctx{1};
  RemoteState s{o.size, asio::make_work_guard(ctx)};
  std::atomic<bool> running{false};
  asio::post(ctx, [&running] {
    running.store(true);
    running.notify_one();
  });
  Clock::time_point start;
  // A plain thread outside the runtime: co_spawn from it posts each task to the io_context.
  std::thread spawner([&] {
    running.wait(false);
    start = Clock::now();
    for (std::uint64_t i = 0; i < o.size; ++i) {
      asio::co_spawn(ctx, remote_task(s), asio::detached);
    }
  });
  ctx.run();
  spawner.join();
  check(s.ran == o.size, "spawn_many_remote: " + std::to_string(s.ran) + " tasks ran, not " +
                             std::to_string(o.size));
  return Result(o.size, std::chrono::duration<double>(s.end - start).count());
}

// --- spawn_join ---------------------------------------------------------------------------

awaitable<std::uint64_t> value_of(std::uint64_t i) {
  co_return i;
}

Result spawn_join(const Options& o) {
  Result r(o.size);
  std::uint64_t sum = 0;
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < o.size; ++i) {
      sum += co_await asio::co_spawn(ex, value_of(i), use_awaitable);
    }
    r.seconds = seconds_since(start);
  });
  check(sum == o.size * (o.size - 1) / 2, "spawn_join: wrong sum of the joined results");
  return r;
}

// --- yield_many ---------------------------------------------------------------------------

constexpr std::uint64_t yield_tasks = 200;

awaitable<void> yielder(std::uint64_t yields, std::uint64_t& total, DoneLatch& latch) {
  auto ex = co_await asio::this_coro::executor;
  for (std::uint64_t i = 0; i < yields; ++i) {
    co_await asio::post(ex, use_awaitable);
    ++total;
  }
  latch.count_down();
}

Result yield_many(const Options& o) {
  std::uint64_t total = 0;
  std::uint64_t task = 0;
  const double seconds = time_spawned(yield_tasks, [&](DoneLatch& latch) {
    return yielder(share(o.size, yield_tasks, task++), total, latch);
  });
  check(total == o.size,
        "yield_many: " + std::to_string(total) + " yields, not " + std::to_string(o.size));
  return Result(o.size, seconds);
}

// --- chained_spawn ------------------------------------------------------------------------

awaitable<void> chain(std::uint64_t left, std::uint64_t& ran, DoneLatch& latch) {
  ++ran;
  if (left == 1) {
    latch.count_down();
  } else {
    spawn_detached(co_await asio::this_coro::executor, chain(left - 1, ran, latch));
  }
}

Result chained_spawn(const Options& o) {
  Result r(o.size);
  std::uint64_t ran = 0;
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    DoneLatch latch(ex, 1);
    const auto start = Clock::now();
    spawn_detached(ex, chain(o.size, ran, latch));
    co_await latch.wait();
    r.seconds = seconds_since(start);
  });
  check(ran == o.size,
        "chained_spawn: " + std::to_string(ran) + " tasks ran, not " + std::to_string(o.size));
  return r;
}

// --- ping_pong ----------------------------------------------------------------------------

// Asio has no oneshot: a channel of capacity 1 used once is one. Each side creates the oneshot
// it will receive on next before it answers, so the other side always finds it.
using Oneshot = U64Channel;
struct PingPong {
  std::unique_ptr<Oneshot> ping;
  std::unique_ptr<Oneshot> pong;
  std::uint64_t sum = 0;
};

awaitable<void> pinger(PingPong& s, std::uint64_t rounds, DoneLatch& latch) {
  auto ex = co_await asio::this_coro::executor;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    s.pong = std::make_unique<Oneshot>(ex, 1);
    check(s.ping->try_send(asio::error_code{}, i), "ping_pong: a oneshot send failed");
    s.sum += co_await s.pong->async_receive(use_awaitable);
  }
  latch.count_down();
}

awaitable<void> ponger(PingPong& s, std::uint64_t rounds, DoneLatch& latch) {
  auto ex = co_await asio::this_coro::executor;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    const std::uint64_t v = co_await s.ping->async_receive(use_awaitable);
    s.ping = std::make_unique<Oneshot>(ex, 1);
    check(s.pong->try_send(asio::error_code{}, v), "ping_pong: a oneshot send failed");
  }
  latch.count_down();
}

Result ping_pong(const Options& o) {
  Result r(o.size);
  PingPong s;
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    s.ping = std::make_unique<Oneshot>(ex, 1);
    DoneLatch latch(ex, 2);
    const auto start = Clock::now();
    spawn_detached(ex, ponger(s, o.size, latch));
    spawn_detached(ex, pinger(s, o.size, latch));
    co_await latch.wait();
    r.seconds = seconds_since(start);
  });
  check(s.sum == o.size * (o.size - 1) / 2, "ping_pong: wrong sum of the answers");
  return r;
}

// --- mpsc_uncontended ---------------------------------------------------------------------

Result mpsc_uncontended(const Options& o) {
  Result r(o.size);
  std::uint64_t sum = 0;
  run_single([&]() -> awaitable<void> {
    // Asio's channels are bounded: capacity N never makes a send wait, which is what an
    // unbounded channel's send is. try_send is its non-waiting send.
    U64Channel ch(co_await asio::this_coro::executor, o.size);
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < o.size; ++i) {
      check(ch.try_send(asio::error_code{}, i), "mpsc_uncontended: a send found no room");
    }
    for (std::uint64_t i = 0; i < o.size; ++i) {
      sum += co_await ch.async_receive(use_awaitable);
    }
    r.seconds = seconds_since(start);
  });
  check(sum == o.size * (o.size - 1) / 2, "mpsc_uncontended: wrong sum received");
  return r;
}

// --- mpsc_contended, multi_worker_mpsc ----------------------------------------------------

template <typename Channel>
awaitable<void> producer(Channel& ch, std::uint64_t first, std::uint64_t count) {
  for (std::uint64_t i = first; i < first + count; ++i) {
    co_await ch.async_send(asio::error_code{}, i, use_awaitable);
  }
}

template <typename Channel>
awaitable<std::uint64_t> consume(Channel& ch, std::uint64_t count) {
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    sum += co_await ch.async_receive(use_awaitable);
  }
  co_return sum;
}

Result mpsc_contended(const Options& o) {
  constexpr std::uint64_t producers = 4;
  Result r(o.size);
  std::uint64_t sum = 0;
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    U64Channel ch(ex, 1024);
    const auto start = Clock::now();
    for (std::uint64_t p = 0, first = 0; p < producers; ++p) {
      const std::uint64_t count = share(o.size, producers, p);
      asio::co_spawn(ex, producer(ch, first, count), rethrow);
      first += count;
    }
    sum = co_await consume(ch, r.ops);
    r.seconds = seconds_since(start);
  });
  check(sum == r.ops * (r.ops - 1) / 2, "mpsc_contended: wrong sum received");
  return r;
}

Result multi_worker_mpsc(const Options& o) {
  Result r(o.size);
  std::uint64_t sum = 0;
  run_multi(o.workers, [&](auto& guard) -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    SharedU64Channel ch(ex, 1024);
    const auto start = Clock::now();
    for (std::uint64_t p = 0, first = 0; p < o.workers; ++p) {
      const std::uint64_t count = share(o.size, o.workers, p);
      asio::co_spawn(ex, producer(ch, first, count), rethrow);
      first += count;
    }
    sum = co_await consume(ch, r.ops);
    r.seconds = seconds_since(start);
    guard.reset();
  });
  check(sum == r.ops * (r.ops - 1) / 2, "multi_worker_mpsc: wrong sum received");
  return r;
}

// --- mpsc_ping ----------------------------------------------------------------------------

awaitable<void> mpsc_echo(U64Channel& in, U64Channel& out, std::uint64_t rounds) {
  for (std::uint64_t i = 0; i < rounds; ++i) {
    co_await out.async_send(asio::error_code{}, co_await in.async_receive(use_awaitable),
                            use_awaitable);
  }
}

Result mpsc_ping(const Options& o) {
  Result r(o.size);
  std::uint64_t sum = 0;
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    U64Channel there(ex, 1);
    U64Channel back(ex, 1);
    const auto start = Clock::now();
    asio::co_spawn(ex, mpsc_echo(there, back, o.size), rethrow);
    for (std::uint64_t i = 0; i < o.size; ++i) {
      co_await there.async_send(asio::error_code{}, i, use_awaitable);
      sum += co_await back.async_receive(use_awaitable);
    }
    r.seconds = seconds_since(start);
  });
  check(sum == o.size * (o.size - 1) / 2, "mpsc_ping: wrong sum received");
  return r;
}

// --- semaphore_contended ------------------------------------------------------------------

// Asio has no semaphore. The idiomatic one is a channel holding one token per permit:
// acquire = co_await async_receive (FIFO when none is left), release = try_send (hands the
// token to the first waiter, or puts it back).
using Semaphore = SignalChannel;
constexpr std::uint64_t semaphore_tasks = 64;
constexpr std::uint64_t semaphore_permits = 8;

struct SemaphoreState {
  std::uint64_t held = 0;
  std::uint64_t max_held = 0;
  std::uint64_t acquired = 0;
};

awaitable<void> semaphore_user(Semaphore& sem, SemaphoreState& s, std::uint64_t loops,
                               DoneLatch& latch) {
  for (std::uint64_t i = 0; i < loops; ++i) {
    co_await sem.async_receive(use_awaitable);
    ++s.acquired;
    s.max_held = std::max(s.max_held, ++s.held);
    co_await yield_once();
    --s.held;
    check(sem.try_send(asio::error_code{}, Token{}),
          "semaphore_contended: more releases than permits");
  }
  latch.count_down();
}

Result semaphore_contended(const Options& o) {
  Result r(o.size);
  SemaphoreState s;
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    Semaphore sem(ex, semaphore_permits);
    for (std::uint64_t i = 0; i < semaphore_permits; ++i) {
      sem.try_send(asio::error_code{}, Token{});
    }
    DoneLatch latch(ex, semaphore_tasks);
    const auto start = Clock::now();
    for (std::uint64_t t = 0; t < semaphore_tasks; ++t) {
      spawn_detached(ex, semaphore_user(sem, s, share(o.size, semaphore_tasks, t), latch));
    }
    co_await latch.wait();
    r.seconds = seconds_since(start);
  });
  check(s.acquired == r.ops, "semaphore_contended: " + std::to_string(s.acquired) +
                                 " acquisitions, not " + std::to_string(r.ops));
  check(s.max_held <= semaphore_permits && s.held == 0,
        "semaphore_contended: " + std::to_string(s.max_held) + " permits held at once");
  return r;
}

// --- timer_timeout ------------------------------------------------------------------------

Result timer_timeout(const Options& o) {
  using namespace asio::experimental::awaitable_operators;
  Result r(o.size);
  std::uint64_t completed = 0;
  run_single([&]() -> awaitable<void> {
    asio::steady_timer timeout(co_await asio::this_coro::executor);
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < o.size; ++i) {
      // The operation races a 1 s timer; when it wins, || cancels the timer and waits for it.
      timeout.expires_after(1s);
      auto winner = co_await (yield_once() || timeout.async_wait(use_awaitable));
      completed += winner.index() == 0 ? 1 : 0;
    }
    r.seconds = seconds_since(start);
  });
  check(completed == o.size,
        "timer_timeout: " + std::to_string(o.size - completed) + " operations timed out");
  return r;
}

// --- timers_100k_1ms ----------------------------------------------------------------------

awaitable<void> sleeper(DoneLatch& latch, std::uint64_t& woke) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 1ms);
  co_await timer.async_wait(use_awaitable);
  ++woke;
  latch.count_down();
}

Result timers_100k_1ms(const Options& o) {
  std::uint64_t woke = 0;
  const double seconds =
      time_spawned(o.size, [&](DoneLatch& latch) { return sleeper(latch, woke); });
  check(woke == o.size, "timers_100k_1ms: " + std::to_string(woke) + " sleepers woke, not " +
                            std::to_string(o.size));
  return Result(o.size, seconds);
}

// --- multi_worker_spawn_many --------------------------------------------------------------

/// Counts the tasks, and the threads that ran any (reported as extra.threads_used).
struct SpreadCount {
  std::atomic<std::uint64_t> tasks{0};
  std::atomic<std::uint64_t> threads{0};
};

awaitable<void> shared_count_down(SharedDoneLatch& latch, SpreadCount& ran) {
  thread_local bool counted = false;
  if (!counted) {
    counted = true;
    ran.threads.fetch_add(1, std::memory_order_relaxed);
  }
  ran.tasks.fetch_add(1, std::memory_order_relaxed);
  latch.count_down();
  co_return;
}

Result multi_worker_spawn_many(const Options& o) {
  Result r(o.size);
  SpreadCount ran;
  run_multi(o.workers, [&](auto& guard) -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    SharedDoneLatch latch(ex, o.size);
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < o.size; ++i) {
      spawn_detached(ex, shared_count_down(latch, ran));
    }
    co_await latch.wait();
    r.seconds = seconds_since(start);
    guard.reset();
  });
  check(ran.tasks.load() == o.size, "multi_worker_spawn_many: " + std::to_string(ran.tasks.load()) +
                                        " tasks ran, not " + std::to_string(o.size));
  r.extra.emplace_back("threads_used", ran.threads.load());
  return r;
}

constexpr Workload workloads[] = {
    {"spawn_many_local", 100000, spawn_many_local},
    {"spawn_many_remote", 100000, spawn_many_remote},
    {"spawn_join", 100000, spawn_join},
    {"yield_many", 200000, yield_many},
    {"chained_spawn", 100000, chained_spawn},
    {"ping_pong", 100000, ping_pong},
    {"mpsc_uncontended", 1000000, mpsc_uncontended},
    {"mpsc_contended", 400000, mpsc_contended},
    {"mpsc_ping", 100000, mpsc_ping},
    {"semaphore_contended", 100000, semaphore_contended},
    {"timer_timeout", 100000, timer_timeout},
    {"timers_100k_1ms", 100000, timers_100k_1ms},
    {"park_memory", 100000, park_memory},
    {"multi_worker_spawn_many", 100000, multi_worker_spawn_many},
    {"multi_worker_mpsc", 400000, multi_worker_mpsc},
};

} // namespace

std::span<const Workload> runtime_workloads() {
  return workloads;
}

} // namespace peer
