// zokio-bench-micro: scheduler micro benchmarks of the Zokio runtime (Google Benchmark).
//
// They mirror Tokio's runtime benches (benches/rt_multi_threaded.rs, spawn.rs and, after 1.24,
// rt_current_thread.rs) with the same workload sizes, but on one worker (rt_multi_threaded.rs
// uses 4): on a 2-core box the single-threaded configuration is the primary one. Only
// BM_spawn_many_cross_worker uses two workers.
//
// Rules every benchmark follows:
// - one `zokio::runtime` per benchmark function call, created before the timing loop and shut
//   down after it; a shutdown that is not clean() aborts the program (it is a runtime bug);
// - every spawned task finishes inside the timed region (tokio issue #3904): it is joined, or
//   (the pongs of BM_oneshot_ping_pong, detached as in Tokio) finishes before its joiner does;
//   finish() checks that no task is left live;
// - times are wall-clock (UseRealTime): a runtime that sleeps in epoll_wait must not look free;
// - items/s comes from SetItemsProcessed, and an `ns_per_<item>` counter gives the same figure
//   as a latency;
// - the hot loops allocate nothing of their own (handle vectors are reserved up front); state
//   goes into coroutines as parameters, never through lambda captures;
// - a failure (exception out of block_on, a failed or cancelled task) marks the benchmark as
//   errored and makes the program exit 1, so the ctest smoke run catches it.

#include "../bench_main.hpp"

#include <zokio/zokio.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

// --- workload sizes (per benchmark iteration) -------------------------------------------------

constexpr int k_spawn_many_local = 1'000;   // rt_current_thread.rs spawn_many_local
constexpr int k_spawn_join = 1'000;         // spawn + join of a task that yields once
constexpr int k_yield_tasks = 200;          // rt_multi yield_many: 200 tasks
constexpr int k_yields_per_task = 1'000;    //   x 1,000 yields
constexpr int k_ping_pongs = 1'000;         // rt_multi ping_pong
constexpr int k_chain_depth = 1'000;        // rt_multi chained_spawn
constexpr int k_sleepers = 100'000;         // concurrent sleep_for(1ms)
constexpr int k_spawn_many_remote = 10'000; // rt_multi spawn_many / rt_current_thread remote
constexpr int k_mpsc_messages = 5'000;      // sync_mpsc uncontented_*: 5,000 sends, then receives
constexpr int k_mpsc_producers = 5;         // sync_mpsc contention_*: 5 producers
constexpr int k_mpsc_per_producer = 1'000;  //   x 1,000 messages

// --- harness helpers ---------------------------------------------------------------------------

bool g_failed = false; // any benchmark errored: main exits 1

void report_error(benchmark::State& state, const std::string& what) {
  g_failed = true;
  state.SkipWithError(what.c_str());
}

/// Drives `t` to completion on `rt`. False (and the benchmark errored) if it threw.
bool run_once(benchmark::State& state, zokio::runtime& rt, zokio::task<void> t) {
  try {
    rt.block_on(std::move(t));
    return true;
  } catch (const std::exception& e) {
    report_error(state, std::string("block_on threw: ") + e.what());
  } catch (...) {
    report_error(state, "block_on threw a non-std exception");
  }
  return false;
}

/// Wall-clock time of the timing loop, for the ns-per-item counters. (A kInvert rate counter
/// would give the same figure, but in seconds, and Google Benchmark 1.7's console shows it with
/// an "s" suffix: "ns_per_task=644s" for 644 ns.) Started right before `for (auto _ : state)`,
/// stopped right after it, so it matches the benchmark's real time to well under 1%.
class wall_clock {
public:
  void start() noexcept { m_start = std::chrono::steady_clock::now(); }
  void stop() noexcept { m_stop = std::chrono::steady_clock::now(); }
  double elapsed_ns() const noexcept {
    return std::chrono::duration<double, std::nano>(m_stop - m_start).count();
  }

private:
  std::chrono::steady_clock::time_point m_start{};
  std::chrono::steady_clock::time_point m_stop{};
};

