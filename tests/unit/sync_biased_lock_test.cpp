// A channel's lock (worker_biased_lock): biased to the worker that made it, so that worker's
// sections cost no locked instruction, until another thread takes it, which revokes the bias
// once and for good. The revocation races the owner's own sections: mutual exclusion must hold
// across it (a lost increment of a plain counter, or a torn channel queue, says it did not).

#include <zokio/detail/biased_lock.hpp>

#include "zokio_test.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

using zokio::detail::asymmetric_fences;
using zokio::detail::worker_biased_lock;

zokio::task<void> owner_then_other() {
  worker_biased_lock lock(zokio::detail::t_worker);
  // Biased where the kernel has membarrier (not under TSan, which gets the plain spinlock).
  EXPECT_EQ(lock.biased(), asymmetric_fences());
  for (int i = 0; i < 1000; ++i) {
    lock.lock();
    lock.unlock();
  }
  EXPECT_EQ(lock.biased(), asymmetric_fences()) << "the owner's own locks keep the bias";
  std::thread([&lock] {
    lock.lock();
    lock.unlock();
  }).join();
  EXPECT_FALSE(lock.biased()) << "another thread's lock revokes it";
  lock.lock(); // the owner, on the plain path from now on
  lock.unlock();
  EXPECT_FALSE(lock.biased()) << "for good";
  co_return;
}

TEST(biased_lock, the_owner_keeps_the_bias_until_another_thread_locks) {
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(owner_then_other());
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(biased_lock, made_outside_a_worker_it_is_a_plain_spinlock) {
  worker_biased_lock lock(zokio::detail::t_worker); // no worker on this thread
  EXPECT_FALSE(lock.biased());
  lock.lock();
  lock.unlock();
}

struct storm {
  worker_biased_lock* lock = nullptr;
  std::uint64_t count = 0; // plain: only ever changed under the lock
  std::atomic<bool> owner_running{false};
  std::atomic<bool> other_done{false};
};

constexpr std::uint64_t k_other_adds = 20'000;

/// The owner adds in a tight loop (never suspending) until the other thread has made all its
/// adds, so the other thread's first lock, and so the revocation, lands in the middle of it, and
/// both keep adding side by side after it.
zokio::task<void> owner_adds(storm* s) {
  worker_biased_lock lock(zokio::detail::t_worker);
  s->lock = &lock;
  auto add = [&] {
    lock.lock();
    ++s->count;
    lock.unlock();
  };
  add(); // one biased section before the other thread starts
  std::uint64_t mine = 1;
  s->owner_running.store(true, std::memory_order_release);
  while (!s->other_done.load(std::memory_order_acquire)) {
    add();
    ++mine;
  }
  lock.lock();
  const std::uint64_t total = s->count;
  lock.unlock();
  EXPECT_EQ(total, mine + k_other_adds) << "the owner made " << mine;
  co_return;
}

TEST(biased_lock, a_revocation_racing_the_owners_sections_loses_no_update) {
  zokio::runtime rt{{.workers = 1}};
  for (int round = 0; round < 40; ++round) {
    storm s;
    std::thread other([&s] {
      while (!s.owner_running.load(std::memory_order_acquire)) {
        std::this_thread::yield();
      }
      for (std::uint64_t i = 0; i < k_other_adds; ++i) {
        s.lock->lock();
        ++s.count;
        s.lock->unlock();
      }
      s.other_done.store(true, std::memory_order_release);
    });
    rt.block_on(owner_adds(&s));
    other.join();
    if (::testing::Test::HasFailure()) {
      FAIL() << "round " << round;
    }
  }
  zokio::testing::expect_clean_shutdown(rt);
}

/// Stops the owner between its first look at `revoked` and its `in` store, the one window where
/// only the second look keeps it out of a section the revoker already holds, until the other
/// thread has revoked the bias and holds the lock.
struct window {
  std::atomic<bool> armed{false};
  std::atomic<bool> owner_stopped{false};
  std::atomic<bool> other_holds{false};
  std::atomic<bool> other_in_section{false};
};

window* g_window = nullptr;

struct stop_in_window {
  static void owner_checked() noexcept {
    window* w = g_window;
    if (w == nullptr || !w->armed.exchange(false)) {
      return;
    }
    w->owner_stopped.store(true, std::memory_order_release);
    while (!w->other_holds.load(std::memory_order_acquire)) {
      std::this_thread::yield();
    }
  }
};

using window_lock = zokio::detail::basic_worker_biased_lock<stop_in_window>;

zokio::task<void> owner_in_window(window* w) {
  window_lock lock(zokio::detail::t_worker);
  lock.lock(); // a biased section first
  lock.unlock();
  EXPECT_TRUE(lock.biased());
  std::thread other([&lock, w] {
    while (!w->owner_stopped.load(std::memory_order_acquire)) {
      std::this_thread::yield();
    }
    lock.lock(); // revokes: the owner has not stored `in` yet, so this does not wait
    w->other_in_section.store(true, std::memory_order_relaxed);
    w->other_holds.store(true, std::memory_order_release);
    // Long enough that an owner let in beside it finds it still here.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    w->other_in_section.store(false, std::memory_order_relaxed);
    lock.unlock();
  });
  w->armed.store(true);
  lock.lock(); // stops in the window until the other thread holds the lock
  const bool both_inside = w->other_in_section.load(std::memory_order_relaxed);
  lock.unlock();
  other.join();
  EXPECT_FALSE(both_inside) << "the owner entered a section the revoker held";
  EXPECT_FALSE(lock.biased());
  co_return;
}

TEST(biased_lock, a_revocation_inside_the_owners_check_keeps_the_owner_out) {
  if (!asymmetric_fences()) {
    GTEST_SKIP() << "no membarrier here (or ThreadSanitizer): the lock is never biased";
  }
  zokio::runtime rt{{.workers = 1}};
  window w;
  g_window = &w;
  rt.block_on(owner_in_window(&w));
  g_window = nullptr;
  EXPECT_FALSE(w.armed.load()) << "the owner never reached the window";
  zokio::testing::expect_clean_shutdown(rt);
}

/// A channel made on worker 0 and used there, then sent to from plain threads while worker 0
/// keeps sending: every value arrives once, each sender's in order.
zokio::task<void> owner_sends(zokio::sender<std::uint64_t> tx, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    const bool sent = co_await tx.send(i); // not in EXPECT_TRUE's `if` (README, "Compilers")
    EXPECT_TRUE(sent);
  }
}

