// Calls from foreign threads while shutdown() runs (issue [fix] 3 and 4): every rt.spawn() either
// throws no_runtime_error or gives a task that runs or is cancelled, nothing is dropped or leaked,
// and the report is clean only when nothing was left. Run under ASan/LSan as well: a leaked root
// frame is a leak report there.

#include <zokio/task/spawn_blocking.hpp>
#include <zokio/time/sleep.hpp>

#include "zokio_test.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

zokio::task<int> small_work(std::atomic<int>* ran) {
  ++*ran;
  co_await zokio::yield_now();
  co_return 1;
}

TEST(shutdown_race, spawns_from_another_thread_during_shutdown_all_finish_or_throw) {
  for (int run = 0; run < 40; ++run) {
    auto rt = std::make_unique<zokio::runtime>(zokio::runtime_options{.workers = 2});
    std::atomic<int> ran{0};
    std::atomic<bool> go{false};
    std::atomic<int> refused{0};
    std::vector<zokio::join_handle<int>> handles;
    std::thread spawner([&] {
      while (!go.load()) {
      }
      for (int i = 0; i < 100'000; ++i) {
        try {
          handles.push_back(rt->spawn(small_work(&ran)));
        } catch (const zokio::no_runtime_error&) {
          ++refused;
          break; // from now on every spawn throws
        }
      }
    });
    go.store(true);
    std::this_thread::sleep_for(std::chrono::microseconds(200 * (run % 5)));
    const zokio::shutdown_report report = rt->shutdown();
    spawner.join();
    EXPECT_TRUE(report.clean()) << "run " << run << ": " << report.to_string();
    std::size_t unfinished = 0;
    for (auto& h : handles) {
      unfinished += h.is_finished() ? 0 : 1;
    }
    EXPECT_EQ(unfinished, 0u) << "run " << run << ": handles whose task never finished";
    const zokio::runtime_stats s = rt->stats();
    EXPECT_EQ(s.tasks_spawned, handles.size());
    EXPECT_EQ(s.tasks_completed + s.tasks_cancelled, handles.size());
    EXPECT_EQ(s.tasks_live, 0u);
    EXPECT_EQ(s.lost_wakeups, 0u);
    if (handles.size() < 100'000) {
      EXPECT_EQ(refused.load(), 1) << "the spawner stopped without being refused";
    }
    // A spawn after shutdown throws, always.
    EXPECT_THROW((void)rt->spawn(small_work(&ran)), zokio::no_runtime_error);
    handles.clear(); // dropped after shutdown: releases, never touches the loop
    rt.reset();
  }
}

zokio::task<void> sleeper() {
  co_await zokio::sleep_for(10s);
}

zokio::task<std::vector<zokio::join_handle<void>>> spawn_sleepers(int n) {
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < n; ++i) {
    hs.push_back(zokio::spawn(sleeper()));
  }
  co_await zokio::yield_now();
  co_return hs;
}

TEST(shutdown_race, cancels_from_another_thread_during_shutdown_leak_nothing) {
  for (int run = 0; run < 20; ++run) {
    auto rt = std::make_unique<zokio::runtime>(zokio::runtime_options{.workers = 2});
    std::vector<zokio::join_handle<void>> hs = rt->block_on(spawn_sleepers(200));
    std::atomic<bool> stop{false};
    std::thread canceller([&] {
      while (!stop.load()) {
        for (auto& h : hs) {
          h.cancel();
        }
      }
    });
    const zokio::shutdown_report report = rt->shutdown();
    stop.store(true);
    canceller.join();
    EXPECT_TRUE(report.clean()) << report.to_string();
    for (auto& h : hs) {
      EXPECT_TRUE(h.is_finished());
      h.cancel(); // after shutdown: a no-op
    }
    EXPECT_EQ(rt->stats().tasks_cancelled, 200u);
    hs.clear();
    rt.reset();
  }
}

zokio::task<void> nap(std::chrono::milliseconds d) {
  co_await zokio::sleep_for(d);
}

TEST(shutdown_race, shutdown_grace_expiring_reports_what_is_left) {
  // A blocking job cannot be stopped: its task outlives the grace and the report says so (the
  // task awaiting it was cancelled and finished; the job's own task is the one left).
  zokio::runtime rt{{.workers = 1, .shutdown_grace = 100ms}};
  static std::atomic<bool> release{false}; // outlives the pool thread that reads it
  auto h = rt.spawn([](std::atomic<bool>* r) -> zokio::task<void> {
    co_await zokio::spawn_blocking([r] {
      while (!r->load()) {
        std::this_thread::sleep_for(1ms);
      }
    });
  }(&release));
  rt.block_on(nap(20ms));
  const auto start = std::chrono::steady_clock::now();
  const zokio::shutdown_report report = rt.shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_FALSE(report.clean());
  EXPECT_EQ(report.tasks_left, 1u);
  EXPECT_NE(report.to_string().find("1 task(s) left"), std::string::npos) << report.to_string();
  release.store(true); // let the pool thread end; the worker it reports to was kept alive
}

} // namespace
