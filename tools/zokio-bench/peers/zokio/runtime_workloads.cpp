// The runtime suite of the Zokio peer (PROTOCOL.md, "runtime"): scheduler, channels, sync
// primitives and timers, written as a user of the public API would write them. Each workload
// times its measured part inside the runtime with steady_clock; making the runtime and shutting
// it down are main.cpp's, outside the measurement.

#include "peer.hpp"

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

using namespace std::chrono_literals;

namespace zokio_peer {
namespace {

// --- spawn_many_local, multi_worker_spawn_many ------------------------------------------------

zokio::task<void> arrive(countdown* c) {
  c->arrive();
  co_return;
}

/// Spawns `n` detached tasks `body(&c)`, spread over the first `spread` workers, and waits until
/// each has arrived at the countdown.
zokio::task<measurement> spawn_detached(std::uint64_t n, unsigned spread,
                                        zokio::task<void> (*body)(countdown*)) {
  countdown c(n);
  const auto t0 = clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    if (spread == 1) {
      zokio::spawn(body(&c)).detach();
    } else {
      zokio::spawn_on(static_cast<unsigned>(i % spread), body(&c)).detach();
    }
  }
  co_await c.done.wait();
  const double s = seconds_since(t0);
  if (c.left.load() != 0) {
    fail("tasks left: " + std::to_string(c.left.load()));
  }
  co_return measured(n, s);
}

measurement run_spawn_many_local(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(spawn_detached(n, 1, arrive));
}

measurement run_multi_worker_spawn_many(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(spawn_detached(n, rt.workers(), arrive));
}

// --- spawn_many_remote -------------------------------------------------------------------------

/// Waits for the remote spawns; `go` releases the spawning thread once the clock runs.
zokio::task<measurement> await_remote(countdown* c, std::atomic<bool>* go) {
  const auto t0 = clock::now();
  go->store(true, std::memory_order_release);
  go->notify_one();
  co_await c->done.wait();
  co_return measured(0, seconds_since(t0));
}

/// A plain thread outside the runtime spawns `n` tasks onto it with `runtime::spawn`; worker 0,
/// driven by block_on on the main thread, runs them as they come.
measurement run_spawn_many_remote(zokio::runtime& rt, std::uint64_t n) {
  countdown c(n);
  std::atomic<bool> go{false};
  std::thread spawner([&rt, &c, &go, n] {
    go.wait(false, std::memory_order_acquire);
    for (std::uint64_t i = 0; i < n; ++i) {
      rt.spawn(arrive(&c)).detach();
    }
  });
  measurement m;
  try {
    m = rt.block_on(await_remote(&c, &go));
  } catch (...) {
    go = true;
    go.notify_one();
    spawner.join();
    throw;
  }
  spawner.join();
  if (c.left.load() != 0) {
    fail("tasks left: " + std::to_string(c.left.load()));
  }
  m.ops = n;
  return m;
}

// --- spawn_join ---------------------------------------------------------------------------------

zokio::task<std::uint64_t> value_of(std::uint64_t i) {
  co_return i;
}

zokio::task<measurement> spawn_join(std::uint64_t n) {
  std::uint64_t sum = 0;
  const auto t0 = clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    sum += co_await zokio::spawn(value_of(i));
  }
  const double s = seconds_since(t0);
  if (sum != n * (n - 1) / 2) {
    fail("sum of joined values: " + std::to_string(sum));
  }
  co_return measured(n, s);
}

measurement run_spawn_join(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(spawn_join(n));
}

// --- yield_many ---------------------------------------------------------------------------------

constexpr std::uint64_t k_yield_tasks = 200;

zokio::task<std::uint64_t> yield_times(std::uint64_t n) {
  std::uint64_t done = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    co_await zokio::yield_now();
    ++done;
  }
  co_return done;
}

zokio::task<measurement> yield_many(std::uint64_t n) {
  const std::uint64_t per_task = n / k_yield_tasks;
  std::vector<zokio::join_handle<std::uint64_t>> tasks;
  tasks.reserve(k_yield_tasks);
  const auto t0 = clock::now();
  for (std::uint64_t i = 0; i < k_yield_tasks; ++i) {
    tasks.push_back(zokio::spawn(yield_times(per_task)));
  }
  const std::uint64_t yields = co_await join_all(tasks);
  const double s = seconds_since(t0);
  if (yields != per_task * k_yield_tasks) {
    fail("yields: " + std::to_string(yields));
  }
  co_return measured(yields, s);
}

