// A worker's inbox, from the threads that post into it: spawns and wakes from plain threads.
//
// Only the post that finds an inbox empty wakes the worker's loop (docs/decisions.md, "A
// worker's inbox is guarded by a spinlock"). A mistake there strands messages in an inbox while
// the loop sleeps: these tests then hang, and their watchdogs say what did not happen. The
// posting threads pause now and then, so that the workers keep going from busy to idle and back.

#include "zokio_test.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr int k_threads = 4;

struct countdown {
  explicit countdown(std::int64_t n) : left(n) {}
  void arrive() {
    if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      done.set();
    }
  }
  std::atomic<std::int64_t> left;
  zokio::event done;
};

zokio::task<void> arrive(countdown* c) {
  c->arrive();
  co_return;
}

zokio::task<void> wait_for(countdown* c) {
  co_await c->done.wait();
}

/// Every `every` steps, a pause: a yield, or now and then a sleep long enough for the workers to
/// run dry and block in their poll.
void pause_now_and_then(int i, int every) {
  if (i % every != every - 1) {
    return;
  }
  if ((i / every) % 8 == 7) {
    std::this_thread::sleep_for(1ms);
  } else {
    std::this_thread::yield();
  }
}

TEST(inbox, spawns_from_many_threads_all_run) {
  constexpr int per_thread = 20'000;
  zokio::runtime rt{{.workers = 2, .deadlock_grace = 0ms}}; // fed by threads it does not know
  countdown c(std::int64_t{k_threads} * per_thread);
  std::vector<std::thread> spawners;
  for (int k = 0; k < k_threads; ++k) {
    spawners.emplace_back([&rt, &c] {
      for (int i = 0; i < per_thread; ++i) {
        rt.spawn(arrive(&c)).detach();
        pause_now_and_then(i, 64);
      }
    });
  }
  zokio::testing::block_on_within(rt, 50s, "80,000 spawns from four threads all ran", wait_for(&c));
  for (std::thread& t : spawners) {
    t.join();
  }
  EXPECT_EQ(c.left.load(), 0);
  EXPECT_EQ(rt.stats().tasks_spawned, std::uint64_t{k_threads} * per_thread + 1);
  zokio::testing::expect_clean_shutdown(rt);
}

/// Counts itself parked, then waits: nothing can suspend it in between, so once every waiter has
/// arrived at `parked`, every one is parked or about to be.
zokio::task<void> park_then_arrive(zokio::event* e, countdown* parked, countdown* woken) {
  parked->arrive();
  co_await e->wait();
  woken->arrive();
}

zokio::task<void> park_all(std::vector<std::unique_ptr<zokio::event>>* events, countdown* parked,
                           countdown* woken, std::atomic<bool>* go) {
  std::vector<zokio::join_handle<void>> handles;
  for (std::size_t i = 0; i < events->size(); ++i) {
    handles.push_back(zokio::spawn_on(static_cast<unsigned>(i % 2),
                                      park_then_arrive((*events)[i].get(), parked, woken)));
  }
  co_await parked->done.wait();
  go->store(true, std::memory_order_release); // the plain threads start setting the events
  for (zokio::join_handle<void>& h : handles) {
    co_await h;
  }
}

TEST(inbox, wakes_from_many_threads_all_arrive) {
  constexpr int per_thread = 2'000;
  constexpr int n = k_threads * per_thread;
  zokio::runtime rt{{.workers = 2, .deadlock_grace = 0ms}}; // woken by threads it does not know
  std::vector<std::unique_ptr<zokio::event>> events;
  for (int i = 0; i < n; ++i) {
    events.push_back(std::make_unique<zokio::event>());
  }
  countdown parked(n);
  countdown woken(n);
  std::atomic<bool> go{false};
  std::vector<std::thread> setters;
  for (int k = 0; k < k_threads; ++k) {
    setters.emplace_back([&events, &go, k] {
      while (!go.load(std::memory_order_acquire)) {
        std::this_thread::sleep_for(100us);
      }
      // Thread k sets events k, k + 4, k + 8, ...: each worker's wakes come from all four.
      for (int i = 0; i < per_thread; ++i) {
        events[static_cast<std::size_t>(i * k_threads + k)]->set();
        pause_now_and_then(i, 32);
      }
    });
  }
  zokio::testing::block_on_within(rt, 50s, "8,000 wakes from four threads all arrived",
                                  park_all(&events, &parked, &woken, &go));
  for (std::thread& t : setters) {
    t.join();
  }
  EXPECT_EQ(woken.left.load(), 0);
  // The waits were parked when their events were set from plain threads: cross-thread resumes.
  EXPECT_GE(rt.stats().resumes_cross_thread, std::uint64_t{n} / 2);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
