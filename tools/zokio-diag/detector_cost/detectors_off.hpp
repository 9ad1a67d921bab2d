#pragma once

// Force-included (-include) into a second build of tools/zokio-bench/micro/micro_bench.cpp,
// unchanged: every `zokio::runtime` it makes becomes one with the detectors off
// (stall_threshold 0: no stall watchdog thread, no stall counting; stall_backtrace off;
// deadlock_grace 0: no whole-runtime deadlock detection), so that the same micro benchmarks run
// with the detectors armed (the defaults, zokio-bench-micro) and off
// (micro-detectors-off). tools/zokio-diag/detector_cost/detector-cost.sh compares
// them into reports/diag/detector-cost.md.

#include <zokio/zokio.hpp>

#include <chrono>
#include <utility>

namespace zokio {

class runtime_detectors_off : public runtime {
public:
  explicit runtime_detectors_off(runtime_options o = {}) : runtime(off(std::move(o))) {}

private:
  static runtime_options off(runtime_options o) {
    o.stall_threshold = std::chrono::milliseconds(0);
    o.stall_backtrace = false;
    o.deadlock_grace = std::chrono::milliseconds(0);
    return o;
  }
};

} // namespace zokio

// Only the benchmark file's own uses of the name: zokio's headers are already included (and
// guarded), so they keep theirs.
#define runtime runtime_detectors_off
