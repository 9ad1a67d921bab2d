#include <zokio/sync/mutex.hpp>

#include <zokio/sync/event.hpp>

#include "race.hpp"
#include "zokio_test.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
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

std::uint64_t current_id() {
  return zokio::detail::t_current->m_id;
}

// --- mutual exclusion ---------------------------------------------------------------------------

struct shared_counter {
  zokio::mutex m;
  int value = 0; // plain int: only the mutex orders its accesses (TSan checks the handoffs)
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
};

zokio::task<void> increment(shared_counter* c) {
  auto g = co_await c->m.lock();
  const int now = ++c->inside;
  int seen = c->max_inside.load();
  while (now > seen && !c->max_inside.compare_exchange_weak(seen, now)) {
  }
  const int v = c->value;
  co_await zokio::yield_now(); // a suspension inside the critical section
  c->value = v + 1;
  --c->inside;
}

zokio::task<int> thousand_increments(unsigned workers) {
  shared_counter c;
  std::vector<zokio::join_handle<void>> hs;
  for (unsigned i = 0; i < 1000; ++i) {
    hs.push_back(zokio::spawn_on(i % workers, increment(&c)));
  }
  for (auto& h : hs) {
    co_await h;
  }
  EXPECT_EQ(c.max_inside, 1) << "two tasks were inside the lock at once";
  EXPECT_FALSE(c.m.is_locked());
  co_return c.value;
}

TEST(mutex, a_thousand_tasks_increment_exactly_under_the_lock) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(thousand_increments(1)), 1000);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(mutex, a_thousand_tasks_increment_exactly_on_two_workers) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_EQ(rt.block_on(thousand_increments(2)), 1000);
  EXPECT_EQ(rt.block_on(thousand_increments(2)), 1000);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> try_lock_and_guards() {
  zokio::mutex m;
  bool ok = !m.is_locked();
  {
    zokio::mutex_guard g = m.try_lock();
    ok = ok && g.owns_lock() && g.mutex() == &m && m.is_locked();
    ok = ok && !m.try_lock(); // held: try_lock fails and does not wait
    zokio::mutex_guard moved = std::move(g);
    ok = ok && !g && moved && m.is_locked();
    moved.unlock();
    ok = ok && !moved && !m.is_locked();
    moved.unlock(); // unlocking an empty guard does nothing
  }
  auto g = co_await m.lock(); // free: completes without waiting
  ok = ok && g && m.is_locked();
  g = zokio::mutex_guard(); // assigning over a guard unlocks it
  EXPECT_TRUE(ok);
  EXPECT_TRUE(!m.is_locked());
  co_return true;
}

TEST(mutex, try_lock_and_guard_ownership) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(try_lock_and_guards()));
  zokio::testing::expect_clean_shutdown(rt);
}

// --- fairness -----------------------------------------------------------------------------------

zokio::task<void> record_turn(zokio::mutex* m, std::vector<int>* order, int i) {
  auto g = co_await m->lock();
  order->push_back(i);
  co_await zokio::yield_now();
}

zokio::task<bool> fifo(unsigned workers) {
  zokio::mutex m;
  std::vector<int> order;
  auto g = co_await m.lock();
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < 10; ++i) {
    hs.push_back(zokio::spawn_on(static_cast<unsigned>(i) % workers, record_turn(&m, &order, i)));
    co_await until_waiting(
        &hs.back(), zokio::detail::wait_kind::mutex); // queued in spawn order, whatever the worker
  }
  g.unlock();
  // The mutex went straight to the first waiter: nobody can barge in.
  const bool no_barging = !m.try_lock();
  for (auto& h : hs) {
    co_await h;
  }
  EXPECT_TRUE(no_barging);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  co_return true;
}

TEST(mutex, waiters_get_the_lock_in_fifo_order) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_TRUE(rt.block_on(fifo(1)));
  EXPECT_TRUE(rt.block_on(fifo(2)));
  zokio::testing::expect_clean_shutdown(rt);
}

// --- wait-for edges -----------------------------------------------------------------------------