/// After the timing loop: checks that nothing failed, reports items/s and ns per item, and shuts
/// the runtime down (aborting if the shutdown is not clean).
void finish(benchmark::State& state, const wall_clock& clock, zokio::runtime& rt, const char* bench,
            std::int64_t items_per_iteration, const char* ns_counter) {
  const zokio::runtime_stats s = rt.stats();
  if (!state.error_occurred()) {
    if (s.tasks_failed != 0 || s.tasks_cancelled != 0 || s.tasks_live != 0 ||
        s.sync_fallbacks != 0 || s.lost_wakeups != 0) {
      report_error(state, "runtime counters: failed=" + std::to_string(s.tasks_failed) +
                              " cancelled=" + std::to_string(s.tasks_cancelled) +
                              " live=" + std::to_string(s.tasks_live) +
                              " sync_fallbacks=" + std::to_string(s.sync_fallbacks) +
                              " lost_wakeups=" + std::to_string(s.lost_wakeups));
    } else {
      state.SetItemsProcessed(state.iterations() * items_per_iteration);
      const double items =
          static_cast<double>(state.iterations()) * static_cast<double>(items_per_iteration);
      if (items > 0) {
        state.counters[ns_counter] = benchmark::Counter(clock.elapsed_ns() / items);
      }
    }
  }
  const zokio::shutdown_report r = rt.shutdown();
  if (!r.clean()) {
    std::fprintf(stderr, "zokio-bench-micro: %s: runtime shutdown not clean: %s\n", bench,
                 r.to_string().c_str());
    std::abort();
  }
}

std::vector<zokio::join_handle<void>> make_handles(std::size_t n) {
  std::vector<zokio::join_handle<void>> v;
  v.reserve(n);
  return v;
}

// --- coroutines --------------------------------------------------------------------------------

zokio::task<void> noop() {
  co_return;
}

zokio::task<void> yield_once() {
  co_await zokio::yield_now();
}

zokio::task<void> yield_n(int n) {
  for (int i = 0; i < n; ++i) {
    co_await zokio::yield_now();
  }
}

/// Joins every handle of `handles` in order, then empties it (capacity kept).
zokio::task<void> join_all(std::vector<zokio::join_handle<void>>* handles) {
  for (zokio::join_handle<void>& h : *handles) {
    co_await h;
  }
  handles->clear();
}

zokio::task<void> spawn_many_local(std::vector<zokio::join_handle<void>>* handles, int n) {
  for (int i = 0; i < n; ++i) {
    handles->push_back(zokio::spawn(noop()));
  }
  co_await join_all(handles);
}

zokio::task<void> spawn_join_loop(int n) {
  for (int i = 0; i < n; ++i) {
    co_await zokio::spawn(yield_once());
  }
}

zokio::task<void> spawn_join_once() {
  co_await zokio::spawn(yield_once());
}

zokio::task<void> yield_many(std::vector<zokio::join_handle<void>>* handles, int tasks,
                             int yields) {
  for (int i = 0; i < tasks; ++i) {
    handles->push_back(zokio::spawn(yield_n(yields)));
  }
  co_await join_all(handles);
}

zokio::task<void> pong(zokio::oneshot_receiver<int> rx, zokio::oneshot_sender<int> tx) {
  zokio::result<int> r = co_await rx;
  if (!r.ok()) {
    throw std::runtime_error("pong: the ping was lost");
  }
  tx.send(r.value() + 1);
}

/// One ping: 2 oneshots, a spawned pong task, a round trip. Mirrors Tokio's ping_pong, where the
/// pong task is not joined either (it has finished by the time the ping receives its answer).
zokio::task<void> ping() {
  auto [tx1, rx1] = zokio::make_oneshot<int>();
  auto [tx2, rx2] = zokio::make_oneshot<int>();
  zokio::spawn(pong(std::move(rx1), std::move(tx2))).detach();
  tx1.send(1);
  zokio::result<int> r = co_await rx2;
  if (!r.ok() || r.value() != 2) {
    throw std::runtime_error("ping: no pong");
  }
}