measurement run_yield_many(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(yield_many(n));
}

// --- chained_spawn ------------------------------------------------------------------------------

/// One link: spawns the next (detached) until `left` is 0; the last one signals the root.
zokio::task<void> link(std::uint64_t left, countdown* c) {
  c->arrive();
  if (left > 1) {
    zokio::spawn(link(left - 1, c)).detach();
  }
  co_return;
}

zokio::task<measurement> chained_spawn(std::uint64_t n) {
  countdown c(n);
  const auto t0 = clock::now();
  zokio::spawn(link(n, &c)).detach();
  co_await c.done.wait();
  const double s = seconds_since(t0);
  if (c.left.load() != 0) {
    fail("links left: " + std::to_string(c.left.load()));
  }
  co_return measured(n, s);
}

measurement run_chained_spawn(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(chained_spawn(n));
}

// --- ping_pong ----------------------------------------------------------------------------------

struct pong_msg;

/// Ping to pong: the value, and the oneshot the pong answers on.
struct ping_msg {
  std::uint64_t value;
  zokio::oneshot_sender<pong_msg> reply;
};

/// Pong to ping: the value + 1, and the oneshot the next ping goes on.
struct pong_msg {
  std::uint64_t value;
  zokio::oneshot_sender<ping_msg> next;
};

zokio::task<void> ponger(zokio::oneshot_receiver<ping_msg> rx, std::uint64_t rounds) {
  for (std::uint64_t i = 0; i < rounds; ++i) {
    zokio::result<ping_msg> p = co_await rx;
    check(p.ok(), "pong: the ping was lost");
    auto [next_tx, next_rx] = zokio::make_oneshot<ping_msg>();
    const bool sent = p.value().reply.send(pong_msg{p.value().value + 1, std::move(next_tx)});
    check(sent, "pong: the ping's receiver was gone");
    rx = std::move(next_rx);
  }
}

/// Two tasks, `n` rounds; each round a fresh oneshot each way (the next one travels inside the
/// message of the current one).
zokio::task<measurement> ping_pong(std::uint64_t n) {
  auto [first_tx, first_rx] = zokio::make_oneshot<ping_msg>();
  zokio::oneshot_sender<ping_msg> to_pong = std::move(first_tx);
  std::uint64_t sum = 0;
  const auto t0 = clock::now();
  zokio::join_handle<void> pong = zokio::spawn(ponger(std::move(first_rx), n));
  for (std::uint64_t i = 0; i < n; ++i) {
    auto [reply_tx, reply_rx] = zokio::make_oneshot<pong_msg>();
    check(to_pong.send(ping_msg{i, std::move(reply_tx)}), "ping: the pong was gone");
    zokio::result<pong_msg> r = co_await reply_rx;
    check(r.ok() && r.value().value == i + 1, "ping: no pong, or a wrong one");
    sum += r.value().value;
    to_pong = std::move(r.value().next);
  }
  co_await pong;
  const double s = seconds_since(t0);
  if (sum != n * (n + 1) / 2) {
    fail("sum of pongs: " + std::to_string(sum));
  }
  co_return measured(n, s);
}

measurement run_ping_pong(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(ping_pong(n));
}

// --- mpsc_uncontended ---------------------------------------------------------------------------

zokio::task<measurement> mpsc_uncontended(std::uint64_t n) {
  auto [tx, rx] = zokio::make_channel<std::uint64_t>(0); // unbounded
  std::uint64_t sum = 0;
  std::uint64_t received = 0;
  const auto t0 = clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    check(co_await tx.send(i), "send on a closed channel");
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    std::optional<std::uint64_t> v = co_await rx.recv();
    check(v.has_value() && *v == i, "value missing or out of order");
    sum += *v;
    ++received;
  }
  const double s = seconds_since(t0);
  if (!(received == n && sum == n * (n - 1) / 2)) {
    fail("sum of received values: " + std::to_string(sum));
  }
  co_return measured(n, s);
}

measurement run_mpsc_uncontended(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(mpsc_uncontended(n));
}

// --- mpsc_contended, multi_worker_mpsc ----------------------------------------------------------

/// Sends first, first + 1, ... (n values).
zokio::task<void> producer(zokio::sender<std::uint64_t> tx, std::uint64_t first, std::uint64_t n) {
  for (std::uint64_t i = first; i < first + n; ++i) {
    check(co_await tx.send(i), "send on a closed channel");
  }
}

