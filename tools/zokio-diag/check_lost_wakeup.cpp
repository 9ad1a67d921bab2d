#include "check_lost_wakeup.hpp"
#include "scenario.hpp"

#include <zokio/diag/lost_wakeup.hpp>
#include <zokio/zokio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>

// Coroutines take their state as parameters by value, never through lambda captures (STYLE.md).

using namespace std::chrono_literals;

namespace zokio::diag_tool {

namespace {

using clock = std::chrono::steady_clock;

/// --inject lost-wakeup: an awaiter that takes the coroutine's handle and drops it, as a waker
/// dropped without waking does. Nothing can resume the task any more.
struct drop_the_waker {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  void await_resume() const noexcept {}
};

// --- Clean: wake-ups that are delivered ---------------------------------------------------------

zokio::task<void> chain(int depth) {
  if (depth > 0) {
    co_await zokio::spawn_on(static_cast<unsigned>(depth % 2), chain(depth - 1), {.name = "joined"})
        .join();
  }
  co_await zokio::yield_now();
}

zokio::task<void> send_n(zokio::sender<int> tx, int n) {
  for (int i = 0; i < n; ++i) {
    co_await tx.send(i);
  }
}

zokio::task<void> receive_all(zokio::receiver<int> rx) {
  // Not `while (co_await rx.recv()) {}`: with GCC 12 -O3 that form left this task "running"
  // without ever suspending, as check_lifecycle.cpp notes for its file reads; not investigated.
  int got = 0;
  while (auto v = co_await rx.recv()) {
    got += *v >= 0 ? 1 : 0;
  }
  if (got != 3000) {
    throw std::runtime_error("the receiver got " + std::to_string(got) + " of 3000 messages");
  }
}

zokio::task<void> lock_often(std::shared_ptr<zokio::mutex> m, int n) {
  for (int i = 0; i < n; ++i) {
    auto guard = co_await m->lock();
    co_await zokio::sleep_for(2ms);
  }
}

zokio::task<void> delivered() {
  std::vector<zokio::join_handle<void>> hs;
  for (int round = 0; round < 5; ++round) {
    hs.push_back(zokio::spawn_on(1, chain(20), {.name = "join-chain"}));
  }
  auto [tx, rx] = zokio::make_channel<int>(1);
  hs.push_back(zokio::spawn_on(1, send_n(std::move(tx), 3000), {.name = "sender"}));
  hs.push_back(zokio::spawn_on(0, receive_all(std::move(rx)), {.name = "receiver"}));
  auto m = std::make_shared<zokio::mutex>();
  for (unsigned i = 0; i < 6; ++i) {
    hs.push_back(zokio::spawn_on(i % 2, lock_often(m, 40), {.name = "locker"}));
  }
  for (auto& h : hs) {
    co_await h.join();
  }
}

void check_delivered(watchdog& wd, scenario_outcome& out) {
  watched_runtime_base w(
      wd, zokio::runtime_options{.workers = 2, .force_async = true, .name = "zokio-diag"});
  std::atomic<bool> done{false};
  std::vector<zokio::diag::lost_wakeup> found;
  int looks = 0;
  std::thread looker([&] {
    while (!done.load()) {
      auto f = zokio::diag::find_lost_wakeups(w.rt());
      ++looks;
      if (!f.empty() && found.empty()) {
        found = std::move(f);
      }
    }
  });
  try {
    w.rt().block_on(delivered());
  } catch (...) {
    done.store(true);
    looker.join();
    throw;
  }
  done.store(true);
  looker.join();
  w.finish(out);
  if (!found.empty()) {
    out.lost_wakeups(found);
    out.fail("a wake-up that was delivered was taken for lost: " +
             zokio::diag::format_lost_wakeups(found));
    return;
  }
  out.note("no lost wake-up in " + std::to_string(looks) +
           " looks while joins, 3,000 channel messages across workers and a contended mutex "
           "ran");
}

// --- Planted (--inject lost-wakeup) -------------------------------------------------------------

zokio::task<void> lose_my_waker() {
  co_await zokio::yield_now(); // the last co_await the runtime sees
  co_await drop_the_waker{};   // never resumed
}

zokio::task<void> plant() {
  (void)zokio::spawn_on(1, lose_my_waker(), {.name = "dropped-waker"});
  co_await zokio::sleep_for(20ms);
}

void check_dropped_waker(watchdog& wd, scenario_outcome& out) {
  watched_runtime_base w(
      wd, zokio::runtime_options{.workers = 2, .name = "zokio-diag", .shutdown_grace = 200ms});
  w.rt().block_on(plant());
  const auto start = clock::now();
  std::vector<zokio::diag::lost_wakeup> found;
  while (found.empty() && clock::now() - start < 1s) {
    found = zokio::diag::find_lost_wakeups(w.rt());
  }
  const auto took = clock::now() - start;
  // The task can never end: the shutdown leaves it (and its frame) behind, by design.
  (void)w.rt().shutdown();
  out.record(w.rt().stats());
  out.lost_wakeups(found);
  if (found.empty()) {
    out.fail("the planted lost wake-up (a dropped coroutine handle) was not found within 1 s");
    return;
  }
  const auto& t = found.front().task;
  std::string gaps;
  if (t.name != "dropped-waker") {
    gaps += "; MISSING: the task's name (got '" + t.name + "')";
  }
  if (std::string(t.spawn_site.file).find("check_lost_wakeup.cpp") == std::string::npos) {
    gaps += "; MISSING: the spawn site in check_lost_wakeup.cpp";
  }
  if (t.await_file.find("check_lost_wakeup.cpp") == std::string::npos) {
    gaps += "; MISSING: the last co_await site in check_lost_wakeup.cpp";
  }
  out.lost_wakeup("lost wake-up found in " + ms(took) + ": task '" + t.name + "' on worker " +
                  std::to_string(t.worker) + ": " + found.front().why +
                  "; last runtime co_await at " + t.await_file + ":" +
                  std::to_string(t.await_line) + gaps);
}

struct scenario {
  const char* name;
  bool planted;
  void (*run)(watchdog&, scenario_outcome&);
};

constexpr scenario battery[] = {
    {"wakeups-delivered", false, &check_delivered},
    {"dropped-waker", true, &check_dropped_waker},
};

bool chosen(const scenario& s, const lost_wakeup_check_options& options) {
  return selected(!s.planted || options.inject_lost_wakeup, s.name, options.only);
}

} // namespace

const std::vector<std::string>& lost_wakeup_scenario_names() {
  static const std::vector<std::string> names = names_of(battery);
  return names;
}

std::vector<std::string> planned_lost_wakeup_scenarios(const lost_wakeup_check_options& options) {
  return planned_names(battery, [&options](const scenario& s) { return chosen(s, options); });
}

check_result run_check_lost_wakeup(const lost_wakeup_check_options& options, watchdog& wd,
                                   const std::function<void(const scenario_result&)>& on_result) {
  return run_chosen(
      "lost-wakeup", battery, [&options](const scenario& s) { return chosen(s, options); }, wd,
      on_result);
}

} // namespace zokio::diag_tool
