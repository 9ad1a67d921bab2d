// find_lost_wakeups ([diag] #9): waits that the runtime will end (sleeps, joins of running tasks,
// channel receives, mutex waits) are never reported, also while the runtime runs and the reads
// race with the workers; a call from a worker thread throws. (A planted lost wake-up leaves its
// frame behind by nature, which LeakSanitizer would flag: zokio-diag --check-lost-wakeup --inject
// lost-wakeup proves that one is found.)

#include <zokio/diag/lost_wakeup.hpp>

#include "zokio_test.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

zokio::task<void> nap(std::chrono::milliseconds d) {
  co_await zokio::sleep_for(d);
}

zokio::task<void> join_napper(std::chrono::milliseconds d) {
  co_await zokio::spawn_on(1, nap(d), {.name = "napper"}).join();
}

zokio::task<void> send_slowly(zokio::sender<int> tx, int n) {
  for (int i = 0; i < n; ++i) {
    co_await zokio::sleep_for(1ms);
    co_await tx.send(i);
  }
}

zokio::task<int> receive(zokio::receiver<int> rx) {
  int got = 0;
  while (auto v = co_await rx.recv()) {
    got += *v >= 0 ? 1 : 0;
  }
  co_return got;
}

zokio::task<int> waits_that_end() {
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < 4; ++i) {
    hs.push_back(
        zokio::spawn_on(static_cast<unsigned>(i % 2), join_napper(300ms), {.name = "joiner"}));
  }
  auto [tx, rx] = zokio::make_channel<int>(1);
  hs.push_back(zokio::spawn_on(1, send_slowly(std::move(tx), 100), {.name = "sender"}));
  auto got = zokio::spawn_on(0, receive(std::move(rx)), {.name = "receiver"});
  for (auto& h : hs) {
    co_await h.join();
  }
  co_return co_await got.join();
}

TEST(diag_lost_wakeup, waits_that_end_are_never_reported) {
  zokio::runtime rt{{.workers = 2}};
  std::atomic<bool> done{false};
  std::atomic<int> looks{0};
  std::vector<zokio::diag::lost_wakeup> found;
  std::thread looker([&] {
    while (!done.load()) {
      auto f = zokio::diag::find_lost_wakeups(rt, {.stable_for = 30ms});
      looks.fetch_add(1);
      if (!f.empty() && found.empty()) {
        found = std::move(f);
      }
    }
  });
  const int got = rt.block_on(waits_that_end());
  done.store(true);
  looker.join();
  EXPECT_EQ(got, 100);
  EXPECT_GE(looks.load(), 3);
  EXPECT_TRUE(found.empty()) << zokio::diag::format_lost_wakeups(found);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> look_from_a_worker(const zokio::runtime* rt) {
  try {
    (void)zokio::diag::find_lost_wakeups(*rt);
  } catch (const std::logic_error&) {
    co_return true;
  }
  co_return false;
}

TEST(diag_lost_wakeup, a_call_from_a_worker_thread_throws) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(look_from_a_worker(&rt)));
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
