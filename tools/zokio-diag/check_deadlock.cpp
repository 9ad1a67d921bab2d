#include "check_deadlock.hpp"
#include "scenario.hpp"

#include <zokio/zokio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

// Coroutines take their state as parameters by value (shared_ptr, or plain pointers into a frame
// that outlives them), never through lambda captures (STYLE.md).
//
// Threads: each scenario's runtime is driven by block_on, on the check's thread for the clean
// battery and on a thread of its own for the planted one, while the check's thread (planted) or a
// scanner thread (clean) calls find_deadlocks: the detector runs outside the runtime, as a user's
// monitoring thread would.

using namespace std::chrono_literals;

namespace zokio::diag_tool {

namespace {

using clock = std::chrono::steady_clock;

/// How long a planted deadlock may take to be found (the "within a second").
constexpr auto find_limit = 1s;

/// A two-worker force_async runtime under the watchdog, as in every zokio-diag scenario: each
/// await really suspends, so the waits the detector reads are real ones, and the counters are
/// judged as --check-async judges them.
class watched : public watched_runtime_base {
public:
  explicit watched(watchdog& wd, std::chrono::milliseconds deadlock_grace = 1000ms)
      : watched_runtime_base(wd, zokio::runtime_options{.workers = 2,
                                                        .force_async = true,
                                                        .name = "zokio-diag",
                                                        .deadlock_grace = deadlock_grace}) {}
};

/// One line per cycle: who waits for whom, where.
std::string summary(const std::vector<zokio::diag::deadlock_cycle>& cycles) {
  std::string s;
  for (const auto& c : cycles) {
    s += s.empty() ? "" : "; ";
    s += "cycle of " + std::to_string(c.tasks.size()) + ":";
    for (const auto& t : c.tasks) {
      s += " '" + t.name + "' (" + t.waiting_on + " at " +
           (t.await_line != 0 ? t.await_file + ":" + std::to_string(t.await_line)
                              : std::string("?")) +
           ") ->";
    }
    s += " '" + c.tasks.front().name + "'";
  }
  return s;
}

// --- The clean battery: waits that resolve, scanned all along ---------------------------------

/// A plain thread that scans the runtime for deadlocks until stopped, alternating the default
/// stable interval with a short one, and keeps every cycle it saw (each a false positive here).
class scanner {
public:
  explicit scanner(const zokio::runtime& rt)
      : m_thread([this, &rt] {
          for (bool short_one = true; !m_stop.load(); short_one = !short_one) {
            // Counted as it starts: its first read of the graph is taken while the workload runs.
            m_scans.fetch_add(1);
            auto found = zokio::diag::find_deadlocks(
                rt, {.stable_for = short_one ? 10ms : zokio::diag::deadlock_options{}.stable_for});
            if (!found.empty()) {
              std::lock_guard<std::mutex> lock(m_mutex);
              m_found.insert(m_found.end(), found.begin(), found.end());
            }
          }
        }) {
    // The workload starts once the first scan has: every scenario is scanned while it runs.
    while (m_scans.load() == 0) {
      std::this_thread::sleep_for(1ms);
    }
  }
  ~scanner() { stop(); }
  scanner(const scanner&) = delete;
  scanner& operator=(const scanner&) = delete;

