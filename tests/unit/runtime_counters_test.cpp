#include <zokio/runtime/stats.hpp>

#include "loopback.hpp"
#include "zokio_test.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <stdexcept>
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

// --- awaits whose registration throws ---------------------------------------------------------
//
// An await whose registration throws (a second reader of one tcp_stream, a second task joining
// one handle) completed without suspending: it counts as inline, so that awaits = inline +
// suspended + cancelled keeps holding (expect_clean_shutdown asserts it, on every worker).

zokio::task<std::size_t> read_one(zokio::net::tcp_stream* s) {
  std::array<std::byte, 1> b{};
  zokio::result<std::size_t> n = co_await s->read_some(b);
  co_return n.ok() ? n.value() : 0;
}

zokio::task<int> late_value() {
  co_await zokio::sleep_for(20ms);
  co_return 7;
}

zokio::task<int> join_it(zokio::join_handle<int>* h) {
  co_return co_await *h;
}

zokio::task<int> registrations_that_throw(int* refused) {
  // A second reader of one stream.
  zokio::result<zokio::net::tcp_listener> l = zokio::net::tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return -1;
  }
  zokio::result<zokio::testing::pair_of_streams> p =
      co_await zokio::testing::connected_pair(&l.value());
  if (!p.ok()) {
    co_return -2;
  }
  zokio::join_handle<std::size_t> reader = zokio::spawn(read_one(&p.value().server));
  co_await zokio::yield_now(); // the first reader registers
  try {
    std::array<std::byte, 1> b{};
    (void)co_await p.value().server.read_some(b);
  } catch (const std::logic_error&) {
    ++*refused;
  }
  const std::array<std::byte, 1> one{std::byte{1}};
  (void)co_await p.value().client.write_all(one);
  const std::size_t got = co_await reader;

  // A second task joining one handle.
  zokio::join_handle<int> h = zokio::spawn(late_value());
  zokio::join_handle<int> joiner = zokio::spawn(join_it(&h));
  co_await zokio::yield_now(); // the first joiner registers
  try {
    (void)co_await h;
  } catch (const std::logic_error&) {
    ++*refused;
  }
  const int value = co_await joiner;
  co_return static_cast<int>(got) * 100 + value;
}

TEST(runtime_counters, awaits_identity_holds_when_registration_throws) {
  zokio::runtime rt{{.workers = 1}};
  int refused = 0;
  EXPECT_EQ(zokio::testing::block_on_within(rt, 10s, "the registrations that throw to finish",
                                            registrations_that_throw(&refused)),
            107)
      << "the first reader and the first joiner still get their results";
  EXPECT_EQ(refused, 2) << "the second reader and the second joiner are refused";
  const zokio::runtime_stats s = rt.stats();
  EXPECT_EQ(s.awaits, s.awaits_inline + s.awaits_suspended + s.awaits_cancelled)
      << "inline " << s.awaits_inline << ", suspended " << s.awaits_suspended << ", cancelled "
      << s.awaits_cancelled;
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
