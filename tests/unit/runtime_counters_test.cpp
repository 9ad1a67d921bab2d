#include <zokio/runtime/stats.hpp>

#include "zokio_test.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

using namespace std::chrono_literals;

// The identities of runtime_stats (stats.hpp) under the races that stress them: an await whose
// operation completes on another thread while the awaiting task registers for it takes the path
// "completed while registering", which must count it as inline and not as suspended. Which path a
// round takes is up to the machine; over thousands of rounds with head starts swept across the
// window, each path is taken, and the identities must hold whatever the mix.

namespace {

void spin(unsigned n) {
  for (volatile unsigned i = 0; i < n; ++i) {
  }
}

struct rounds_state {
  explicit rounds_state(int n) : events(new zokio::event[static_cast<std::size_t>(n)]) {}
  std::unique_ptr<zokio::event[]> events;
  std::atomic<int> armed{-1}; // the round the task is about to await
};

// For the watchdog: the round reached, and whether its event was set (a set event the task
// still waits on is a lost wake-up).
std::string progress(const rounds_state& st) {
  const int r = st.armed.load();
  return "the task awaits round " + std::to_string(r) + " whose event is " +
         (r >= 0 && st.events[static_cast<std::size_t>(r)].is_set() ? "set (a lost wake-up?)"
                                                                    : "not set");
}

// Sets each round's event once the awaiting task has reached that round, after a head start.
void set_in_turn(rounds_state* st, int rounds) {
  for (int r = 0; r < rounds; ++r) {
    while (st->armed.load(std::memory_order_acquire) < r) {
      std::this_thread::yield(); // the machine may have fewer free cores than threads here
    }
    spin(static_cast<unsigned>((r * 13) % 101));
    st->events[static_cast<std::size_t>(r)].set();
  }
}

zokio::task<int> await_events_set_elsewhere(rounds_state* st, int rounds) {
  int already_set = 0;
  for (int r = 0; r < rounds; ++r) {
    st->armed.store(r, std::memory_order_release);
    spin(static_cast<unsigned>((r * 7) % 97));
    already_set += st->events[static_cast<std::size_t>(r)].is_set() ? 1 : 0;
    co_await st->events[static_cast<std::size_t>(r)].wait();
  }
  co_return already_set;
}

TEST(runtime_counters, awaits_identity_holds_when_completion_races_with_registration) {
  constexpr int rounds = 4000;
  rounds_state st(rounds);
  zokio::runtime rt{{.workers = 1}};
  std::thread setter(set_in_turn, &st, rounds);
  int already_set = 0;
  {
    zokio::testing::must_happen_within guard(50s, "4000 awaits of events set from another thread",
                                             [&st] { return progress(st); });
    already_set = rt.block_on(await_events_set_elsewhere(&st, rounds));
  }
  setter.join();
  const zokio::runtime_stats s = rt.stats();
  EXPECT_EQ(s.awaits, static_cast<std::uint64_t>(rounds));
  EXPECT_GE(s.awaits_inline, static_cast<std::uint64_t>(already_set));
  EXPECT_EQ(s.awaits, s.awaits_inline + s.awaits_suspended + s.awaits_cancelled);
  EXPECT_EQ(s.resumes_cross_thread, s.awaits_suspended) << "only the setter thread wakes the task";
  zokio::testing::expect_clean_shutdown(rt);
}

// The same between two workers: worker 1 sets, worker 0 awaits.
zokio::task<void> set_events_on_worker_1(rounds_state* st, int rounds) {
  set_in_turn(st, rounds);
  co_return;
}

zokio::task<void> race_two_workers(rounds_state* st, int rounds) {
  auto setter = zokio::spawn_on(1, set_events_on_worker_1(st, rounds));
  co_await await_events_set_elsewhere(st, rounds);
  co_await setter;
}

TEST(runtime_counters, awaits_identity_holds_between_workers) {
  constexpr int rounds = 4000;
  rounds_state st(rounds);
  zokio::runtime rt{{.workers = 2}};
  zokio::testing::must_happen_within guard(50s, "4000 awaits of events set from worker 1",
                                           [&st] { return progress(st); });
  rt.block_on(race_two_workers(&st, rounds));
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
