#include <zokio/diag/deadlock.hpp>

#include "loopback.hpp"
#include "zokio_test.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace {

using zokio::diag::deadlock_cycle;

/// What the test thread and the runtime's tasks share. The test thread polls find_deadlocks while
/// another thread drives the runtime with block_on; `release` tells the root task to cancel the
/// planted cycle and end.
struct plant {
  std::atomic<bool> release{false};
  std::atomic<int> held{0};            // mutexes taken first, for the AB/BA rendezvous
  std::atomic<std::uint64_t> ticks{0}; // the ticker of a partial deadlock
  zokio::mutex first;
  zokio::mutex second;
};

/// Polls find_deadlocks (default stable interval) until it reports something or `limit` passes.
std::vector<deadlock_cycle> poll(const zokio::runtime& rt, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  std::vector<deadlock_cycle> found;
  while (found.empty() && std::chrono::steady_clock::now() < end) {
    found = zokio::diag::find_deadlocks(rt);
  }
  return found;
}

zokio::task<void> wait_released(std::shared_ptr<plant> p) {
  while (!p->release.load()) {
    co_await zokio::sleep_for(2ms);
  }
}

zokio::task<void> join_other(std::shared_ptr<zokio::event> go, zokio::join_handle<void>* other) {
  co_await go->wait();
  co_await other->join(); // join() records the co_await site
}

zokio::task<void> join_cycle(std::shared_ptr<plant> p) {
  auto go = std::make_shared<zokio::event>();
  zokio::join_handle<void> a;
  zokio::join_handle<void> b;
  a = zokio::spawn_on(0, join_other(go, &b), {.name = "joins-b"});
  b = zokio::spawn_on(1, join_other(go, &a), {.name = "joins-a"});
  go->set();
  co_await wait_released(p);
  a.cancel();
  b.cancel();
  while (!a.is_finished() || !b.is_finished()) {
    co_await zokio::sleep_for(1ms);
  }
}

/// Takes `first`, waits until the other task holds its own first mutex, then takes `second`.
zokio::task<void> lock_both(std::shared_ptr<plant> p, zokio::mutex* first, zokio::mutex* second) {
  auto g1 = co_await first->lock();
  p->held.fetch_add(1);
  while (p->held.load() < 2) {
    co_await zokio::sleep_for(1ms);
  }
  auto g2 = co_await second->lock();
}

zokio::task<void> tick(std::shared_ptr<plant> p) {
  while (!p->release.load()) {
    co_await zokio::sleep_for(2ms);
    p->ticks.fetch_add(1);
  }
}

zokio::task<void> read_one(zokio::net::tcp_stream* s) {
  std::byte buf[16];
  (void)co_await s->read_some(buf);
}

/// An AB/BA lock cycle across two workers; with `partial`, a ticking timer task and a socket with
/// a pending read go on beside it.
zokio::task<void> lock_cycle(std::shared_ptr<plant> p, bool partial) {
  zokio::join_handle<void> ticker;
  zokio::join_handle<void> reader;
  std::optional<zokio::testing::pair_of_streams> streams;
  std::optional<zokio::net::tcp_listener> listener;
  if (partial) {
    ticker = zokio::spawn(tick(p), {.name = "ticker"});
    listener.emplace(zokio::net::tcp_listener::bind("127.0.0.1", 0).value());
    streams.emplace(std::move(co_await zokio::testing::connected_pair(&*listener)).value());
    reader = zokio::spawn(read_one(&streams->server), {.name = "reader"});
  }
  auto ab = zokio::spawn_on(0, lock_both(p, &p->first, &p->second), {.name = "locks-a-then-b"});
  auto ba = zokio::spawn_on(1, lock_both(p, &p->second, &p->first), {.name = "locks-b-then-a"});
  co_await wait_released(p);
  ab.cancel();
  ba.cancel();
  for (auto* h : {&ab, &ba}) {
    try {
      co_await *h;
    } catch (const zokio::operation_cancelled&) {
    }
  }
  if (partial) {
    reader.cancel();
    try {
      co_await reader;
    } catch (const zokio::operation_cancelled&) {
    }
    co_await ticker;
  }
}

