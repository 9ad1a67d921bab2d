#pragma once

// Test helper for cancellation races: two workers released at the same instant by a gate, with
// head starts that make the race go either way, so a test can assert both outcomes happened.

#include <zokio/detail/task_record.hpp>
#include <zokio/task/join_handle.hpp>
#include <zokio/time/sleep.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <utility>

namespace zokio::testing {

using namespace std::chrono_literals;

// Two workers released at the same instant: the cancellation runs on the waiter's worker
// (worker 1) while the completion (unlock, release, send) runs on worker 0, both reaching for
// the primitive's waiter list.
struct race_gate {
  std::atomic<bool> ready{false};
  std::atomic<bool> go{false};
};

// How long one side waits after the gate opens, and whether it gives its core up meanwhile (so
// that the race has both outcomes even when the machine runs both workers on one core).
struct head_start {
  std::chrono::nanoseconds delay{0};
  bool sleep = false;
};

inline void hold_back(head_start h) {
  if (h.sleep) {
    std::this_thread::sleep_for(h.delay);
    return;
  }
  const auto until = std::chrono::steady_clock::now() + h.delay;
  while (std::chrono::steady_clock::now() < until) {
  }
}

// Round i's head starts: a tight race either way, or one side clearly first.
inline std::pair<head_start, head_start> head_starts(int i) {
  const std::chrono::nanoseconds jitter(((i / 4) % 10) * 200);
  switch (i % 4) {
  case 0:
    return {{jitter, false}, {}}; // {canceller, completer}
  case 1:
    return {{}, {jitter, false}};
  case 2:
    return {{}, {100us, true}};
  default:
    return {{100us, true}, {}};
  }
}

inline void open_gate(race_gate* g, head_start delay) {
  while (!g->ready.load()) {
    std::this_thread::yield(); // the machine may have fewer free cores than workers
  }
  g->go = true;
  hold_back(delay);
}

/// Waits until the task behind `h` is suspended on `kind` (a test-only peek at its record), so
/// a race starts only once the waiter is really queued.
template <typename T>
task<void> until_waiting(join_handle<T>* h, detail::wait_kind kind) {
  detail::task_record* r = detail::record_of(*h);
  while (r->m_state.load() != detail::task_state::suspended || r->m_wait_kind.load() != kind) {
    co_await sleep_for(1ms);
  }
}

} // namespace zokio::testing
