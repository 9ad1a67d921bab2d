// A worker's live list (owner_biased_lock): the owner links and unlinks a record per spawn and
// finish with plain stores, while task dumps from other threads walk it. A dump racing a storm
// of spawns and finishes must only ever see whole, live records (ASan would name a record read
// after it was freed).

#include <zokio/diag/task_dump.hpp>

#include "zokio_test.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

zokio::task<void> short_lived(std::atomic<std::uint64_t>* done) {
  done->fetch_add(1, std::memory_order_relaxed);
  co_return;
}

/// On worker 1: spawns and lets finish `n` named tasks, a few hundred live at a time.
zokio::task<void> churn(std::uint64_t n, std::atomic<std::uint64_t>* done) {
  for (std::uint64_t i = 0; i < n; ++i) {
    zokio::spawn(short_lived(done), {.name = "churned"}).detach();
    if (i % 256 == 255) {
      co_await zokio::yield_now();
    }
  }
  while (done->load(std::memory_order_relaxed) != n) {
    co_await zokio::yield_now();
  }
}

zokio::task<void> churn_on_worker_1(std::atomic<std::uint64_t>* done) {
  auto h = zokio::spawn_on(1, churn(200'000, done), {.name = "churn"});
  co_await h;
}

TEST(live_list, dumps_from_another_thread_see_only_whole_records_during_a_storm) {
  zokio::runtime rt{{.workers = 2}};
  std::atomic<std::uint64_t> done{0};
  std::atomic<bool> stop{false};
  std::uint64_t dumps = 0;
  std::uint64_t seen = 0;
  std::string bad;
  // A plain thread dumps as fast as it can while worker 1 churns.
  std::thread dumper([&] {
    while (!stop.load(std::memory_order_acquire)) {
      for (const zokio::diag::task_info& t : zokio::diag::task_dump(rt)) {
        ++seen;
        if (t.worker > 1 || t.spawn_site.line == 0 || t.age < 0ns || t.busy < 0ns ||
            (t.name != "churned" && t.name != "churn" && t.name != "block_on")) {
          bad = "task " + std::to_string(t.id) + " '" + t.name + "' on worker " +
                std::to_string(t.worker) + ", age " + std::to_string(t.age.count()) + " ns";
        }
      }
      ++dumps;
    }
  });
  rt.block_on(churn_on_worker_1(&done));
  stop.store(true, std::memory_order_release);
  dumper.join();
  EXPECT_EQ(done.load(), 200'000u);
  EXPECT_TRUE(bad.empty()) << bad;
  EXPECT_GT(dumps, 10u) << "the dumps did not race the storm";
  EXPECT_GT(seen, 0u);
  std::printf("%llu dumps saw %llu records\n", static_cast<unsigned long long>(dumps),
              static_cast<unsigned long long>(seen));
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
