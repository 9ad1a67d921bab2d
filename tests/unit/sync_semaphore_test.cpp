#include <zokio/sync/semaphore.hpp>

#include <zokio/sync/event.hpp>

#include "race.hpp"
#include "zokio_test.hpp"

#include <atomic>
#include <chrono>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using zokio::testing::head_start;
using zokio::testing::head_starts;
using zokio::testing::hold_back;
using zokio::testing::open_gate;
using zokio::testing::race_gate;
using zokio::testing::race_tally;
using zokio::testing::until_waiting;

struct gate {
  explicit gate(std::size_t n) : sem(n) {}
  zokio::semaphore sem;
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  std::atomic<int> done{0};
};

zokio::task<void> hold_a_while(gate* g, int i) {
  auto p = co_await g->sem.acquire();
  const int now = ++g->inside;
  int seen = g->max_inside.load();
  while (now > seen && !g->max_inside.compare_exchange_weak(seen, now)) {
  }
  if (i % 7 == 0) {
    co_await zokio::sleep_for(1ms);
  } else {
    co_await zokio::yield_now();
  }
  --g->inside;
  ++g->done;
}

zokio::task<bool> bounded_concurrency(unsigned workers) {
  gate g(3);
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < 300; ++i) {
    hs.push_back(zokio::spawn_on(static_cast<unsigned>(i) % workers, hold_a_while(&g, i)));
  }
  for (auto& h : hs) {
    co_await h;
  }
  EXPECT_TRUE(g.max_inside == 3);
  EXPECT_TRUE(g.done == 300);
  EXPECT_TRUE(g.sem.available() == 3);
  co_return true;
}

TEST(semaphore, at_most_n_tasks_hold_a_permit_at_once) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_TRUE(rt.block_on(bounded_concurrency(1)));
  EXPECT_TRUE(rt.block_on(bounded_concurrency(2)));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> permits_and_try_acquire() {
  zokio::semaphore s(2);
  bool ok = s.available() == 2;
  zokio::semaphore_permit a = s.try_acquire();
  zokio::semaphore_permit b = co_await s.acquire(); // a permit is free: no wait
  ok = ok && a && b && s.available() == 0 && !s.try_acquire();
  a.release();
  ok = ok && !a && s.available() == 1;
  zokio::semaphore_permit moved = std::move(b);
  ok = ok && !b && moved && s.available() == 1;
  moved.forget(); // gone for good
  ok = ok && !moved && s.available() == 1;
  s.add_permits(2);
  ok = ok && s.available() == 3;
  {
    auto p1 = s.try_acquire();
    auto p2 = s.try_acquire();
    ok = ok && p1 && p2 && s.available() == 1;
  }
  EXPECT_TRUE(ok);
  EXPECT_TRUE(s.available() == 3);
  co_return true;
}

TEST(semaphore, try_acquire_release_forget_and_add_permits) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(permits_and_try_acquire()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> record_turn(zokio::semaphore* s, std::vector<int>* order, int i) {
  auto p = co_await s->acquire();
  order->push_back(i);
  co_await zokio::yield_now();
}

zokio::task<bool> fifo(unsigned workers) {
  zokio::semaphore s(1);
  std::vector<int> order;
  auto held = co_await s.acquire();
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < 10; ++i) {
    hs.push_back(zokio::spawn_on(static_cast<unsigned>(i) % workers, record_turn(&s, &order, i)));
    co_await until_waiting(&hs.back(), zokio::detail::wait_kind::semaphore);
  }
  held.release();
  const bool no_barging = !s.try_acquire(); // the permit went straight to the first waiter
  for (auto& h : hs) {
    co_await h;
  }
  EXPECT_TRUE(no_barging);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(s.available() == 1);
  co_return true;
}

TEST(semaphore, waiters_get_permits_in_fifo_order) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_TRUE(rt.block_on(fifo(1)));
  EXPECT_TRUE(rt.block_on(fifo(2)));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> hold_until(zokio::semaphore* s, std::vector<int>* order, int i,
                             zokio::event* done) {
  auto p = co_await s->acquire();
  order->push_back(i);
  co_await done->wait();
}

zokio::task<bool> add_permits_wakes_several() {
  zokio::semaphore s(0);
  zokio::event done;
  std::vector<int> order;
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < 5; ++i) {
    hs.push_back(zokio::spawn(hold_until(&s, &order, i, &done)));
    co_await until_waiting(&hs.back(), zokio::detail::wait_kind::semaphore);
  }
  s.add_permits(3); // three waiters at once, the first three
  co_await zokio::sleep_for(5ms);
  const bool three_first = order == std::vector<int>{0, 1, 2} && s.available() == 0;
  s.add_permits(2);
  co_await zokio::sleep_for(5ms);
  const bool all = order == std::vector<int>{0, 1, 2, 3, 4};
  done.set();
  for (auto& h : hs) {
    co_await h;
  }
  EXPECT_TRUE(three_first);
  EXPECT_TRUE(all);
  EXPECT_TRUE(s.available() == 5);
  co_return true;
}

