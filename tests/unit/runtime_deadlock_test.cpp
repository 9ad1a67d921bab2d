#include <zokio/runtime/errors.hpp>

#include "zokio_test.hpp"

#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

zokio::task<void> join_other(zokio::join_handle<void>* other, zokio::event* go,
                             zokio::event* finished) {
  co_await go->wait();
  co_await *other;
  finished->set();
}

// Two tasks that join each other: a cycle of the wait-for graph. block_on's task waits for an
// event only they would set.
zokio::task<void> cycle() {
  zokio::event go, finished;
  zokio::join_handle<void> a, b;
  a = zokio::spawn(join_other(&b, &go, &finished), {.name = "alpha"});
  b = zokio::spawn(join_other(&a, &go, &finished), {.name = "beta"});
  go.set();
  co_await finished.wait();
}

TEST(deadlock, block_on_reports_a_join_cycle_instead_of_hanging) {
  zokio::runtime rt{{.workers = 1, .deadlock_grace = 100ms}};
  try {
    rt.block_on(cycle());
    FAIL() << "no deadlock_error";
  } catch (const zokio::deadlock_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("alpha"), std::string::npos) << what;
    EXPECT_NE(what.find("beta"), std::string::npos) << what;
    EXPECT_NE(what.find("wait-for"), std::string::npos) << what;
  }
  EXPECT_EQ(rt.stats().deadlocks_detected, 1u);
  zokio::testing::expect_clean_shutdown(rt); // shutdown cancels the stuck tasks
}

zokio::task<void> wait_never_set() {
  zokio::event never;
  co_await never.wait();
}

TEST(deadlock, an_event_nobody_can_set_is_a_deadlock_on_two_workers) {
  zokio::runtime rt{{.workers = 2, .deadlock_grace = 100ms}};
  EXPECT_THROW(rt.block_on(wait_never_set()), zokio::deadlock_error);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> slow_but_alive() {
  co_await zokio::sleep_for(300ms); // a pending timer is external progress
  co_await zokio::spawn_blocking([] { return 0; });
  co_return 1;
}

TEST(deadlock, pending_timers_and_blocking_jobs_are_not_deadlocks) {
  zokio::runtime rt{{.workers = 2, .deadlock_grace = 50ms}};
  EXPECT_EQ(rt.block_on(slow_but_alive()), 1);
  EXPECT_EQ(rt.stats().deadlocks_detected, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> busy_other_worker(zokio::event* e) {
  for (int i = 0; i < 30; ++i) {
    co_await zokio::sleep_for(10ms);
  }
  e->set();
}

zokio::task<int> wait_for_other_worker() {
  zokio::event e;
  auto h = zokio::spawn_on(1, busy_other_worker(&e));
  co_await e.wait(); // worker 0 is idle, but worker 1 has a timer pending
  co_await h;
  co_return 2;
}

TEST(deadlock, quiescence_is_judged_over_the_whole_runtime) {
  zokio::runtime rt{{.workers = 2, .deadlock_grace = 50ms}};
  EXPECT_EQ(rt.block_on(wait_for_other_worker()), 2);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> nothing() {
  co_return;
}

zokio::task<int> wait_for_plain_thread(zokio::event* e) {
  co_await e->wait();
  co_return 3;
}

// Between the spawns of a plain thread the runtime is idle with nothing external pending; what
// it has is messages in its inboxes, drained as they come. The detector must count those as
// progress (the epoch moves at each drain), or it declares a deadlock a grace period in.
TEST(deadlock, a_plain_thread_that_keeps_spawning_is_progress) {
  zokio::runtime rt{{.workers = 2, .deadlock_grace = 200ms}};
  zokio::event e;
  std::thread feeder([&rt, &e] {
    for (int i = 0; i < 200; ++i) { // a second: five grace periods
      std::this_thread::sleep_for(5ms);
      rt.spawn(nothing()).detach();
    }
    e.set();
  });
  int got = 0;
  try {
    got = rt.block_on(wait_for_plain_thread(&e));
  } catch (const zokio::deadlock_error& err) {
    ADD_FAILURE() << "taken for a deadlock: " << err.what();
  }
  feeder.join();
  EXPECT_EQ(got, 3);
  EXPECT_EQ(rt.stats().deadlocks_detected, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