zokio::task<void> lock_and_leave(zokio::mutex* m) {
  auto g = co_await m->lock();
}

zokio::task<bool> edges() {
  zokio::mutex m;
  auto g = co_await m.lock();
  auto a = zokio::spawn(lock_and_leave(&m));
  co_await until_waiting(&a, zokio::detail::wait_kind::mutex);
  auto b = zokio::spawn(lock_and_leave(&m));
  co_await until_waiting(&b, zokio::detail::wait_kind::mutex);
  auto c = zokio::spawn(lock_and_leave(&m));
  co_await until_waiting(&c, zokio::detail::wait_kind::mutex);
  auto target = [](zokio::join_handle<void>& h) {
    return zokio::detail::record_of(h)->m_wait_target.load();
  };
  // The first waiter waits for the holder, each later one for the waiter ahead of it.
  bool ok = target(a) == current_id() && target(b) == a.id() && target(c) == b.id();
  b.cancel();
  try {
    co_await b;
    ok = false;
  } catch (const zokio::operation_cancelled&) {
  }
  ok = ok && target(c) == a.id(); // the cancelled waiter's place is closed up
  a.cancel();
  try {
    co_await a;
    ok = false;
  } catch (const zokio::operation_cancelled&) {
  }
  ok = ok && target(c) == current_id();
  g.unlock();
  co_await c;
  EXPECT_TRUE(ok);
  EXPECT_TRUE(target(c) == 0);
  EXPECT_TRUE(!m.is_locked());
  co_return true;
}

TEST(mutex, waiters_record_whom_they_wait_for) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(edges()));
  zokio::testing::expect_clean_shutdown(rt);
}

// --- cancellation -------------------------------------------------------------------------------

zokio::task<bool> cancel_one_waiter() {
  zokio::mutex m;
  std::vector<int> order;
  auto g = co_await m.lock();
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < 3; ++i) {
    hs.push_back(zokio::spawn(record_turn(&m, &order, i)));
    co_await until_waiting(&hs.back(), zokio::detail::wait_kind::mutex);
  }
  hs[1].cancel();
  bool cancelled = false;
  try {
    co_await hs[1];
  } catch (const zokio::operation_cancelled&) {
    cancelled = true;
  }
  g.unlock();
  co_await hs[0];
  co_await hs[2];
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(order, (std::vector<int>{0, 2}));
  EXPECT_TRUE(!m.is_locked());
  co_return true;
}