zokio::task<void> ping_pong(std::vector<zokio::join_handle<void>>* handles, int n) {
  for (int i = 0; i < n; ++i) {
    handles->push_back(zokio::spawn(ping()));
  }
  co_await join_all(handles);
}

/// Each link spawns the next one and awaits it: `depth` spawns, `depth` frames alive at once.
zokio::task<void> chain(int depth) {
  if (depth > 0) {
    co_await zokio::spawn(chain(depth - 1));
  }
}

zokio::task<void> sleeper() {
  co_await zokio::sleep_for(1ms);
}

zokio::task<void> sleep_many(std::vector<zokio::join_handle<void>>* handles, int n) {
  for (int i = 0; i < n; ++i) {
    handles->push_back(zokio::spawn(sleeper()));
  }
  co_await join_all(handles);
}

zokio::task<void> spawn_many_on(std::vector<zokio::join_handle<void>>* handles, unsigned worker,
                                int n) {
  for (int i = 0; i < n; ++i) {
    handles->push_back(zokio::spawn_on(worker, noop()));
  }
  co_await join_all(handles);
}

// --- benchmarks --------------------------------------------------------------------------------

/// Channel, uncontended (Tokio's sync_mpsc uncontented_*): one task sends `n` values, then
/// receives them, checking the order.
zokio::task<void> mpsc_uncontended(std::size_t capacity, int n) {
  auto [tx, rx] = zokio::make_channel<int>(capacity);
  for (int i = 0; i < n; ++i) {
    if (!co_await tx.send(i)) {
      throw std::logic_error("mpsc_uncontended: send on a closed channel");
    }
  }
  for (int i = 0; i < n; ++i) {
    std::optional<int> v = co_await rx.recv();
    if (!v || *v != i) {
      throw std::logic_error("mpsc_uncontended: value out of order");
    }
  }
}

zokio::task<void> mpsc_producer(zokio::sender<int> tx, int n) {
  for (int i = 0; i < n; ++i) {
    if (!co_await tx.send(i)) {
      throw std::logic_error("mpsc_producer: send on a closed channel");
    }
  }
}

/// Channel, contended (Tokio's sync_mpsc contention_*): `producers` tasks send `n` values each
/// to one receiver; the channel closes when the last producer's sender goes.
zokio::task<void> mpsc_contended(std::vector<zokio::join_handle<void>>* handles,
                                 std::size_t capacity, int producers, int n) {
  auto channel = zokio::make_channel<int>(capacity);
  for (int p = 0; p < producers; ++p) {
    handles->push_back(zokio::spawn(mpsc_producer(channel.tx, n)));
  }
  { auto last = std::move(channel.tx); }
  int received = 0;
  while (co_await channel.rx.recv()) {
    ++received;
  }
  co_await join_all(handles);
  if (received != producers * n) {
    throw std::logic_error("mpsc_contended: messages lost");
  }
}

/// 1,000 no-op tasks spawned inside one block_on and all joined. ns per task.
void BM_spawn_many_local(benchmark::State& state) {
  zokio::runtime rt{{.workers = 1}};
  auto handles = make_handles(k_spawn_many_local);
  wall_clock clock;
  clock.start();
  for (auto _ : state) {
    if (!run_once(state, rt, spawn_many_local(&handles, k_spawn_many_local))) {
      break;
    }
  }
  clock.stop();
  handles.clear();
  finish(state, clock, rt, "BM_spawn_many_local", k_spawn_many_local, "ns_per_task");
}

/// `co_await zokio::spawn(t)` of a task that yields once, 1,000 times in a row inside one
/// block_on. ns per spawn + yield + join.
void BM_spawn_join(benchmark::State& state) {
  zokio::runtime rt{{.workers = 1}};
  wall_clock clock;
  clock.start();
  for (auto _ : state) {
    if (!run_once(state, rt, spawn_join_loop(k_spawn_join))) {
      break;
    }
  }
  clock.stop();
  finish(state, clock, rt, "BM_spawn_join", k_spawn_join, "ns_per_op");
}

