// What the runtime's bookkeeping instructions cost on this machine: a time-stamp counter read
// (zokio::detail::ticks(), what busy time and the stall watchdog use), the kernel's clocks, and
// a locked exchange (a claim, a spinlock). The figures behind docs/decisions.md, "Busy time is
// sampled by the stall watchdog's clock":
//
//   build/bin/zokio-bench-clocks --benchmark_repetitions=5 --benchmark_report_aggregates_only

#include "../bench_main.hpp"

#include <zokio/detail/worker_core.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace {

void BM_ticks(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(zokio::detail::ticks());
  }
}

void BM_clock_monotonic(benchmark::State& state) {
  timespec ts{};
  for (auto _ : state) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    benchmark::DoNotOptimize(ts);
  }
}

void BM_clock_monotonic_coarse(benchmark::State& state) {
  timespec ts{};
  for (auto _ : state) {
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    benchmark::DoNotOptimize(ts);
  }
}

void BM_locked_exchange(benchmark::State& state) {
  std::atomic<bool> flag{false};
  bool v = false;
  for (auto _ : state) {
    v = flag.exchange(!v, std::memory_order_acq_rel);
    benchmark::DoNotOptimize(v);
  }
}

void BM_relaxed_load(benchmark::State& state) {
  std::atomic<std::uint64_t> tick{0};
  for (auto _ : state) {
    benchmark::DoNotOptimize(tick.load(std::memory_order_acquire));
  }
}

} // namespace

BENCHMARK(BM_ticks);
BENCHMARK(BM_clock_monotonic);
BENCHMARK(BM_clock_monotonic_coarse);
BENCHMARK(BM_locked_exchange);
BENCHMARK(BM_relaxed_load);

int main(int argc, char** argv) {
  static const bool failed = false; // nothing here can fail
  return zokio::tools::bench_main(argc, argv,
                                  {.name = "zokio-bench-clocks", .context = {}, .failed = &failed});
}