/// Runs `root` with block_on on a thread of its own; returns what polling found, then releases
/// the root and waits for it.
template <typename Root>
std::vector<deadlock_cycle> find_while_running(zokio::runtime& rt, std::shared_ptr<plant> p,
                                               Root root) {
  zokio::testing::must_happen_within guard(20s, "the planted deadlock to be found and released");
  std::thread driver([&rt, t = std::move(root)]() mutable { rt.block_on(std::move(t)); });
  std::vector<deadlock_cycle> found = poll(rt, 5s);
  p->release.store(true);
  driver.join();
  return found;
}

std::vector<std::string> names(const deadlock_cycle& c) {
  std::vector<std::string> v;
  for (const auto& t : c.tasks) {
    v.push_back(t.name);
  }
  std::sort(v.begin(), v.end());
  return v;
}

TEST(find_deadlocks, finds_two_tasks_joining_each_other) {
  zokio::runtime rt{{.workers = 2}};
  auto p = std::make_shared<plant>();
  const auto found = find_while_running(rt, p, join_cycle(p));
  ASSERT_EQ(found.size(), 1u) << zokio::diag::format_deadlocks(found);
  EXPECT_EQ(names(found[0]), (std::vector<std::string>{"joins-a", "joins-b"}));
  const auto& ring = found[0].tasks;
  EXPECT_EQ(ring[0].waits_for_task, ring[1].id);
  EXPECT_EQ(ring[1].waits_for_task, ring[0].id);
  EXPECT_LT(ring[0].id, ring[1].id) << "the ring starts at its lowest id";
  for (const auto& t : ring) {
    EXPECT_EQ(t.waiting_on, "join");
    EXPECT_NE(t.await_file.find("diag_deadlock_test.cpp"), std::string::npos) << t.await_file;
    EXPECT_NE(std::string(t.spawn_site.file).find("diag_deadlock_test.cpp"), std::string::npos);
    EXPECT_NE(t.spawn_site.line, 0u);
  }
  const std::string text = zokio::diag::format_deadlocks(found);
  EXPECT_NE(text.find("deadlock: 2 task(s) in a cycle"), std::string::npos) << text;
  EXPECT_NE(text.find("'joins-a'"), std::string::npos) << text;
  EXPECT_EQ(rt.stats().deadlocks_detected, 1u) << "found by several calls, counted once";
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(find_deadlocks, finds_an_ab_ba_lock_cycle_across_two_workers) {
  zokio::runtime rt{{.workers = 2}};
  auto p = std::make_shared<plant>();
  const auto found = find_while_running(rt, p, lock_cycle(p, false));
  ASSERT_EQ(found.size(), 1u) << zokio::diag::format_deadlocks(found);
  EXPECT_EQ(names(found[0]), (std::vector<std::string>{"locks-a-then-b", "locks-b-then-a"}));
  for (const auto& t : found[0].tasks) {
    EXPECT_EQ(t.waiting_on, "mutex");
    EXPECT_NE(t.await_line, 0u);
  }
  EXPECT_NE(found[0].tasks[0].worker, found[0].tasks[1].worker);
  EXPECT_EQ(rt.stats().deadlocks_detected, 1u);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(find_deadlocks, finds_a_partial_deadlock_beside_a_live_timer_and_socket) {
  zokio::runtime rt{{.workers = 2}};
  auto p = std::make_shared<plant>();
  std::uint64_t ticks_at_detection = 0;
  std::vector<deadlock_cycle> found;
  {
    zokio::testing::must_happen_within guard(20s, "the partial deadlock to be found");
    std::thread driver([&rt, p] { rt.block_on(lock_cycle(p, true)); });
    found = poll(rt, 5s);
    ticks_at_detection = p->ticks.load();
    // The rest of the runtime is alive: the ticker keeps ticking after the cycle was found.
    zokio::testing::wait_until([&] { return p->ticks.load() > ticks_at_detection + 5; }, 10s,
                               "the ticker to tick beside the deadlocked tasks");
    p->release.store(true);
    driver.join();
  }
  ASSERT_EQ(found.size(), 1u) << zokio::diag::format_deadlocks(found);
  EXPECT_EQ(names(found[0]), (std::vector<std::string>{"locks-a-then-b", "locks-b-then-a"}));
  EXPECT_GT(ticks_at_detection, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> chain_link(int left) {
  if (left == 0) {
    co_await zokio::sleep_for(300ms);
    co_return 0;
  }
  auto next = zokio::spawn(chain_link(left - 1), {.name = "link"});
  co_return 1 + co_await next;
}

/// A plain thread that calls find_deadlocks in a loop, alternating two stable intervals, until
/// stopped; counts the calls and the cycles reported.
class looping_detector {
public:
  looping_detector(const zokio::runtime& rt, std::chrono::milliseconds other_interval)
      : m_thread([this, &rt, other_interval] {
          while (!m_done.load()) {
            m_reported.fetch_add(zokio::diag::find_deadlocks(rt).size());
            m_reported.fetch_add(
                zokio::diag::find_deadlocks(rt, {.stable_for = other_interval}).size());
            m_calls.fetch_add(2);
          }
        }) {}
  ~looping_detector() { stop(); }
  void stop() {
    m_done.store(true);
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  std::size_t calls() const { return m_calls.load(); }
  std::size_t reported() const { return m_reported.load(); }

private:
  std::atomic<bool> m_done{false};
  std::atomic<std::size_t> m_reported{0};
  std::atomic<std::size_t> m_calls{0};
  std::thread m_thread; // last: starts once the counters exist
};

TEST(find_deadlocks, reports_nothing_for_a_long_chain_of_joins_that_resolves) {
  zokio::runtime rt{{.workers = 2}};
  // 0 ms: a single read, which sees every cycle there is at that moment; a chain has none.
  looping_detector detector(rt, 0ms);
  const int length =
      zokio::testing::block_on_within(rt, 20s, "a chain of 200 joins", chain_link(200));
  detector.stop();
  EXPECT_EQ(length, 200);
  EXPECT_GE(detector.calls(), 2u);
  EXPECT_EQ(detector.reported(), 0u);
  EXPECT_EQ(rt.stats().deadlocks_detected, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> hammer(zokio::mutex* m, std::uint64_t* shared, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    auto g = co_await m->lock();
    ++*shared;
    co_await zokio::yield_now(); // hold it across a suspension: waiters queue up
  }
}

zokio::task<void> contend(zokio::mutex* m, std::uint64_t* shared, int tasks, int rounds) {
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < tasks; ++i) {
    hs.push_back(zokio::spawn_on(static_cast<unsigned>(i % 2), hammer(m, shared, rounds),
                                 {.name = "hammer"}));
  }
  for (auto& h : hs) {
    co_await h;
  }
}

TEST(find_deadlocks, reports_nothing_under_heavy_mutex_contention_that_resolves) {
  constexpr int tasks = 200;
  constexpr int rounds = 1000;
  zokio::runtime rt{{.workers = 2}};
  zokio::mutex m;
  std::uint64_t shared = 0; // guarded by m
  // The default interval, and a short one that samples the busy graph more often.
  looping_detector detector(rt, 5ms);
  zokio::testing::block_on_within(rt, 50s, "200 tasks x 1000 lock/unlock",
                                  contend(&m, &shared, tasks, rounds));
  detector.stop();
  EXPECT_EQ(shared, static_cast<std::uint64_t>(tasks) * rounds);
  EXPECT_GE(detector.calls(), 2u);
  EXPECT_EQ(detector.reported(), 0u);
  EXPECT_EQ(rt.stats().deadlocks_detected, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> call_from_worker(const zokio::runtime* rt) {
  co_await zokio::yield_now();
  (void)zokio::diag::find_deadlocks(*rt, {.stable_for = 0ms}); // a single read is allowed
  try {
    (void)zokio::diag::find_deadlocks(*rt);
  } catch (const std::logic_error&) {
    co_return true;
  }
  co_return false;
}

TEST(find_deadlocks, refuses_to_sleep_on_a_worker_thread) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(
      zokio::testing::block_on_within(rt, 10s, "the call from a worker", call_from_worker(&rt)));
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
