#include <zokio/signal/listener.hpp>

#include "zokio_test.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

// signal::listener watches from construction: a signal raised before anyone awaits recv() is
// kept, not fatal (with SIGUSR1's default action, a signal nobody watches ends this process and
// the test with it).

using namespace std::chrono_literals;
using zokio::signal::listener;

namespace {

zokio::task<int> recv_one(listener* l) {
  co_return co_await l->recv();
}

/// The next signal of `l`, or -1 when none comes within 5 s.
zokio::task<int> recv_within(listener* l) {
  zokio::result<int> r = co_await zokio::timeout(5s, recv_one(l));
  co_return r.ok() ? r.value() : -1;
}

zokio::task<std::vector<int>> early_signals() {
  std::vector<int> got;
  listener l{SIGUSR1, SIGUSR2};
  ::raise(SIGUSR1); // before any await: the listener already watches it
  got.push_back(co_await recv_within(&l));
  listener again(SIGUSR2);
  ::kill(::getpid(), SIGUSR2);
  co_await zokio::sleep_for(20ms); // the loop takes it in before anyone waits
  got.push_back(co_await recv_within(&again));
  got.push_back(co_await recv_within(&l)); // both listeners received it
  co_return got;
}

TEST(signal_listener, a_signal_raised_before_recv_is_received) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(early_signals()), (std::vector<int>{SIGUSR1, SIGUSR2, SIGUSR2}));
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(signal_listener, a_signal_raised_before_recv_is_received_under_force_async) {
  zokio::runtime rt{{.workers = 1, .force_async = true}};
  EXPECT_EQ(rt.block_on(early_signals()), (std::vector<int>{SIGUSR1, SIGUSR2, SIGUSR2}));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> several() {
  listener l{SIGUSR1, SIGUSR2, SIGHUP};
  bool ok = true;
  // In order of arrival.
  ::raise(SIGUSR2);
  ::raise(SIGHUP);
  ::raise(SIGUSR1);
  ok &= co_await recv_within(&l) == SIGUSR2;
  ok &= co_await recv_within(&l) == SIGHUP;
  ok &= co_await recv_within(&l) == SIGUSR1;
  ok &= !l.try_recv().has_value();
  // A signal that comes again while still kept counts once, as pending signals do.
  ::raise(SIGUSR1);
  ::raise(SIGUSR1);
  co_await zokio::sleep_for(20ms);
  ok &= l.try_recv() == std::optional<int>(SIGUSR1);
  ok &= !l.try_recv().has_value();
  // From another thread, while a task waits.
  auto waiting = zokio::spawn(recv_within(&l));
  co_await zokio::sleep_for(10ms);
  std::thread other([] { ::kill(::getpid(), SIGHUP); });
  ok &= co_await waiting == SIGHUP;
  other.join();
  co_return ok;
}

TEST(signal_listener, several_signals_arrive_in_order_and_coalesce_while_kept) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(several()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> listen_on_this_worker(std::atomic<bool>* ready) {
  listener l(SIGUSR1);
  ready->store(true);
  co_return co_await recv_within(&l);
}

zokio::task<bool> two_workers() {
  std::atomic<bool> ready{false};
  auto other = zokio::spawn_on(1, listen_on_this_worker(&ready));
  listener mine(SIGUSR1);
  for (int i = 0; i < 500 && !ready.load(); ++i) {
    co_await zokio::sleep_for(1ms);
  }
  ::raise(SIGUSR1);
  const int here = co_await recv_within(&mine);
  const int there = co_await other;
  co_return here == SIGUSR1&& there == SIGUSR1;
}

TEST(signal_listener, listeners_on_two_workers_both_receive_a_signal) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_TRUE(rt.block_on(two_workers()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> cancel_recv() {
  listener l(SIGUSR2);
  auto h = zokio::spawn(recv_one(&l));
  co_await zokio::sleep_for(10ms); // it waits in recv()
  h.cancel();
  bool cancelled = false;
  try {
    (void)co_await h;
  } catch (const zokio::operation_cancelled&) {
    cancelled = true;
  }
  // The listener still watches: a signal now is kept for the next recv().
  ::raise(SIGUSR2);
  const int next = co_await recv_within(&l);
  co_return cancelled&& next == SIGUSR2;
}

TEST(signal_listener, a_cancelled_recv_throws_and_the_listener_keeps_listening) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(cancel_recv()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> listen_for_ever() {
  listener l{SIGUSR1, SIGUSR2};
  (void)co_await l.recv();
}

zokio::task<std::uint64_t> idle_listener_handles(const zokio::runtime* rt) {
  listener l(SIGUSR1);
  co_await zokio::sleep_for(1ms); // a loop turn: handles_active is sampled after each
  co_return rt->stats().handles_active;
}

TEST(signal_listener, shutdown_cancels_a_pending_recv_and_closes_the_handles) {
  zokio::runtime rt{{.workers = 2}};
  auto h = rt.spawn(listen_for_ever());
  std::this_thread::sleep_for(20ms);
  zokio::testing::expect_clean_shutdown(rt); // a handle left open would be reported here
}

TEST(signal_listener, an_idle_listener_is_no_external_work) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(idle_listener_handles(&rt)), 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> make_listener(std::vector<int> signums) {
  listener l(std::move(signums));
  co_return;
}

TEST(signal_listener, rejects_bad_signals_and_a_thread_outside_the_runtime) {
  EXPECT_THROW(listener{SIGUSR1}, zokio::no_runtime_error);
  zokio::runtime rt{{.workers = 1}};
  EXPECT_THROW(rt.block_on(make_listener({})), std::invalid_argument);
  EXPECT_THROW(rt.block_on(make_listener({0})), std::invalid_argument);
  EXPECT_THROW(rt.block_on(make_listener({SIGUSR1, NSIG})), std::invalid_argument);
  EXPECT_THROW(rt.block_on(make_listener({SIGUSR1, SIGKILL})), std::system_error);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
