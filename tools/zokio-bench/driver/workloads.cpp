#include "workloads.hpp"

#include <algorithm>
#include <cmath>

namespace zokio::bench {

metric_info info(metric_kind k) {
  switch (k) {
  case metric_kind::time_per_op:
    return {"time_per_op", "ns/op", false};
  case metric_kind::bytes_per_second:
    return {"bytes_per_second", "B/s", true};
  case metric_kind::lateness_p99:
    return {"lateness_p99", "us", false};
  case metric_kind::requests_per_second:
    return {"requests_per_second", "req/s", true};
  case metric_kind::bytes_per_connection:
    return {"bytes_per_connection", "B/conn", false};
  case metric_kind::bytes_per_task:
    return {"bytes_per_task", "B/task", false};
  }
  return {"?", "?", false};
}

const std::vector<workload>& all_workloads() {
  using m = metric_kind;
  static const std::vector<workload> list = {
      {"spawn_many_local", "runtime", 100000, 1, false, m::time_per_op,
       "N detached tasks spawned at once from inside the runtime; time per task"},
      {"spawn_many_remote", "runtime", 100000, 1, false, m::time_per_op,
       "N tasks spawned onto the runtime from a plain thread outside it; time per task"},
      {"spawn_join", "runtime", 100000, 1, false, m::time_per_op,
       "N times: spawn an empty task and await its result; time per spawn+join"},
      {"yield_many", "runtime", 200000, 200, false, m::time_per_op,
       "200 tasks yielding N/200 times each; time per yield"},
      {"chained_spawn", "runtime", 100000, 1, false, m::time_per_op,
       "each task spawns the next, N deep; time per hop"},
      {"ping_pong", "runtime", 100000, 1, false, m::time_per_op,
       "two tasks, N rounds, a fresh oneshot each way; time per round"},
      {"mpsc_uncontended", "runtime", 1000000, 1, false, m::time_per_op,
       "one task sends N integers into an unbounded channel, then receives them; time per message"},
      {"mpsc_contended", "runtime", 400000, 4, false, m::time_per_op,
       "4 producers into one bounded(1024) channel, one consumer; time per message"},
      {"mpsc_ping", "runtime", 100000, 1, false, m::time_per_op,
       "two tasks pass an integer back and forth through bounded(1) channels; time per round"},
      {"semaphore_contended", "runtime", 100000, 64, false, m::time_per_op,
       "64 tasks, 8 permits: acquire, yield, release; time per acquire"},
      {"timer_timeout", "runtime", 100000, 1, false, m::time_per_op,
       "a 1 s timeout around an op that completes after one yield (arm + cancel); time per op"},
      {"timers_100k_1ms", "runtime", 100000, 1, false, m::time_per_op,
       "N concurrent 1 ms sleeps, until all woke; time per timer"},
      {"park_memory", "runtime", 100000, 1, false, m::bytes_per_task,
       "N detached tasks spawned and parked on one event; the process's RSS growth per parked "
       "task"},
      {"multi_worker_spawn_many", "runtime", 100000, 1, true, m::time_per_op,
       "spawn_many_local on --workers threads; time per task"},
      {"multi_worker_mpsc", "runtime", 400000, 1, true, m::time_per_op,
       "one producer per worker thread into one bounded(1024) channel; time per message"},
      {"tcp_ping_pong", "io", 20000, 1, false, m::time_per_op,
       "one loopback connection, 64-byte echo, N round trips; time per round trip, RTT p50/p99"},
      {"tcp_echo_many", "io", 100000, 64, false, m::time_per_op,
       "64 connections echoing 64-byte messages; time per I/O operation (4 per message)"},
      {"tcp_stream", "io", 268435456, 65536, false, m::bytes_per_second,
       "one connection, N bytes in 64 KiB writes; bytes per second"},
      {"fs_read", "io", 20000, 1, false, m::time_per_op,
       "N async 4 KiB reads of a 1 MiB file, 16 in flight; time per read"},
      {"timer_precision_1ms", "io", 200, 1, false, m::lateness_p99,
       "N sequential 1 ms sleeps; p99 lateness (woke - requested)"},
      {"timer_precision_10ms", "io", 100, 1, false, m::lateness_p99,
       "N sequential 10 ms sleeps; p99 lateness"},
      {"timer_precision_1ms_loaded", "io", 200, 1, false, m::lateness_p99,
       "1 ms sleeps while 64 tasks on the same thread loop on yield; p99 lateness"},
      {"http_plaintext", "http", 5, 1, false, m::requests_per_second,
       "wrk -t1 -c64 for N seconds against GET /plaintext (keep-alive); requests per second, "
       "latency p50/p99/p99.9, server CPU per request"},
      {"http_connections", "http", 10000, 1, false, m::bytes_per_connection,
       "N keep-alive connections opened, one GET /plaintext each, left open; server RSS growth "
       "per connection"},
  };
  return list;
}

const workload* find_workload(std::string_view name) {
  for (const workload& w : all_workloads()) {
    if (w.name == name) {
      return &w;
    }
  }
  return nullptr;
}

const std::vector<std::string>& suite_names() {
  static const std::vector<std::string> names = {"runtime", "io", "http"};
  return names;
}

long long scaled_size(const workload& w, double scale, int workers) {
  long long granule = w.granule;
  if (w.per_worker) {
    granule *= std::max(1, workers);
  }
  auto size = static_cast<long long>(std::llround(static_cast<double>(w.default_size) * scale));
  if (w.name.rfind("timer_precision", 0) == 0) {
    size = std::max(100LL, size); // a p99 needs 100 samples (the zokio peer omits it below)
  }
  if (w.name == "http_connections") {
    size = std::max(10LL, size);
  }
  size = std::max(granule, (size + granule - 1) / granule * granule);
  return size;
}

} // namespace zokio::bench