TEST(semaphore, add_permits_hands_them_to_waiters_first) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(add_permits_wakes_several()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> cancel_one_waiter() {
  zokio::semaphore s(1);
  std::vector<int> order;
  auto held = co_await s.acquire();
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < 3; ++i) {
    hs.push_back(zokio::spawn(record_turn(&s, &order, i)));
    co_await until_waiting(&hs.back(), zokio::detail::wait_kind::semaphore);
  }
  hs[1].cancel();
  bool cancelled = false;
  try {
    co_await hs[1];
  } catch (const zokio::operation_cancelled&) {
    cancelled = true;
  }
  held.release();
  co_await hs[0];
  co_await hs[2];
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(order, (std::vector<int>{0, 2}));
  EXPECT_TRUE(s.available() == 1);
  co_return true;
}

TEST(semaphore, a_cancelled_waiter_is_removed_and_the_others_proceed) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(cancel_one_waiter()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> acquire_then_hold(zokio::semaphore* s, zokio::event* started,
                                    std::atomic<int>* got) {
  started->set();
  auto p = co_await s->acquire();
  ++*got;
  co_await zokio::yield_now(); // throws if cancelled after the handoff: the permit goes back
}

zokio::task<void> cancel_at_gate(zokio::join_handle<void>* a, zokio::join_handle<void>* b,
                                 race_gate* g, head_start delay) {
  g->ready = true;
  while (!g->go.load()) {
  }
  hold_back(delay);
  a->cancel(); // on the waiters' own worker: withdraws synchronously
  b->cancel();
  co_return;
}

// Two releases hand permits to the first two of three waiters while those two are being
// cancelled. Whoever wins each race, every permit is back afterwards and the third waiter got
// one.
zokio::task<void> release_cancel_race(race_tally* t) {
  constexpr std::size_t permits = 2;
  zokio::semaphore s(permits);
  for (int i = 0; t->more(); ++i) {
    auto p1 = co_await s.acquire();
    auto p2 = co_await s.acquire();
    zokio::event started[3];
    std::atomic<int> got[3] = {0, 0, 0};
    zokio::join_handle<void> hs[3];
    for (int w = 0; w < 3; ++w) {
      hs[w] = zokio::spawn_on(1, acquire_then_hold(&s, &started[w], &got[w]));
      co_await started[w].wait();
    }
    race_gate gate;
    const auto [canceller_delay, completer_delay] = head_starts(i);
    auto canceller = zokio::spawn_on(1, cancel_at_gate(&hs[0], &hs[1], &gate, canceller_delay));
    open_gate(&gate, completer_delay);
    p1.release();
    p2.release();
    co_await canceller;
    for (auto& h : hs) {
      try {
        co_await h;
      } catch (const zokio::operation_cancelled&) {
      }
    }
    if (got[2] != 1) {
      t->fail("the third waiter got " + std::to_string(got[2].load()) + " permits, not 1");
    }
    if (s.available() != permits) {
      t->fail(std::to_string(s.available()) + " permits available after the round, not 2");
    }
    t->count(got[0] == 1);
  }
}

TEST(semaphore, cancel_racing_with_release_loses_no_permit) {
  zokio::runtime rt{{.workers = 2}};
  race_tally t{"handoff won", "cancel won", 600, 6000};
  zokio::testing::block_on_within(rt, 50s, "600+ release/cancel races", release_cancel_race(&t));
  zokio::testing::expect_race_accounted(t);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> acquire_briefly(zokio::semaphore* s) {
  auto p = co_await s->acquire();
  co_await zokio::sleep_for(1ms);
}

zokio::task<bool> many_cancellations() {
  zokio::semaphore s(4);
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < 400; ++i) {
    hs.push_back(zokio::spawn_on(static_cast<unsigned>(i) % 2, acquire_briefly(&s)));
  }
  co_await zokio::sleep_for(3ms);
  for (std::size_t i = 0; i < hs.size(); i += 3) {
    hs[i].cancel();
  }
  for (auto& h : hs) {
    try {
      co_await h;
    } catch (const zokio::operation_cancelled&) {
    }
  }
  co_return s.available() == 4;
}

TEST(semaphore, permits_are_never_lost_after_cancellations) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_TRUE(rt.block_on(many_cancellations()));
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
