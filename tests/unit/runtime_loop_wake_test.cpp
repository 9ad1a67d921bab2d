// A task woken by a timer in the same loop turn in which the worker goes idle is run, not left in
// the ready queue while the poll blocks (a lost wake-up found by the sanitizer runs: libuv runs
// timers before it polls, and its poll timeout does not know about our ready queue).

#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/time/sleep.hpp>

#include "loopback.hpp"
#include "race.hpp"
#include "zokio_test.hpp"

#include <chrono>
#include <cstddef>
#include <span>
#include <string>

using namespace std::chrono_literals;

namespace {

using zokio::testing::busy_for;

// Sleeps 1 ms, then writes the byte the other task waits for.
zokio::task<void> wake_the_reader(zokio::net::tcp_stream* client) {
  co_await zokio::sleep_for(1ms);
  const std::byte b{42};
  (void)co_await client->write_all(std::span<const std::byte>(&b, 1));
}

zokio::task<std::string> timer_due_when_the_loop_goes_idle() {
  auto l = zokio::net::tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind failed";
  }
  auto p = co_await zokio::testing::connected_pair(&l.value());
  if (!p.ok()) {
    co_return "connect failed";
  }
  auto writer = zokio::spawn(wake_the_reader(&p.value().client));
  co_await zokio::yield_now(); // the writer arms its 1 ms timer
  busy_for(5ms);               // ... which is due before the worker next polls
  // The only external work now is this read, which only the writer can complete: the turn that
  // runs the due timer must not then block in the poll with the writer in the ready queue.
  std::byte b{};
  auto r = co_await p.value().server.read_some(std::span<std::byte>(&b, 1));
  co_await writer;
  if (!r.ok() || r.value() != 1 || b != std::byte{42}) {
    co_return "the read did not get the byte";
  }
  co_return "";
}

TEST(loop_wake, a_task_woken_by_a_timer_as_the_loop_goes_idle_runs) {
  // No deadlock detector: its watch timer would end the blocked poll after its grace and hide
  // the lost wake-up behind a one-second delay.
  zokio::runtime rt{{.workers = 1, .deadlock_grace = 0ms}};
  for (int round = 0; round < 5; ++round) {
    EXPECT_EQ(zokio::testing::block_on_within(rt, 5s, "the timer-woken writer to run",
                                              timer_due_when_the_loop_goes_idle()),
              "");
  }
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