/// Tokio's spawn.rs basic_scheduler_spawn exactly: one block_on per operation, whose task spawns
/// a task that yields once and joins it. Adds block_on's cost (a post to worker 0's inbox, one
/// uv_async wake-up, a loop turn) to BM_spawn_join.
void BM_block_on_spawn_join(benchmark::State& state) {
  zokio::runtime rt{{.workers = 1}};
  wall_clock clock;
  clock.start();
  for (auto _ : state) {
    if (!run_once(state, rt, spawn_join_once())) {
      break;
    }
  }
  clock.stop();
  finish(state, clock, rt, "BM_block_on_spawn_join", 1, "ns_per_op");
}

/// 200 tasks x 1,000 `yield_now()`, all interleaved on one worker. ns per yield.
void BM_yield_many(benchmark::State& state) {
  zokio::runtime rt{{.workers = 1}};
  auto handles = make_handles(k_yield_tasks);
  wall_clock clock;
  clock.start();
  for (auto _ : state) {
    if (!run_once(state, rt, yield_many(&handles, k_yield_tasks, k_yields_per_task))) {
      break;
    }
  }
  clock.stop();
  handles.clear();
  finish(state, clock, rt, "BM_yield_many", std::int64_t{k_yield_tasks} * k_yields_per_task,
         "ns_per_yield");
}

/// 1,000 concurrent pings, each 2 spawns (the ping, its pong) + 2 oneshots + a round trip.
/// ns per ping.
void BM_oneshot_ping_pong(benchmark::State& state) {
  zokio::runtime rt{{.workers = 1}};
  auto handles = make_handles(k_ping_pongs);
  wall_clock clock;
  clock.start();
  for (auto _ : state) {
    if (!run_once(state, rt, ping_pong(&handles, k_ping_pongs))) {
      break;
    }
  }
  clock.stop();
  handles.clear();
  finish(state, clock, rt, "BM_oneshot_ping_pong", k_ping_pongs, "ns_per_ping");
}

/// A chain of 1,000 tasks, each spawning the next and awaiting it. ns per hop (spawn, run, finish,
/// wake the parent).
void BM_chained_spawn(benchmark::State& state) {
  zokio::runtime rt{{.workers = 1}};
  wall_clock clock;
  clock.start();
  for (auto _ : state) {
    if (!run_once(state, rt, chain(k_chain_depth))) {
      break;
    }
  }
  clock.stop();
  finish(state, clock, rt, "BM_chained_spawn", k_chain_depth, "ns_per_hop");
}

/// 100,000 tasks each sleeping 1 ms, all spawned, then all joined. ns per timer: arm, fire, wake,
/// join. An iteration lasts at least 1 ms plus the spawns (the first sleeper's deadline is taken
/// when it first runs, after all 100,000 spawns).
void BM_sleep_100k(benchmark::State& state) {
  zokio::runtime rt{{.workers = 1}};
  auto handles = make_handles(k_sleepers);
  wall_clock clock;
  clock.start();
  for (auto _ : state) {
    if (!run_once(state, rt, sleep_many(&handles, k_sleepers))) {
      break;
    }
  }
  clock.stop();
  handles.clear();
  finish(state, clock, rt, "BM_sleep_100k", k_sleepers, "ns_per_timer");
}

/// 10,000 no-op tasks spawned with `rt.spawn()` from the benchmark thread, outside the runtime,
/// then joined by one block_on.
///
/// The honest variant on one worker: worker 0 runs only while a thread is inside block_on, so
/// the spawns cannot run concurrently with the spawning; they all take the cross-thread path
/// (inbox under its mutex + uv_async_send) and are then drained, run and joined. This is Tokio's
/// rt_current_thread.rs `spawn_many_remote_idle`. (With workers = 2, rt.spawn() would alternate
/// between worker 0, idle until block_on, and worker 1, running at once: a mix of two things.
/// BM_spawn_many_cross_worker measures the concurrent case on its own.) ns per task, the
/// spawning included.
void BM_spawn_many_remote(benchmark::State& state) {
  zokio::runtime rt{{.workers = 1}};
  auto handles = make_handles(k_spawn_many_remote);
  wall_clock clock;
  clock.start();
  for (auto _ : state) {
    for (int i = 0; i < k_spawn_many_remote; ++i) {
      handles.push_back(rt.spawn(noop()));
    }
    if (!run_once(state, rt, join_all(&handles))) {
      break;
    }
  }
  clock.stop();
  handles.clear();
  finish(state, clock, rt, "BM_spawn_many_remote", k_spawn_many_remote, "ns_per_task");
}