  void stop() {
    m_stop.store(true);
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  /// After stop(): every cycle reported.
  std::vector<zokio::diag::deadlock_cycle> found() const { return m_found; }
  std::uint64_t scans() const { return m_scans.load(); }

  /// Stops the scan and has `out` fail on any cycle reported.
  void judge(scenario_outcome& out, const std::string& workload) {
    stop();
    const auto cycles = found();
    if (!cycles.empty()) {
      out.fail("false positive: " + std::to_string(cycles.size()) + " cycle(s) reported during " +
               workload + ", which resolves: " + summary(cycles));
      out.cycles(cycles);
      return;
    }
    out.note(workload + " finished; " + std::to_string(scans()) +
             " find_deadlocks scan(s) reported no cycle");
    out.expect(scans() > 0, "find_deadlocks never ran: the scenario proves nothing");
  }

private:
  std::atomic<bool> m_stop{false};
  std::atomic<std::uint64_t> m_scans{0};
  std::mutex m_mutex;                               // guards m_found
  std::vector<zokio::diag::deadlock_cycle> m_found; // m_mutex
  std::thread m_thread;                             // last: starts once the rest exists
};

constexpr int chain_length = 100;
constexpr auto chain_end_sleep = 200ms;

/// Each link spawns the next on the other worker and joins it; the last one sleeps.
zokio::task<int> join_link(int left) {
  if (left > 0) {
    auto next =
        zokio::spawn_on(static_cast<unsigned>(left % 2), join_link(left - 1), {.name = "link"});
    co_return 1 + co_await next.join();
  }
  co_await zokio::sleep_for(chain_end_sleep);
  co_return 0;
}

void check_join_chain(watchdog& wd, scenario_outcome& out) {
  watched w(wd);
  scanner scan(w.rt());
  const int length = w.rt().block_on(join_link(chain_length));
  out.expect(length == chain_length, "the chain returned " + std::to_string(length) +
                                         ", expected " + std::to_string(chain_length));
  scan.judge(out, "a chain of " + std::to_string(chain_length) + " joins across 2 workers");
  w.finish(out);
}

constexpr int contention_tasks = 100;
constexpr int contention_rounds = 500;

/// Locks `m` `rounds` times, holding it across a yield each time so that waiters queue up.
zokio::task<void> lock_often(zokio::mutex* m, std::uint64_t* guarded, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    auto g = co_await m->lock();
    ++*guarded;
    co_await zokio::yield_now();
  }
}

/// Locks `a` then `b`, always in that order, `rounds` times: contention without a cycle.
zokio::task<void> lock_in_order(zokio::mutex* a, zokio::mutex* b, std::uint64_t* guarded,
                                int rounds) {
  for (int i = 0; i < rounds; ++i) {
    auto ga = co_await a->lock();
    auto gb = co_await b->lock();
    ++*guarded;
    co_await zokio::sleep_for(std::chrono::milliseconds(i % 2));
  }
}

zokio::task<void> join_all(std::vector<zokio::join_handle<void>> handles) {
  for (auto& h : handles) {
    co_await h.join();
  }
}

void check_mutex_contention(watchdog& wd, scenario_outcome& out) {
  watched w(wd);
  zokio::mutex m;
  std::uint64_t guarded = 0; // under m
  scanner scan(w.rt());
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < contention_tasks; ++i) {
    hs.push_back(w.rt().spawn(lock_often(&m, &guarded, contention_rounds), {.name = "contender"}));
  }
  w.rt().block_on(join_all(std::move(hs)));
  const auto expected = static_cast<std::uint64_t>(contention_tasks) * contention_rounds;
  out.expect(guarded == expected, "the mutex let " + std::to_string(guarded) +
                                      " increments through, expected " + std::to_string(expected));
  scan.judge(out, std::to_string(contention_tasks) + " tasks x " +
                      std::to_string(contention_rounds) + " lock/unlock on 2 workers");
  w.finish(out);
}

constexpr int ordered_tasks = 20;
constexpr int ordered_rounds = 50;

void check_lock_order(watchdog& wd, scenario_outcome& out) {
  watched w(wd);
  zokio::mutex a;
  zokio::mutex b;
  std::uint64_t guarded = 0; // under a and b
  scanner scan(w.rt());
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < ordered_tasks; ++i) {
    hs.push_back(
        w.rt().spawn(lock_in_order(&a, &b, &guarded, ordered_rounds), {.name = "a-then-b"}));
  }
  w.rt().block_on(join_all(std::move(hs)));
  const auto expected = static_cast<std::uint64_t>(ordered_tasks) * ordered_rounds;
  out.expect(guarded == expected, "the mutexes let " + std::to_string(guarded) +
                                      " increments through, expected " + std::to_string(expected));
  scan.judge(out, std::to_string(ordered_tasks) + " tasks locking A then B across 2 workers");
  w.finish(out);
}

// --- The planted battery (--inject deadlock) -------------------------------------------------

/// What a planted deadlock's tasks and the check's thread share.
struct plant {
  std::atomic<bool> release{false};    // set by the check once it has looked: cancel and end
  std::atomic<int> held{0};            // first mutexes taken, for the AB/BA rendezvous
  std::atomic<std::uint64_t> ticks{0}; // the ticker beside a partial deadlock
  zokio::mutex a;
  zokio::mutex b;
  zokio::semaphore x{1};
  zokio::semaphore y{1};
};

zokio::task<void> until_released(std::shared_ptr<plant> p) {
  while (!p->release.load()) {
    co_await zokio::sleep_for(2ms);
  }
}

zokio::task<void> join_the_other(std::shared_ptr<zokio::event> go,
                                 zokio::join_handle<void>* other) {
  co_await go->wait();
  co_await other->join();
}

