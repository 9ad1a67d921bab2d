#include <zokio/task/yield.hpp>

#include "loopback.hpp"
#include "zokio_test.hpp"

#include <array>
#include <atomic>
#include <chrono>

using namespace std::chrono_literals;

// The promise of runtime_options::ready_budget: a busy task cannot starve I/O and timers. A task
// that yields in a tight loop is always ready again, so without a budget per turn the loop would
// never poll: the timer and the socket below would never be served.

namespace {

struct progress {
  std::atomic<bool> timer_fired{false};
  std::atomic<bool> socket_served{false};
  std::atomic<bool> gave_up{false};
  std::uint64_t yields = 0;
};

// Yields until the timer and the socket have both been served, or gives up after `limit` (so a
// runtime without a budget fails the test instead of hanging it).
zokio::task<void> yield_tight(progress* p, std::chrono::milliseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  while (!(p->timer_fired.load() && p->socket_served.load())) {
    co_await zokio::yield_now();
    ++p->yields;
    if (std::chrono::steady_clock::now() - start > limit) {
      p->gave_up = true;
      break;
    }
  }
}

zokio::task<void> fire_timer(progress* p) {
  co_await zokio::sleep_for(10ms);
  p->timer_fired = true;
}

zokio::task<void> serve_socket(progress* p, zokio::testing::pair_of_streams* s) {
  const std::array<std::byte, 3> out{std::byte{1}, std::byte{2}, std::byte{3}};
  zokio::result<void> w = co_await s->server.write_all(out);
  if (!w.ok()) {
    co_return;
  }
  std::array<std::byte, 3> in{};
  std::size_t got = 0;
  while (got < in.size()) {
    zokio::result<std::size_t> n =
        co_await s->client.read_some(std::span<std::byte>(in.data() + got, in.size() - got));
    if (!n.ok() || n.value() == 0) {
      co_return;
    }
    got += n.value();
  }
  p->socket_served = in == out;
}

zokio::task<void> busy_task_beside_a_timer_and_a_socket(progress* p) {
  zokio::result<zokio::net::tcp_listener> l = zokio::net::tcp_listener::bind("127.0.0.1", 0);
  zokio::result<zokio::testing::pair_of_streams> pair =
      co_await zokio::testing::connected_pair(&l.value());
  auto busy = zokio::spawn(yield_tight(p, 5s));
  auto timer = zokio::spawn(fire_timer(p));
  auto socket = zokio::spawn(serve_socket(p, &pair.value()));
  co_await timer;
  co_await socket;
  co_await busy;
}

TEST(ready_budget, a_task_yielding_in_a_tight_loop_does_not_starve_a_timer_or_a_socket) {
  progress p;
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "the busy task, the timer and the socket to finish",
                                  busy_task_beside_a_timer_and_a_socket(&p));
  EXPECT_TRUE(p.timer_fired.load()) << "a 10 ms timer was not served while a task yielded";
  EXPECT_TRUE(p.socket_served.load()) << "a 3-byte read was not served while a task yielded";
  EXPECT_FALSE(p.gave_up.load())
      << "the timer and the socket were served only once the busy task stopped, 5 s later";
  EXPECT_GT(p.yields, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

// Each loop turn resumes at most ready_budget tasks, so the yields a spinning task makes are
// bounded by the turns the loop took: no wall-clock bound, an exact count.
zokio::task<void> spin_until_timer(progress* p) {
  auto busy = zokio::spawn(yield_tight(p, 5s));
  auto timer = zokio::spawn(fire_timer(p));
  p->socket_served = true; // no socket in this one
  co_await timer;
  co_await busy;
}

TEST(ready_budget, no_loop_turn_resumes_more_tasks_than_the_budget) {
  constexpr unsigned budget = 8;
  progress p;
  zokio::runtime rt{{.workers = 1, .ready_budget = budget}};
  zokio::testing::block_on_within(rt, 20s, "the busy task and the timer to finish",
                                  spin_until_timer(&p));
  EXPECT_TRUE(p.timer_fired.load());
  EXPECT_FALSE(p.gave_up.load()) << "a 10 ms timer waited for the busy task to stop";
  const zokio::runtime_stats s = rt.stats();
  // Each resume is one pop from the ready queue; a turn pops at most `budget`.
  const std::uint64_t resumes = s.resumes_from_loop + s.resumes_from_task + s.resumes_cross_thread;
  EXPECT_GE(resumes, p.yields);
  EXPECT_LE(resumes, (s.loop_iterations + 1) * budget)
      << resumes << " resumes in " << s.loop_iterations << " loop turns with a budget of "
      << budget;
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
