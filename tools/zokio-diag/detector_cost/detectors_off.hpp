#pragma once

// Force-included (-include) into a second build of tools/zokio-bench/micro/micro_bench.cpp,
// unchanged: every `zokio::runtime` it makes becomes one with the detectors off
// (stall_threshold 0: no stall watchdog thread, no stall counting; stall_backtrace off;
// deadlock_grace 0: no whole-runtime deadlock detection), so that the same micro benchmarks run
// with the detectors armed (the defaults, zokio-bench-micro) and off
// (micro-detectors-off). tools/zokio-diag/detector_cost/detector-cost.sh compares
// them into reports/diag/detector-cost.md.
//
// With ZOKIO_DETECTORS_OFF_IDLE_THREAD defined (the target micro-detectors-off-idle-thread), each
// runtime also starts one thread that does nothing but wait for the runtime's end: the detectors
// stay off, but the process has a second thread, as the armed program has the stall watchdog's.
// It tells a cost of the detectors' work from a cost of merely not being single-threaded
// (glibc's mutex, for one, is nearly free in a one-thread process).
//
// With ZOKIO_DETECTORS=armed in the environment, the runtime keeps the options it was given (the
// detectors armed, as in zokio-bench-micro). With ZOKIO_DETECTORS=exact it keeps them too, but
// reads busy time at every transition as the detectors-off runtime does
// (runtime_options::testing.exact_busy_time) instead of sampling it by the stall watchdog's tick:
// exact against off is what the detectors themselves cost, apart from what sampling saves.
// detector-cost.sh runs this one binary all three ways, so that the runs it compares differ in
// the options only, never in code layout: two builds of micro_bench.cpp place and align its inlined
// hot loops differently, which alone moved single benchmarks by 4% either way
// (tools/zokio-diag/README.md, "One binary, two option sets").

#include <zokio/zokio.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>
#if defined(ZOKIO_DETECTORS_OFF_IDLE_THREAD)
#include <condition_variable>
#include <mutex>
#include <thread>
#endif

namespace zokio {

class runtime_detectors_off : public runtime {
public:
  explicit runtime_detectors_off(runtime_options o = {}) : runtime(off(std::move(o))) {
#if defined(ZOKIO_DETECTORS_OFF_IDLE_THREAD)
    m_idle = std::thread([this] {
      std::unique_lock<std::mutex> lock(m_idle_mutex);
      m_idle_end.wait(lock, [this] { return m_idle_done; });
    });
#endif
  }
#if defined(ZOKIO_DETECTORS_OFF_IDLE_THREAD)
  ~runtime_detectors_off() {
    {
      std::lock_guard<std::mutex> lock(m_idle_mutex);
      m_idle_done = true;
    }
    m_idle_end.notify_one();
    m_idle.join();
  }
#endif

private:
  static runtime_options off(runtime_options o) {
    const char* e = std::getenv("ZOKIO_DETECTORS");
    if (e != nullptr && std::strcmp(e, "armed") == 0) {
      return o;
    }
    if (e != nullptr && std::strcmp(e, "exact") == 0) {
      o.testing.exact_busy_time = true;
      return o;
    }
    o.stall_threshold = std::chrono::milliseconds(0);
    o.stall_backtrace = false;
    o.deadlock_grace = std::chrono::milliseconds(0);
    return o;
  }
#if defined(ZOKIO_DETECTORS_OFF_IDLE_THREAD)
  std::mutex m_idle_mutex;
  std::condition_variable m_idle_end;
  bool m_idle_done = false;
  std::thread m_idle;
#endif
};

} // namespace zokio

// Only the benchmark file's own uses of the name: zokio's headers are already included (and
// guarded), so they keep theirs.
#define runtime runtime_detectors_off