zokio::task<void> mixed_senders() {
  constexpr std::uint64_t owner_n = 300'000;
  constexpr std::uint64_t thread_n = 50'000;
  constexpr int threads = 2;
  auto channel = zokio::make_channel<std::uint64_t>(0);
  zokio::receiver<std::uint64_t> rx = std::move(channel.rx);
  zokio::sender<std::uint64_t> tx = std::move(channel.tx);
  auto owner = zokio::spawn(owner_sends(tx, owner_n));
  std::vector<std::thread> others;
  for (int t = 0; t < threads; ++t) {
    others.emplace_back([tx, t]() mutable {
      const std::uint64_t tag = static_cast<std::uint64_t>(t + 1) << 32;
      for (std::uint64_t i = 0; i < thread_n; ++i) {
        while (tx.try_send(tag | i) != zokio::send_status::sent) {
        }
      }
    });
  }
  tx = {};
  std::vector<std::uint64_t> next(threads + 1, 0);
  std::uint64_t got = 0;
  for (;;) {
    std::optional<std::uint64_t> v = co_await rx.recv();
    if (!v) {
      break;
    }
    const std::uint64_t who = *v >> 32;
    const std::uint64_t i = *v & 0xffffffffu;
    EXPECT_LE(who, static_cast<std::uint64_t>(threads));
    if (who > static_cast<std::uint64_t>(threads)) {
      break;
    }
    EXPECT_EQ(i, next[who]) << "sender " << who;
    next[who] = i + 1;
    ++got;
  }
  co_await owner;
  for (std::thread& t : others) {
    t.join();
  }
  EXPECT_EQ(got, owner_n + threads * thread_n);
  EXPECT_EQ(next[0], owner_n);
}

TEST(biased_lock, a_channel_sent_to_by_its_worker_and_plain_threads_keeps_every_order) {
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(mixed_senders());
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
