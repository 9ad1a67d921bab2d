#pragma once

// The workloads of zokio-bench (peers/PROTOCOL.md): suite, default size, what one repetition
// measures and the metric the driver derives from a peer's output.

#include <string>
#include <string_view>
#include <vector>

namespace zokio::bench {

enum class metric_kind {
  time_per_op,          ///< seconds / ops, in ns; smaller is better
  bytes_per_second,     ///< ops (bytes) / seconds; bigger is better
  lateness_p99,         ///< latency_us.p99 (lateness of a sleep), in us; smaller is better
  requests_per_second,  ///< wrk's requests / duration; bigger is better
  bytes_per_connection, ///< server VmRSS growth / connections; smaller is better
  bytes_per_task, ///< the peer's extra.rss_growth_bytes / ops (parked tasks); smaller is better
};

struct metric_info {
  const char* name; ///< "time_per_op"
  const char* unit; ///< "ns/op"
  bool bigger_is_better;
};

metric_info info(metric_kind k);

struct workload {
  std::string name;
  std::string suite; ///< runtime, io, http
  long long default_size;
  /// The size is rounded up to a multiple of this (and at least this): yield_many's 200 tasks.
  long long granule;
  /// The size is also a multiple of --workers (multi_worker_*).
  bool per_worker;
  metric_kind metric;
  std::string measures; ///< one line for --help and the README
};

const std::vector<workload>& all_workloads();
const workload* find_workload(std::string_view name);
const std::vector<std::string>& suite_names(); ///< runtime, io, http

/// The size passed to every peer: default_size * scale, rounded to the workload's granule.
long long scaled_size(const workload& w, double scale, int workers);

} // namespace zokio::bench