/// `producers` tasks (on workers 0 .. spread-1 in turn) send n / producers values each into one
/// bounded(1024) channel; this task receives them all.
zokio::task<measurement> mpsc_many(std::uint64_t n, unsigned producers, unsigned spread) {
  const std::uint64_t per = n / producers;
  const std::uint64_t total = per * producers;
  auto [tx, rx] = zokio::make_channel<std::uint64_t>(1024);
  std::vector<zokio::join_handle<void>> tasks;
  tasks.reserve(producers);
  const auto t0 = clock::now();
  for (unsigned p = 0; p < producers; ++p) {
    if (spread == 1) {
      tasks.push_back(zokio::spawn(producer(tx, p * per, per)));
    } else {
      tasks.push_back(zokio::spawn_on(p % spread, producer(tx, p * per, per)));
    }
  }
  { auto last = std::move(tx); } // the channel closes when the producers' senders go
  std::uint64_t received = 0;
  std::uint64_t sum = 0;
  while (std::optional<std::uint64_t> v = co_await rx.recv()) {
    ++received;
    sum += *v;
  }
  co_await join_all(tasks);
  const double s = seconds_since(t0);
  if (!(received == total && sum == total * (total - 1) / 2)) {
    fail("received " + std::to_string(received) + " values summing to " + std::to_string(sum));
  }
  co_return measured(total, s);
}

measurement run_mpsc_contended(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(mpsc_many(n, 4, 1));
}

measurement run_multi_worker_mpsc(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(mpsc_many(n, rt.workers(), rt.workers()));
}

// --- mpsc_ping ----------------------------------------------------------------------------------

/// Answers every value with value + 1 until the channel closes; returns how many it answered.
zokio::task<std::uint64_t> mpsc_ponger(zokio::receiver<std::uint64_t> rx,
                                       zokio::sender<std::uint64_t> tx) {
  std::uint64_t answered = 0;
  while (std::optional<std::uint64_t> v = co_await rx.recv()) {
    check(co_await tx.send(*v + 1), "pong: send on a closed channel");
    ++answered;
  }
  co_return answered;
}

zokio::task<measurement> mpsc_ping(std::uint64_t n) {
  auto [ping_tx, ping_rx] = zokio::make_channel<std::uint64_t>(1);
  auto [pong_tx, pong_rx] = zokio::make_channel<std::uint64_t>(1);
  std::uint64_t sum = 0;
  const auto t0 = clock::now();
  auto pong = zokio::spawn(mpsc_ponger(std::move(ping_rx), std::move(pong_tx)));
  for (std::uint64_t i = 0; i < n; ++i) {
    check(co_await ping_tx.send(i), "ping: send on a closed channel");
    std::optional<std::uint64_t> v = co_await pong_rx.recv();
    check(v.has_value() && *v == i + 1, "ping: no pong, or a wrong one");
    sum += *v;
  }
  ping_tx.close();
  const std::uint64_t answered = co_await pong;
  const double s = seconds_since(t0);
  if (!(answered == n && sum == n * (n + 1) / 2)) {
    fail("pongs: " + std::to_string(answered));
  }
  co_return measured(n, s);
}

measurement run_mpsc_ping(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(mpsc_ping(n));
}

// --- semaphore_contended ------------------------------------------------------------------------

constexpr unsigned k_sem_tasks = 64;
constexpr unsigned k_sem_permits = 8;

struct sem_state {
  zokio::semaphore sem{k_sem_permits};
  unsigned holders = 0; // one worker: plain counters
  unsigned most_holders = 0;
};

zokio::task<std::uint64_t> sem_user(sem_state* st, std::uint64_t n) {
  std::uint64_t acquired = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    zokio::semaphore_permit p = co_await st->sem.acquire();
    st->most_holders = std::max(st->most_holders, ++st->holders);
    ++acquired;
    co_await zokio::yield_now();
    --st->holders;
  }
  co_return acquired;
}

