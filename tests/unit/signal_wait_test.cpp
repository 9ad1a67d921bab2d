#include <zokio/signal/signal.hpp>

#include "zokio_test.hpp"

#include <csignal>
#include <thread>

using namespace std::chrono_literals;

namespace {

zokio::task<void> raise_later(int signum, std::chrono::milliseconds delay) {
  // raise() on a thread of its own: the signal is delivered to that thread, and libuv's
  // handler forwards it to every loop watching it.
  co_await zokio::spawn_blocking([signum, delay] {
    std::this_thread::sleep_for(delay);
    ::raise(signum);
  });
}

zokio::task<bool> wait_for_usr1() {
  auto waiter = zokio::spawn(zokio::signal::wait(SIGUSR1));
  co_await zokio::sleep_for(10ms); // the waiter watches SIGUSR1 before anyone raises it
  const auto start = std::chrono::steady_clock::now();
  auto raiser = zokio::spawn(raise_later(SIGUSR1, 20ms));
  co_await waiter;
  co_await raiser;
  co_return std::chrono::steady_clock::now() - start >= 20ms;
}

TEST(signal_wait, a_raised_signal_wakes_the_waiter) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(wait_for_usr1()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> wait_for_any() {
  auto waiter = zokio::spawn(zokio::signal::wait_any({SIGUSR1, SIGUSR2}));
  co_await zokio::sleep_for(10ms);
  auto raiser = zokio::spawn(raise_later(SIGUSR2, 10ms));
  const int got = co_await waiter;
  co_await raiser;
  // The same, awaited directly through the two-signal overload.
  raiser = zokio::spawn(raise_later(SIGUSR1, 20ms));
  const int again = co_await zokio::signal::wait_any(SIGUSR1, SIGUSR2);
  co_await raiser;
  co_return got == SIGUSR2&& again == SIGUSR1 ? got : -1;
}

TEST(signal_wait, wait_any_returns_the_signal_that_came) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_EQ(rt.block_on(wait_for_any()), SIGUSR2);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> cancel_wait() {
  auto waiter = zokio::spawn(zokio::signal::wait(SIGUSR1));
  co_await zokio::sleep_for(10ms);
  waiter.cancel();
  bool cancelled = false;
  try {
    co_await waiter;
  } catch (const zokio::operation_cancelled&) {
    cancelled = true;
  }
  co_await zokio::sleep_for(1ms); // a loop turn: handles_active is sampled after each
  co_return cancelled;
}

TEST(signal_wait, a_cancelled_wait_closes_its_handle) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(cancel_wait()));
  EXPECT_EQ(rt.stats().handles_active, 0u);
  zokio::testing::expect_clean_shutdown(rt); // a handle left open would be reported here
}

TEST(signal_wait, shutdown_cancels_a_pending_wait) {
  zokio::runtime rt{{.workers = 2}};
  auto h = rt.spawn(zokio::signal::wait(SIGUSR2));
  std::this_thread::sleep_for(20ms);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> bad_signal() {
  co_await zokio::signal::wait(0);
}
zokio::task<void> uncatchable() {
  co_await zokio::signal::wait(SIGKILL);
}

TEST(signal_wait, rejects_bad_signal_numbers) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_THROW(rt.block_on(bad_signal()), std::invalid_argument);
  EXPECT_THROW(rt.block_on(uncatchable()), std::system_error);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