/// Two tasks, one per worker, each joining the other. The handles live in this frame, which
/// outlives both tasks.
zokio::task<void> plant_join_cycle(std::shared_ptr<plant> p) {
  auto go = std::make_shared<zokio::event>();
  zokio::join_handle<void> first;
  zokio::join_handle<void> second;
  first = zokio::spawn_on(0, join_the_other(go, &second), {.name = "joins-second"});
  second = zokio::spawn_on(1, join_the_other(go, &first), {.name = "joins-first"});
  go->set();
  co_await until_released(p);
  first.cancel(); // cancellation withdraws each join; the tasks end cancelled
  second.cancel();
  while (!first.is_finished() || !second.is_finished()) {
    co_await zokio::sleep_for(1ms);
  }
}

/// Takes `first`, waits until the other task holds its first mutex too, then wants `second`.
zokio::task<void> lock_crosswise(std::shared_ptr<plant> p, zokio::mutex* first,
                                 zokio::mutex* second) {
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

zokio::task<void> wait_for_bytes(zokio::net::tcp_stream* s) {
  std::byte buf[64];
  (void)co_await s->read_some(buf);
}

zokio::task<void> join_cancelled(zokio::join_handle<void>* h) {
  h->cancel();
  try {
    co_await h->join();
  } catch (const zokio::operation_cancelled&) {
  }
}

/// An AB/BA lock-order cycle between tasks on two workers. With `beside`, a ticker task keeps a
/// timer firing and a loopback socket stays open with a read pending, all on worker 0.
zokio::task<void> plant_lock_cycle(std::shared_ptr<plant> p, bool beside) {
  std::optional<zokio::net::tcp_listener> listener;
  std::optional<zokio::net::tcp_stream> server;
  std::optional<zokio::net::tcp_stream> client;
  zokio::join_handle<void> ticker;
  zokio::join_handle<void> reader;
  if (beside) {
    ticker = zokio::spawn(tick(p), {.name = "ticker"});
    listener.emplace(zokio::net::tcp_listener::bind("127.0.0.1", 0).value());
    auto dialing =
        zokio::spawn(zokio::net::tcp_stream::connect("127.0.0.1", listener->local_port()));
    server.emplace((co_await listener->accept()).value());
    client.emplace((co_await dialing.join()).value());
    reader = zokio::spawn(wait_for_bytes(&*server), {.name = "socket-reader"});
  }
  auto ab = zokio::spawn_on(0, lock_crosswise(p, &p->a, &p->b), {.name = "locks-a-then-b"});
  auto ba = zokio::spawn_on(1, lock_crosswise(p, &p->b, &p->a), {.name = "locks-b-then-a"});
  co_await until_released(p);
  co_await join_cancelled(&ab);
  co_await join_cancelled(&ba);
  if (beside) {
    co_await join_cancelled(&reader);
    co_await ticker.join();
  }
}

/// Runs `root` with block_on on a thread of its own while this thread polls find_deadlocks for
/// up to `find_limit`, then releases the root and judges what was found.
void find_planted(watched& w, const std::shared_ptr<plant>& p, zokio::task<void> root,
                  scenario_outcome& out, bool beside) {
  std::exception_ptr error;
  std::thread driver([&w, &error, t = std::move(root)]() mutable {
    try {
      w.rt().block_on(std::move(t));
    } catch (...) {
      error = std::current_exception();
    }
  });
  const auto start = clock::now();
  std::vector<zokio::diag::deadlock_cycle> found;
  while (found.empty() && clock::now() - start < find_limit) {
    found = zokio::diag::find_deadlocks(w.rt());
  }
  const auto took = clock::now() - start;
  std::string alongside;
  if (beside && !found.empty()) {
    // A partial deadlock: the rest of the runtime goes on. The ticker must tick on.
    const std::uint64_t at_detection = p->ticks.load();
    const auto until = clock::now() + 2s;
    while (p->ticks.load() < at_detection + 5 && clock::now() < until) {
      std::this_thread::sleep_for(1ms);
    }
    out.expect(p->ticks.load() >= at_detection + 5,
               "the ticker stopped: this was not a partial deadlock");
    alongside = " while a timer kept firing (" + std::to_string(p->ticks.load()) +
                " ticks) and a socket read stayed pending";
  }
  p->release.store(true);
  driver.join();
  if (error) {
    std::rethrow_exception(error);
  }
  if (found.empty()) {
    out.fail("the planted deadlock was not found within " + ms(find_limit));
  } else {
    out.deadlock("found in " + ms(took) + alongside + ": " + summary(found));
    out.cycles(std::move(found));
  }
  w.finish(out);
  if (out.stats()) {
    out.expect(out.stats()->deadlocks_detected >= 1,
               "runtime_stats::deadlocks_detected did not count the cycle");
  }
}

void check_join_cycle(watchdog& wd, scenario_outcome& out) {
  watched w(wd);
  auto p = std::make_shared<plant>();
  find_planted(w, p, plant_join_cycle(p), out, false);
}

void check_lock_order_cycle(watchdog& wd, scenario_outcome& out) {
  watched w(wd);
  auto p = std::make_shared<plant>();
  find_planted(w, p, plant_lock_cycle(p, false), out, false);
}

void check_partial_deadlock(watchdog& wd, scenario_outcome& out) {
  watched w(wd);
  auto p = std::make_shared<plant>();
  find_planted(w, p, plant_lock_cycle(p, true), out, true);
}

constexpr auto quiescence_grace = 300ms;

/// Receives on a channel whose only sender it holds itself: no task can ever send.
zokio::task<void> receive_from_self() {
  auto ch = zokio::make_channel<int>(1); // ch.tx, the only sender, lives in this frame
  (void)co_await ch.rx.recv();
}

/// Takes `first`'s only permit, waits until the other task holds its own, then wants `second`'s.
zokio::task<void> acquire_crosswise(std::shared_ptr<plant> p, zokio::semaphore* first,
                                    zokio::semaphore* second) {
  auto p1 = co_await first->acquire();
  p->held.fetch_add(1);
  while (p->held.load() < 2) {
    co_await zokio::sleep_for(1ms);
  }
  auto p2 = co_await second->acquire();
}

/// Two tasks on two workers, each holding one of two single-permit semaphores and waiting for
/// the other's. The semaphores live in the plant, which every task keeps alive: shutdown may
/// unwind this task before the two that hold permits.
zokio::task<void> plant_semaphore_cycle() {
  auto p = std::make_shared<plant>();
  auto xy = zokio::spawn_on(0, acquire_crosswise(p, &p->x, &p->y), {.name = "holds-x-wants-y"});
  auto yx = zokio::spawn_on(1, acquire_crosswise(p, &p->y, &p->x), {.name = "holds-y-wants-x"});
  co_await xy.join();
  co_await yx.join();
}

/// Drives `root`, whose tasks wait on something that names no task, until block_on's
/// whole-runtime quiescence raises deadlock_error; then shuts down, which cancels the waits.
void find_by_quiescence(watchdog& wd, scenario_outcome& out, zokio::task<void> (*plant_it)(),
                        const std::string& what_waits) {
  watched w(wd, quiescence_grace);
  const auto start = clock::now();
  try {
    w.rt().block_on(plant_it());
    out.fail("block_on returned although " + what_waits + " can never end");
  } catch (const zokio::deadlock_error& e) {
    const std::string what = e.what();
    out.deadlock(
        "found by whole-runtime quiescence (deadlock_error, grace " + ms(quiescence_grace) +
        ") after " + ms(clock::now() - start) + "; " + what_waits +
        " names no task, so find_deadlocks has no edge for it: " + what.substr(0, what.find('\n')));
  }
  w.finish(out); // cancellation withdraws every wait; the tasks end
}

void check_channel_self_sender(watchdog& wd, scenario_outcome& out) {
  find_by_quiescence(wd, out, &receive_from_self, "a receive on a channel whose sender it holds");
}

void check_semaphore_cycle(watchdog& wd, scenario_outcome& out) {
  find_by_quiescence(wd, out, &plant_semaphore_cycle,
                     "a semaphore cycle (a permit records no holder)");
}

struct scenario {
  const char* name;
  bool planted; // runs only with --inject deadlock
  void (*run)(watchdog&, scenario_outcome&);
};

constexpr scenario battery[] = {
    {"join-chain", false, &check_join_chain},
    {"mutex-contention", false, &check_mutex_contention},
    {"lock-order", false, &check_lock_order},
    {"join-cycle", true, &check_join_cycle},
    {"lock-order-cycle", true, &check_lock_order_cycle},
    {"partial-deadlock", true, &check_partial_deadlock},
    {"channel-self-sender", true, &check_channel_self_sender},
    {"semaphore-cycle", true, &check_semaphore_cycle},
};

bool chosen(const scenario& s, const deadlock_check_options& options) {
  return selected(!s.planted || options.inject_deadlock, s.name, options.only);
}

} // namespace

const std::vector<std::string>& deadlock_scenario_names() {
  static const std::vector<std::string> names = names_of(battery);
  return names;
}

std::vector<std::string> planned_deadlock_scenarios(const deadlock_check_options& options) {
  return planned_names(battery, [&options](const scenario& s) { return chosen(s, options); });
}

check_result run_check_deadlock(const deadlock_check_options& options, watchdog& wd,
                                const std::function<void(const scenario_result&)>& on_result) {
  return run_chosen(
      "deadlock", battery, [&options](const scenario& s) { return chosen(s, options); }, wd,
      on_result);
}

} // namespace zokio::diag_tool
