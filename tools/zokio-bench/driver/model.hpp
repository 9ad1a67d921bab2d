#pragma once

// What a run of zokio-bench found: the peers, the cells (workload x peer) with their
// repetitions, and what was skipped or failed. Reports (report.hpp) are made from this alone.

#include "workloads.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace zokio::bench {

using ojson = nlohmann::ordered_json;

const std::vector<std::string>& peer_names(); ///< zokio, libuv, asio, tokio, node

struct peer {
  std::string name;
  std::string path;
  bool available = false; ///< built and answered --version and --list
  std::string version;
  std::set<std::string> workloads; ///< what --list printed
  std::string reason;              ///< when !available: why (the .skipped line, "not built", ...)
  bool broken = false;             ///< built, but --version or --list failed: a failure
};

/// One successful repetition.
struct sample {
  int repetition = 0;
  double value = 0; ///< in the workload's metric unit
  long long ops = 0;
  double seconds = 0;     ///< measured wall time of the peer (or wrk's duration)
  double cpu_seconds = 0; ///< CPU of the peer process (the server for http), all of it
  int cpu = -1;           ///< the one CPU it ran on (--pin), or -1: not pinned
  std::map<std::string, double> latency_us;
  ojson checks;
  ojson extra;
};

struct failure {
  int repetition = 0;
  bool timed_out = false;
  bool interrupted = false;
  std::string reason;
};

struct cell {
  const workload* w = nullptr;
  std::string peer;
  long long size = 0;
  std::vector<sample> samples;
  std::vector<failure> failures;
  std::optional<std::string> skipped; ///< not run at all, and why
};

struct run_options {
  std::string suite;
  std::vector<std::string> peers;
  std::vector<std::string> workloads; ///< selected, in table order
  int repetitions = 0;
  double scale = 1;
  int workers = 1;
  int timeout_s = 0;
  std::string peer_dir;
  std::string command_line;
  /// --pin: the one-worker runtime workloads run every peer of a repetition on one CPU, the
  /// repetitions taking the CPUs in turn (runner.cpp, pin_cpus).
  bool pin = false;
};

struct run_result {
  run_options options;
  std::vector<peer> peers;
  std::vector<cell> cells; ///< workload-major, peers in options order
  ojson context;           ///< environment, filled by environment.cpp
  bool interrupted = false;
  int exit_code = 0;
};

} // namespace zokio::bench