zokio::task<measurement> semaphore_contended(std::uint64_t n) {
  const std::uint64_t per = n / k_sem_tasks;
  sem_state st;
  std::vector<zokio::join_handle<std::uint64_t>> tasks;
  tasks.reserve(k_sem_tasks);
  const auto t0 = clock::now();
  for (unsigned i = 0; i < k_sem_tasks; ++i) {
    tasks.push_back(zokio::spawn(sem_user(&st, per)));
  }
  const std::uint64_t acquired = co_await join_all(tasks);
  const double s = seconds_since(t0);
  if (acquired != per * k_sem_tasks) {
    fail("acquisitions: " + std::to_string(acquired));
  }
  if (!(st.most_holders <= k_sem_permits && st.sem.available() == k_sem_permits)) {
    fail("permits: " + std::to_string(st.most_holders) + " held at once, " +
         std::to_string(st.sem.available()) + " free at the end");
  }
  co_return measured(acquired, s);
}

measurement run_semaphore_contended(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(semaphore_contended(n));
}

// --- timer_timeout ------------------------------------------------------------------------------

zokio::task<std::uint64_t> after_one_yield(std::uint64_t i) {
  co_await zokio::yield_now();
  co_return i;
}

zokio::task<measurement> timer_timeout(std::uint64_t n) {
  std::uint64_t sum = 0;
  const auto t0 = clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    zokio::result<std::uint64_t> r = co_await zokio::timeout(1s, after_one_yield(i));
    if (!r.ok()) {
      fail("the operation timed out: " + r.error().message());
    }
    sum += r.value();
  }
  const double s = seconds_since(t0);
  if (sum != n * (n - 1) / 2) {
    fail("sum of results: " + std::to_string(sum));
  }
  co_return measured(n, s);
}

measurement run_timer_timeout(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(timer_timeout(n));
}

// --- timers_100k_1ms ----------------------------------------------------------------------------

zokio::task<void> sleep_1ms(countdown* c) {
  co_await zokio::sleep_for(1ms);
  c->arrive();
}

measurement run_timers_100k_1ms(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(spawn_detached(n, 1, sleep_1ms));
}

// --- park_memory -------------------------------------------------------------------------------

/// This process's resident set in bytes (/proc/self/statm), 0 where it cannot be read.
double rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) {
    return 0;
  }
  unsigned long size = 0;
  unsigned long resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return got == 2 ? static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) : 0;
}

zokio::task<void> park(zokio::event* go, std::uint64_t* parked, countdown* c) {
  ++*parked;
  co_await go->wait();
  c->arrive();
}

/// Spawns `n` detached tasks that park on one event, measures the RSS growth while all are
/// parked, then releases them and waits until every one has finished.
zokio::task<measurement> park_all(std::uint64_t n) {
  zokio::event go;
  countdown c(n);
  std::uint64_t parked = 0;
  const double rss0 = rss_bytes();
  const auto t0 = clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    zokio::spawn(park(&go, &parked, &c)).detach();
  }
  while (parked != n) {
    co_await zokio::yield_now(); // each spawned task runs to its wait
  }
  const double s = seconds_since(t0);
  const double rss1 = rss_bytes();
  go.set();
  co_await c.done.wait();
  if (c.left.load() != 0) {
    fail("tasks left: " + std::to_string(c.left.load()));
  }
  if (rss0 == 0 || rss1 == 0) {
    fail("cannot read /proc/self/statm");
  }
  measurement m = measured(n, s);
  m.extra.emplace_back("rss_growth_bytes", rss1 - rss0);
  co_return m;
}

measurement run_park_memory(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(park_all(n));
}

} // namespace

const std::vector<workload>& runtime_workloads() {
  static const std::vector<workload> all = {
      {"spawn_many_local", false, 1, run_spawn_many_local},
      {"spawn_many_remote", false, 1, run_spawn_many_remote},
      {"spawn_join", false, 1, run_spawn_join},
      {"yield_many", false, k_yield_tasks, run_yield_many},
      {"chained_spawn", false, 1, run_chained_spawn},
      {"ping_pong", false, 1, run_ping_pong},
      {"mpsc_uncontended", false, 1, run_mpsc_uncontended},
      {"mpsc_contended", false, 4, run_mpsc_contended},
      {"mpsc_ping", false, 1, run_mpsc_ping},
      {"semaphore_contended", false, k_sem_tasks, run_semaphore_contended},
      {"timer_timeout", false, 1, run_timer_timeout},
      {"timers_100k_1ms", false, 1, run_timers_100k_1ms},
      {"park_memory", false, 1, run_park_memory},
      {"multi_worker_spawn_many", true, 1, run_multi_worker_spawn_many},
      {"multi_worker_mpsc", true, 1, run_multi_worker_mpsc},
  };
  return all;
}

} // namespace zokio_peer
