// A task that has seen an event set may destroy it at once, while the thread that set it is still
// returning from set() (issue [fix] 5). Under ASan a use of the freed event is a report; in any
// build the rounds must all complete.

#include <zokio/sync/event.hpp>

#include "zokio_test.hpp"

#include <atomic>
#include <memory>
#include <thread>

namespace {

struct handoff {
  std::atomic<zokio::event*> event{nullptr};
  std::atomic<int> round{0}; // published after `event`; -1 when the waiter is finished
};

zokio::task<int> wait_then_destroy(handoff* h, int rounds) {
  int done = 0;
  for (int i = 1; i <= rounds; ++i) {
    auto* e = new zokio::event;
    h->event.store(e, std::memory_order_relaxed);
    h->round.store(i, std::memory_order_release);
    // Wait until the setter thread has set it (seen under the event's lock), then wait on it:
    // the wait completes at once, and the event is destroyed while set() may still be returning.
    while (!e->is_set()) {
      co_await zokio::yield_now();
    }
    co_await e->wait();
    delete e;
    ++done;
  }
  h->round.store(-1, std::memory_order_release);
  co_return done;
}

TEST(event_lifetime, a_waiter_may_destroy_the_event_as_soon_as_it_is_set) {
  zokio::runtime rt{{.workers = 1}};
  handoff h;
  std::thread setter([&] {
    int last = 0; // rounds, not addresses: a new event may reuse a freed one's address
    for (;;) {
      const int r = h.round.load(std::memory_order_acquire);
      if (r < 0) {
        return;
      }
      if (r != last) {
        last = r;
        h.event.load(std::memory_order_relaxed)->set(); // the waiter may delete it at once
      }
    }
  });
  EXPECT_EQ(rt.block_on(wait_then_destroy(&h, 2000)), 2000);
  setter.join();
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> suspended_waiter(zokio::event* e, std::atomic<int>* woken) {
  co_await e->wait();
  ++*woken;
  delete e; // the last waiter returned: it owns the event now
}

TEST(event_lifetime, the_last_suspended_waiter_may_destroy_the_event) {
  zokio::runtime rt{{.workers = 2}};
  std::atomic<int> woken{0};
  for (int i = 0; i < 500; ++i) {
    auto* e = new zokio::event;
    auto h = rt.spawn(suspended_waiter(e, &woken));
    std::this_thread::yield();
    e->set(); // from a thread outside the runtime, racing the waiter's suspension
    rt.block_on([](zokio::join_handle<void>* x) -> zokio::task<void> { co_await *x; }(&h));
  }
  EXPECT_EQ(woken.load(), 500);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