/// Two workers: a task on worker 0 spawns 10,000 no-op tasks onto worker 1 with `spawn_on(1,
/// ...)` and joins them all. Worker 1 runs them on its own thread while worker 0 is still
/// spawning, and each join that finds its task unfinished is woken across threads. Closest to
/// Tokio's rt_multi `spawn_many` (spawning from block_on into other workers), on 2 cores.
void BM_spawn_many_cross_worker(benchmark::State& state) {
  zokio::runtime rt{{.workers = 2}};
  auto handles = make_handles(k_spawn_many_remote);
  wall_clock clock;
  clock.start();
  for (auto _ : state) {
    if (!run_once(state, rt, spawn_many_on(&handles, 1, k_spawn_many_remote))) {
      break;
    }
  }
  clock.stop();
  handles.clear();
  finish(state, clock, rt, "BM_spawn_many_cross_worker", k_spawn_many_remote, "ns_per_task");
}

/// ns per message (a send and a receive).
void BM_mpsc_uncontended(benchmark::State& state) {
  const auto capacity = static_cast<std::size_t>(state.range(0));
  zokio::runtime rt{{.workers = 1}};
  wall_clock clock;
  clock.start();
  for (auto _ : state) {
    if (!run_once(state, rt, mpsc_uncontended(capacity, k_mpsc_messages))) {
      break;
    }
  }
  clock.stop();
  finish(state, clock, rt, "BM_mpsc_uncontended", k_mpsc_messages, "ns_per_msg");
}

/// ns per message; capacity 1,000,000 (never full) or 100 (senders wait for room).
void BM_mpsc_contended(benchmark::State& state) {
  const auto capacity = static_cast<std::size_t>(state.range(0));
  zokio::runtime rt{{.workers = 1}};
  auto handles = make_handles(k_mpsc_producers);
  wall_clock clock;
  clock.start();
  for (auto _ : state) {
    if (!run_once(state, rt,
                  mpsc_contended(&handles, capacity, k_mpsc_producers, k_mpsc_per_producer))) {
      break;
    }
  }
  clock.stop();
  handles.clear();
  finish(state, clock, rt, "BM_mpsc_contended",
         std::int64_t{k_mpsc_producers} * k_mpsc_per_producer, "ns_per_msg");
}

BENCHMARK(BM_spawn_many_local)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_spawn_join)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_block_on_spawn_join)->UseRealTime()->Unit(benchmark::kNanosecond);
BENCHMARK(BM_yield_many)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_oneshot_ping_pong)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_chained_spawn)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sleep_100k)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_spawn_many_remote)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_spawn_many_cross_worker)->UseRealTime()->Unit(benchmark::kMicrosecond);
// Argument: the capacity (0 = unbounded; 1,000,000 = bounded but never full; 100 = often full).
BENCHMARK(BM_mpsc_uncontended)
    ->Arg(1'000'000)
    ->Arg(0)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_mpsc_contended)
    ->Arg(1'000'000)
    ->Arg(100)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

} // namespace

int main(int argc, char** argv) {
  return zokio::tools::bench_main(
      argc, argv,
      {.name = "zokio-bench-micro",
       .context = {{"zokio_frame_pool", ZOKIO_FRAME_POOL ? "on" : "off"},
                   {"zokio_workers", "1 (BM_spawn_many_cross_worker: 2)"},
                   {"zokio_time", "real (wall clock)"}},
       .failed = &g_failed});
}