TEST(mutex, a_cancelled_waiter_is_removed_and_the_others_proceed) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(cancel_one_waiter()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> lock_then_hold(zokio::mutex* m, zokio::event* started, std::atomic<int>* got) {
  started->set();
  auto g = co_await m->lock();
  ++*got;
  // Holding the guard across an await: if the task was cancelled after the handoff, this throws
  // and the guard unlocks as the task unwinds.
  co_await zokio::yield_now();
}

zokio::task<void> cancel_at_gate(zokio::join_handle<void>* h, race_gate* g, head_start delay) {
  g->ready = true;
  while (!g->go.load()) {
  }
  hold_back(delay);
  h->cancel(); // on the waiter's own worker: withdraws synchronously
  co_return;
}

// The unlock hands the mutex to the first waiter while that waiter is being cancelled. Either
// the handoff wins (the waiter gets the lock, then fails at its next await and unlocks as it
// unwinds) or the cancellation does (the unlock passes over it). Either way the mutex ends up
// free and every other waiter gets it.
zokio::task<void> unlock_cancel_race(race_tally* t, int waiters) {
  zokio::mutex m;
  for (int i = 0; t->more(); ++i) {
    auto g = co_await m.lock();
    std::vector<zokio::event> started(static_cast<std::size_t>(waiters));
    std::vector<std::atomic<int>> got(static_cast<std::size_t>(waiters));
    std::vector<zokio::join_handle<void>> hs;
    for (std::size_t w = 0; w < started.size(); ++w) {
      hs.push_back(zokio::spawn_on(1, lock_then_hold(&m, &started[w], &got[w])));
      co_await started[w].wait();
    }
    race_gate gate;
    const auto [canceller_delay, completer_delay] = head_starts(i);
    auto canceller = zokio::spawn_on(1, cancel_at_gate(&hs[0], &gate, canceller_delay));
    open_gate(&gate, completer_delay);
    g.unlock();
    co_await canceller;
    bool first_cancelled = false;
    for (std::size_t w = 0; w < hs.size(); ++w) {
      try {
        co_await hs[w];
      } catch (const zokio::operation_cancelled&) {
        first_cancelled = first_cancelled || w == 0;
      }
    }
    for (std::size_t w = 1; w < got.size(); ++w) {
      if (got[w] != 1) {
        t->fail("waiter " + std::to_string(w) + " behind the cancelled one got the mutex " +
                std::to_string(got[w].load()) + " times");
      }
    }
    if (got[0] > 1) {
      t->fail("the cancelled waiter got the mutex " + std::to_string(got[0].load()) + " times");
    }
    if (!first_cancelled) {
      t->fail("the cancelled waiter's join did not throw operation_cancelled");
    }
    if (!m.try_lock()) {
      t->fail("the mutex was lost: still locked after every waiter finished");
    }
    t->count(got[0] == 1);
  }
  if (m.is_locked()) {
    t->fail("the mutex is locked at the end");
  }
}

TEST(mutex, cancel_racing_with_unlock_loses_nothing) {
  zokio::runtime rt{{.workers = 2}};
  race_tally one{"handoff won", "cancel won", 600, 6000};
  zokio::testing::block_on_within(rt, 50s, "600+ unlock/cancel races with one waiter",
                                  unlock_cancel_race(&one, 1));
  zokio::testing::expect_race_accounted(one);
  race_tally three{"handoff won", "cancel won", 300, 3000};
  zokio::testing::block_on_within(rt, 50s, "300+ unlock/cancel races with three waiters",
                                  unlock_cancel_race(&three, 3));
  zokio::testing::expect_race_accounted(three);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- threads, deadlocks, shutdown ---------------------------------------------------------------

zokio::task<bool> unlocked_by_a_thread() {
  zokio::mutex m;
  zokio::mutex_guard held = m.try_lock();
  std::thread t([g = std::move(held)]() mutable {
    std::this_thread::sleep_for(5ms);
    g.unlock(); // hands the mutex to the waiting task from outside the runtime
  });
  auto g = co_await m.lock();
  t.join();
  co_return g.owns_lock();
}

TEST(mutex, a_plain_thread_can_hold_and_unlock_it) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(unlocked_by_a_thread()));
  zokio::testing::expect_clean_shutdown(rt);
}

struct ab_ba {
  zokio::mutex a, b;
  zokio::event a_held, b_held;
};

zokio::task<void> lock_pair(zokio::mutex* first, zokio::mutex* second, zokio::event* mine,
                            zokio::event* theirs) {
  auto g1 = co_await first->lock();
  mine->set();
  co_await theirs->wait();
  auto g2 = co_await second->lock();
}

zokio::task<void> deadlock(ab_ba* s) {
  auto x = zokio::spawn(lock_pair(&s->a, &s->b, &s->a_held, &s->b_held), {.name = "ab"});
  auto y = zokio::spawn(lock_pair(&s->b, &s->a, &s->b_held, &s->a_held), {.name = "ba"});
  co_await x;
  co_await y;
}

TEST(mutex, a_lock_order_inversion_is_reported_as_a_deadlock) {
  ab_ba s; // outlives the runtime: shutdown cancels the stuck waiters
  zokio::runtime rt{{.workers = 1, .deadlock_grace = 100ms}};
  EXPECT_THROW(rt.block_on(deadlock(&s)), zokio::deadlock_error);
  zokio::testing::expect_clean_shutdown(rt);
  EXPECT_FALSE(s.a.is_locked());
  EXPECT_FALSE(s.b.is_locked());
}

} // namespace
