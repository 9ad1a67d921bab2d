// The console's woken_without_progress lint ([diag] #9, tokio-console's self-wake lint): each
// task counts the wakes it issued for itself while it ran; a task whose self-wakes are over half
// of its wakes, once it has been woken at least 100 times, is flagged. A task that loops on
// yield_now is; tasks woken by a channel or a timer are not, however often they are woken.

#include <zokio/diag/console.hpp>
#include <zokio/diag/task_dump.hpp>

#include "zokio_test.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr int yields = 300;
constexpr int values = 400;
constexpr int ticks = 120;

zokio::task<void> yielder(std::shared_ptr<zokio::event> stop) {
  for (int i = 0; i < yields; ++i) {
    co_await zokio::yield_now();
  }
  co_await stop->wait();
}

zokio::task<void> producer(zokio::sender<int> tx) {
  for (int i = 0; i < values; ++i) {
    (void)co_await tx.send(i);
  }
}

zokio::task<void> consumer(zokio::receiver<int> rx, std::shared_ptr<zokio::event> stop) {
  // Not `while (co_await rx.recv())`: with GCC 12 that consumer's body never starts here (its
  // frame is resumed 8 bytes off; a pre-existing problem, reported to the lead).
  for (;;) {
    const std::optional<int> v = co_await rx.recv();
    if (!v) {
      break;
    }
  }
  co_await stop->wait();
}

zokio::task<void> ticker(std::shared_ptr<zokio::event> stop) {
  for (int i = 0; i < ticks; ++i) {
    co_await zokio::sleep_for(1ms);
  }
  co_await stop->wait();
}

struct seen {
  std::vector<zokio::diag::task_info> dump;
  std::string json;
};

const zokio::diag::task_info* find(const std::vector<zokio::diag::task_info>& dump,
                                   const std::string& name) {
  const auto it = std::find_if(dump.begin(), dump.end(),
                               [&](const zokio::diag::task_info& t) { return t.name == name; });
  return it == dump.end() ? nullptr : &*it;
}

zokio::task<seen> run(zokio::runtime* rt) {
  auto stop = std::make_shared<zokio::event>();
  auto [tx, rx] = zokio::make_channel<int>(1);
  auto y = zokio::spawn(yielder(stop), {.name = "yielder"});
  auto c = zokio::spawn(consumer(std::move(rx), stop), {.name = "consumer"});
  auto p = zokio::spawn(producer(std::move(tx)), {.name = "producer"});
  auto t = zokio::spawn(ticker(stop), {.name = "ticker"});
  co_await p.join();
  // Until the three others all wait on the stop event.
  for (int i = 0; i < 5000; ++i) {
    const auto dump = zokio::diag::task_dump(*rt);
    int parked = 0;
    for (const char* n : {"yielder", "consumer", "ticker"}) {
      const auto* ti = find(dump, n);
      parked += ti != nullptr && ti->waiting_on == "event" ? 1 : 0;
    }
    if (parked == 3) {
      break;
    }
    co_await zokio::sleep_for(1ms);
  }
  seen s;
  s.dump = zokio::diag::task_dump(*rt);
  // A snapshot is taken off the runtime's workers: on a blocking thread.
  s.json = co_await zokio::spawn_blocking(
      [rt] { return zokio::diag::snapshot_json(*rt, {.detectors = false, .handles_wait = 0ms}); });
  stop->set();
  co_await y.join();
  co_await c.join();
  co_await t.join();
  co_return s;
}

/// The lints of `json` for task `id`: how many name `lint`.
int lints_for(const std::string& json, const std::string& lint, std::uint64_t id) {
  const std::string needle = "{\"lint\":\"" + lint + "\",\"task_id\":" + std::to_string(id) + ",";
  int n = 0;
  for (auto at = json.find(needle); at != std::string::npos; at = json.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST(diag_wake_lint, flags_a_yield_loop_and_not_tasks_woken_by_others) {
  zokio::runtime rt{{.workers = 1}};
  const seen s = rt.block_on(run(&rt));
  const auto* y = find(s.dump, "yielder");
  const auto* c = find(s.dump, "consumer");
  const auto* t = find(s.dump, "ticker");
  ASSERT_NE(y, nullptr);
  ASSERT_NE(c, nullptr);
  ASSERT_NE(t, nullptr);

  // Each yield is a wake the task issued for itself.
  EXPECT_EQ(y->self_wakes, static_cast<std::uint64_t>(yields));
  EXPECT_EQ(y->wakes, y->resumes - 1);
  EXPECT_GE(y->wakes, static_cast<std::uint64_t>(yields));
  EXPECT_EQ(lints_for(s.json, "woken_without_progress", y->id), 1) << s.json;

  // Woken by the producer and by the timer, many times: none of it their own.
  EXPECT_GE(c->wakes, 100u) << "the consumer must be woken often for its clean result to count";
  EXPECT_EQ(c->self_wakes, 0u);
  EXPECT_GE(t->wakes, static_cast<std::uint64_t>(ticks));
  EXPECT_EQ(t->self_wakes, 0u);
  EXPECT_EQ(lints_for(s.json, "woken_without_progress", c->id), 0) << s.json;
  EXPECT_EQ(lints_for(s.json, "woken_without_progress", t->id), 0) << s.json;

  // Both counts are in the snapshot's task and the text dump.
  EXPECT_NE(s.json.find("\"self_wakes\":" + std::to_string(yields)), std::string::npos);
  EXPECT_NE(s.json.find("\"lints_coming\":[]"), std::string::npos);
  const std::string text = zokio::diag::format_task_dump(s.dump);
  EXPECT_NE(text.find("(self " + std::to_string(yields) + ")"), std::string::npos) << text;
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
