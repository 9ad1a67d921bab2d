#pragma once

// Test helper for cancellation races: two workers released at the same instant by a gate, with
// head starts that make the race go either way.
//
// What a race test asserts: exactly-once accounting (nothing lost, nothing duplicated) is a hard
// assertion every round. That both outcomes occurred is evidence the race was exercised, but on a
// loaded machine (both workers on one busy core) one outcome can be rare: race_tally runs more
// rounds until both have been seen, up to a bound, and if one never shows up it is reported (a
// gtest property and a line on stdout) rather than failed. ZOKIO_RACE_STRICT=1 makes it a
// failure, for a quiet machine.

#include <zokio/detail/task_record.hpp>
#include <zokio/task/join_handle.hpp>
#include <zokio/time/sleep.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
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

/// Keeps the calling thread busy for `d` without yielding: on a worker, it holds the loop, so
/// timers that fall due meanwhile are all found expired in its next turn.
inline void busy_for(std::chrono::nanoseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

inline void hold_back(head_start h) {
  if (h.sleep) {
    std::this_thread::sleep_for(h.delay);
    return;
  }
  busy_for(h.delay);
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

/// Rounds of a race and how each went: at least `min_rounds`, then more until both outcomes
/// were seen, never more than `max_rounds`.
struct race_tally {
  const char* first_name;  ///< e.g. "handoff won"
  const char* second_name; ///< e.g. "cancel won"
  int min_rounds = 300;
  int max_rounds = 3000;
  int rounds = 0;
  int first = 0;
  int second = 0;
  std::string failure; ///< set by the test at the first round that lost or duplicated something

  /// True while another round is due: fewer than min_rounds, or one outcome still unseen and
  /// fewer than max_rounds. False at once after a failure.
  bool more() const noexcept {
    if (!failure.empty()) {
      return false;
    }
    return rounds < min_rounds || ((first == 0 || second == 0) && rounds < max_rounds);
  }
  void count(bool first_won) noexcept {
    ++rounds;
    (first_won ? first : second) += 1;
  }
  /// Records the first broken round; the test then stops and asserts `failure` is empty.
  void fail(std::string what) {
    if (failure.empty()) {
      failure = "round " + std::to_string(rounds) + ": " + std::move(what);
    }
  }
  std::string summary() const {
    return std::to_string(rounds) + " rounds: " + first_name + " " + std::to_string(first) + ", " +
           second_name + " " + std::to_string(second);
  }
};

/// The end of a race test: every round accounted for exactly once (hard), and both outcomes seen
/// (reported, or failed with ZOKIO_RACE_STRICT=1).
inline void expect_race_accounted(const race_tally& t) {
  EXPECT_EQ(t.failure, "") << t.summary();
  EXPECT_EQ(t.first + t.second, t.rounds) << t.summary();
  EXPECT_GE(t.rounds, t.failure.empty() ? t.min_rounds : 0) << t.summary();
  ::testing::Test::RecordProperty("race", t.summary());
  if (t.failure.empty() && (t.first == 0 || t.second == 0)) {
    const char* strict = std::getenv("ZOKIO_RACE_STRICT");
    if (strict != nullptr && std::string(strict) == "1") {
      ADD_FAILURE() << "the race went only one way (" << t.summary() << ")";
    } else {
      std::printf("[ RACE NOTE] the race went only one way in %d rounds (%s): nothing was lost, "
                  "but the other outcome was not exercised (a loaded machine?)\n",
                  t.rounds, t.summary().c_str());
    }
  }
}

/// Waits until the task behind `h` is suspended on `kind` (a test-only peek at its record), so
/// a race starts only once the waiter is really queued.
template <typename T>
task<void> until_waiting(join_handle<T>* h, zokio::detail::wait_kind kind) {
  zokio::detail::task_record* r = zokio::detail::record_of(*h);
  while (r->m_state.load() != zokio::detail::task_state::suspended ||
         r->m_wait_kind.load() != kind) {
    co_await sleep_for(1ms);
  }
}

} // namespace zokio::testing
