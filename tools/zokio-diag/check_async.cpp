#include "check_async.hpp"
#include "scenario.hpp"

#include <zokio/zokio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cxxabi.h>
#include <exception>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <typeinfo>
#include <utility>

// Every coroutine below takes its state as parameters by value (shared_ptr or plain pointers for
// state shared by tasks of one worker), never through lambda captures: a capturing lambda that
// is a coroutine dangles once the expression ends (STYLE.md).

using namespace std::chrono_literals;

namespace zokio::diag_tool {

namespace {

using clock = std::chrono::steady_clock;

// --- The frame every scenario runs in ---------------------------------------------------------

/// What every scenario's runtime is made from.
struct scenario_env {
  watchdog& m_watchdog;
  unsigned m_inject_inline_awaits = 0;
  bool m_hang_pending = false;             // --inject hang, until the first runtime has taken it
  bool m_deadlock_pending = false;         // --inject deadlock, likewise
  bool m_unclean_shutdown_pending = false; // --inject unclean-shutdown, likewise
};

zokio::task<void> never_finish() {
  co_await zokio::sleep_for(std::chrono::hours(24)); // external: not a deadlock, only a hang
}

zokio::task<void> wait_for_nobody(std::shared_ptr<zokio::event> never_set) {
  co_await never_set->wait(); // internal, and nothing else is pending: a deadlock
}

/// Waits for a blocking job that runs until `release` is set; a running job cannot be
/// cancelled, so the task outlives any shutdown grace shorter than that.
zokio::task<void> hold_blocking_job(std::shared_ptr<std::atomic<bool>> release) {
  co_await zokio::spawn_blocking([release] {
    while (!release->load()) {
      std::this_thread::sleep_for(1ms);
    }
  });
}

constexpr auto unclean_shutdown_grace = 200ms;

/// A force_async runtime under the watchdog, which takes the pending injections.
class watched_runtime : public watched_runtime_base {
public:
  watched_runtime(scenario_env& env, unsigned workers)
      : watched_runtime_base(
            env.m_watchdog,
            zokio::runtime_options{.workers = workers,
                                   .force_async = true,
                                   .name = "zokio-diag",
                                   .shutdown_grace = env.m_unclean_shutdown_pending
                                                         ? unclean_shutdown_grace
                                                         : zokio::runtime_options{}.shutdown_grace,
                                   .testing = {.inline_awaits = env.m_inject_inline_awaits}}) {
    if (std::exchange(env.m_unclean_shutdown_pending, false)) {
      m_release = std::make_shared<std::atomic<bool>>(false);
      (void)m_rt.spawn(hold_blocking_job(m_release)); // detached; runs once block_on drives it
    }
    const bool hang = std::exchange(env.m_hang_pending, false);
    const bool deadlock = std::exchange(env.m_deadlock_pending, false);
    try {
      if (hang) {
        m_rt.block_on(never_finish());
      }
      if (deadlock) {
        m_rt.block_on(wait_for_nobody(std::make_shared<zokio::event>()));
      }
    } catch (...) {
      m_watchdog.watch(nullptr);
      throw;
    }
  }
  ~watched_runtime() {
    stop();
    if (m_release) {
      m_release->store(true); // the blocking job ends; its task was reported as left
    }
  }
  watched_runtime(const watched_runtime&) = delete;
  watched_runtime& operator=(const watched_runtime&) = delete;

private:
  std::shared_ptr<std::atomic<bool>> m_release; // --inject unclean-shutdown
};

// --- 1. concurrent-sleeps ---------------------------------------------------------------------

constexpr int sleep_tasks = 1000;
constexpr auto sleep_each = 100ms;
constexpr auto sleep_limit = 2s;

zokio::task<void> sleep_once(std::chrono::milliseconds d) {
  co_await zokio::sleep_for(d);
}

zokio::task<std::chrono::nanoseconds> sleep_many(int n, std::chrono::milliseconds d) {
  const auto start = clock::now();
  std::vector<zokio::join_handle<void>> handles;
  handles.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    handles.push_back(zokio::spawn(sleep_once(d), {.name = "sleeper"}));
  }
  for (auto& h : handles) {
    co_await h;
  }
  co_return clock::now() - start;
}

void check_concurrent_sleeps(scenario_env& env, scenario_outcome& out) {
  watched_runtime w(env, 1);
  const std::chrono::nanoseconds took = w.rt().block_on(sleep_many(sleep_tasks, sleep_each));
  out.note(std::to_string(sleep_tasks) + " sleeps of " + ms(sleep_each) + " joined in " + ms(took));
  out.expect(took < sleep_limit, std::to_string(sleep_tasks) + " sleeps of " + ms(sleep_each) +
                                     " took " + ms(took) + " (limit " + ms(sleep_limit) +
                                     "): they did not run concurrently");
  out.expect(took >= sleep_each, "all sleeps were joined after " + ms(took) + ", before one " +
                                     ms(sleep_each) + " sleep could end: they did not wait");
  w.finish(out);
}

// --- 2. ping-pong -----------------------------------------------------------------------------

constexpr int ping_pong_rounds = 1000;

using turn_log = std::shared_ptr<std::vector<char>>;

zokio::task<void> ping(std::vector<zokio::oneshot_sender<int>> to_b,
                       std::vector<zokio::oneshot_receiver<int>> from_b, turn_log log) {
  for (std::size_t i = 0; i < to_b.size(); ++i) {
    log->push_back('A');
    to_b[i].send(static_cast<int>(i));
    zokio::result<int> r = co_await from_b[i].recv();
    if (!r.ok() || *r != static_cast<int>(i)) {
      throw std::runtime_error("A got a wrong reply in round " + std::to_string(i));
    }
  }
}

zokio::task<void> pong(std::vector<zokio::oneshot_receiver<int>> from_a,
                       std::vector<zokio::oneshot_sender<int>> to_a, turn_log log) {
  for (std::size_t i = 0; i < from_a.size(); ++i) {
    zokio::result<int> r = co_await from_a[i].recv();
    if (!r.ok() || *r != static_cast<int>(i)) {
      throw std::runtime_error("B got a wrong message in round " + std::to_string(i));
    }
    log->push_back('B');
    to_a[i].send(static_cast<int>(i));
  }
}

zokio::task<void> ping_pong_match(int rounds, turn_log log) {
  std::vector<zokio::oneshot_sender<int>> a_to_b_tx, b_to_a_tx;
  std::vector<zokio::oneshot_receiver<int>> a_to_b_rx, b_to_a_rx;
  for (int i = 0; i < rounds; ++i) {
    auto there = zokio::make_oneshot<int>();
    a_to_b_tx.push_back(std::move(there.tx));
    a_to_b_rx.push_back(std::move(there.rx));
    auto back = zokio::make_oneshot<int>();
    b_to_a_tx.push_back(std::move(back.tx));
    b_to_a_rx.push_back(std::move(back.rx));
  }
  // B is spawned first so that it is already waiting when A starts.
  auto b = zokio::spawn(pong(std::move(a_to_b_rx), std::move(b_to_a_tx), log), {.name = "B"});
  auto a = zokio::spawn(ping(std::move(a_to_b_tx), std::move(b_to_a_rx), log), {.name = "A"});
  co_await a;
  co_await b;
}

void check_ping_pong(scenario_env& env, scenario_outcome& out) {
  watched_runtime w(env, 1);
  auto log = std::make_shared<std::vector<char>>();
  w.rt().block_on(ping_pong_match(ping_pong_rounds, log));
  const std::size_t expected = 2 * static_cast<std::size_t>(ping_pong_rounds);
  out.expect(log->size() == expected, "recorded " + std::to_string(log->size()) +
                                          " turns, expected " + std::to_string(expected));
  for (std::size_t i = 0; i < log->size(); ++i) {
    const char want = i % 2 == 0 ? 'A' : 'B';
    if ((*log)[i] != want) {
      out.fail(std::string("turn ") + std::to_string(i) + " was " + (*log)[i] + ", expected " +
               want + ": the tasks did not alternate");
      break;
    }
  }
  out.note(std::to_string(log->size()) + " turns alternated A,B,A,B...");
  w.finish(out);
}

// --- 3. cross-worker --------------------------------------------------------------------------

struct cross_worker_ids {
  std::thread::id root_before;
  std::thread::id remote;
  std::thread::id root_after;
};

zokio::task<std::thread::id> thread_id_after(std::chrono::milliseconds d) {
  // The sleep lets the spawner suspend in the join first, so the result crosses threads as a
  // wake through worker 0's inbox.
  co_await zokio::sleep_for(d);
  co_return std::this_thread::get_id();
}

zokio::task<cross_worker_ids> cross_worker_round_trip() {
  cross_worker_ids ids;
  ids.root_before = std::this_thread::get_id();
  ids.remote = co_await zokio::spawn_on(1, thread_id_after(10ms), {.name = "on-worker-1"});
  ids.root_after = std::this_thread::get_id();
  co_return ids;
}

void check_cross_worker(scenario_env& env, scenario_outcome& out) {
  watched_runtime w(env, 2);
  const cross_worker_ids ids = w.rt().block_on(cross_worker_round_trip());
  out.expect(ids.remote != std::thread::id{}, "no thread id came back through the join handle");
  out.expect(ids.remote != ids.root_before,
             "the task spawned on worker 1 ran on worker 0's thread");
  out.expect(ids.root_after == ids.root_before,
             "the spawner resumed on another thread than worker 0's");
  out.expect(ids.root_before == std::this_thread::get_id(),
             "worker 0 did not run on the thread that called block_on");
  w.finish(out);
  if (out.stats()) {
    out.expect(out.stats()->resumes_cross_thread > 0,
               "resumes_cross_thread is 0: the join's wake did not cross threads");
    out.note("worker 1 answered from another thread; " +
             std::to_string(out.stats()->resumes_cross_thread) + " cross-thread resume(s)");
  }
}

// --- 4. no-runtime ----------------------------------------------------------------------------

/// A fire-and-forget coroutine with no runtime behind it: it runs at once, frees its frame when
/// it ends, and records the exception that ended it.
struct outside_probe {
  struct promise_type {
    promise_type(std::exception_ptr* error, bool*) noexcept : m_error(error) {}
    outside_probe get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() noexcept { *m_error = std::current_exception(); }

    std::exception_ptr* m_error;
  };
};

outside_probe sleep_outside([[maybe_unused]] std::exception_ptr* error, bool* went_past) {
  co_await zokio::sleep_for(1ms);
  *went_past = true; // only a synchronous fallback gets here
}

zokio::task<int> answer() {
  co_return 42;
}

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> s(
      abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
  return status == 0 && s ? std::string(s.get()) : std::string(name);
}

/// Empty when `error` holds exactly a zokio::no_runtime_error, else what happened instead.
std::string not_no_runtime_error(const std::exception_ptr& error, const std::string& what) {
  if (!error) {
    return what + " did not throw";
  }
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    if (typeid(e) == typeid(zokio::no_runtime_error)) {
      return {};
    }
    return what + " threw " + demangle(typeid(e).name()) + " (" + e.what() +
           "), not zokio::no_runtime_error";
  } catch (...) {
    return what + " threw something that is not a std::exception";
  }
}

void check_no_runtime(scenario_env&, scenario_outcome& out) {
  std::exception_ptr await_error;
  std::exception_ptr spawn_error;
  bool went_past = false;
  // A plain thread: no runtime has ever run on it.
  std::thread plain([&await_error, &spawn_error, &went_past] {
    sleep_outside(&await_error, &went_past);
    try {
      zokio::join_handle<int> h = zokio::spawn(answer());
      (void)h;
    } catch (...) {
      spawn_error = std::current_exception();
    }
  });
  plain.join();
  if (went_past) {
    out.fallback("awaiting sleep_for(1ms) without a runtime carried on synchronously");
  }
  const std::string await_problem =
      not_no_runtime_error(await_error, "co_await sleep_for(1ms) outside a runtime");
  const std::string spawn_problem =
      not_no_runtime_error(spawn_error, "zokio::spawn outside a runtime");
  out.expect(await_problem.empty(), await_problem);
  out.expect(spawn_problem.empty(), spawn_problem);
  out.note("await and spawn outside a runtime both threw zokio::no_runtime_error");
}

// --- 5. yield ---------------------------------------------------------------------------------

constexpr int yield_tasks = 10;
constexpr int yields_each = 100;

using yield_log = std::shared_ptr<std::vector<int>>;

zokio::task<void> yielder(int id, int n, yield_log log) {
  for (int i = 0; i < n; ++i) {
    log->push_back(id);
    co_await zokio::yield_now();
  }
}

zokio::task<void> yield_all(int tasks, int n, yield_log log) {
  std::vector<zokio::join_handle<void>> handles;
  for (int id = 0; id < tasks; ++id) {
    handles.push_back(zokio::spawn(yielder(id, n, log), {.name = "yielder"}));
  }
  for (auto& h : handles) {
    co_await h;
  }
}

void check_yield(scenario_env& env, scenario_outcome& out) {
  watched_runtime w(env, 1);
  auto log = std::make_shared<std::vector<int>>();
  w.rt().block_on(yield_all(yield_tasks, yields_each, log));
  const std::size_t expected = static_cast<std::size_t>(yield_tasks * yields_each);
  out.expect(log->size() == expected, "recorded " + std::to_string(log->size()) +
                                          " steps, expected " + std::to_string(expected));
  // Interleaved: every task has started before any task has finished all its steps.
  std::vector<std::size_t> first(yield_tasks, log->size());
  std::vector<std::size_t> last(yield_tasks, 0);
  std::size_t longest_run = 0;
  std::size_t run = 0;
  for (std::size_t i = 0; i < log->size(); ++i) {
    const auto id = static_cast<std::size_t>((*log)[i]);
    first[id] = std::min(first[id], i);
    last[id] = i;
    run = i > 0 && (*log)[i - 1] == (*log)[i] ? run + 1 : 1;
    longest_run = std::max(longest_run, run);
  }
  const std::size_t latest_start = *std::max_element(first.begin(), first.end());
  const std::size_t earliest_end = *std::min_element(last.begin(), last.end());
  out.expect(latest_start < earliest_end,
             "a task ran all its yields (last at step " + std::to_string(earliest_end) +
                 ") before another started (step " + std::to_string(latest_start) +
                 "): yield_now did not give the worker up");
  out.note(std::to_string(yield_tasks) + " tasks x " + std::to_string(yields_each) +
           " yields interleaved; longest run of one task: " + std::to_string(longest_run));
  w.finish(out);
}

// --- 6. timeout -------------------------------------------------------------------------------

struct timeout_results {
  bool long_ok = false;
  std::error_code long_error;
  std::chrono::nanoseconds long_took{0};
  bool short_ok = false;
  int short_value = 0;
  std::error_code short_error;
};

zokio::task<int> sleep_then(std::chrono::milliseconds d, int value) {
  co_await zokio::sleep_for(d);
  co_return value;
}

zokio::task<timeout_results> run_timeouts() {
  timeout_results r;
  const auto start = clock::now();
  zokio::result<int> expired = co_await zokio::timeout(20ms, sleep_then(10s, 1));
  r.long_took = clock::now() - start;
  r.long_ok = expired.ok();
  r.long_error = expired.error();
  zokio::result<int> in_time = co_await zokio::timeout(1s, sleep_then(1ms, 7));
  r.short_ok = in_time.ok();
  r.short_error = in_time.error();
  if (in_time.ok()) {
    r.short_value = in_time.value();
  }
  co_return r;
}

void check_timeout(scenario_env& env, scenario_outcome& out) {
  watched_runtime w(env, 1);
  const timeout_results r = w.rt().block_on(run_timeouts());
  out.expect(!r.long_ok && r.long_error == std::errc::timed_out,
             "timeout(20ms, a 10 s sleep) returned " +
                 (r.long_ok ? std::string("a value") : r.long_error.message()) + ", not timed_out");
  out.expect(r.long_took < 1s, "timeout(20ms, a 10 s sleep) took " + ms(r.long_took));
  out.expect(r.long_took >= 20ms, "timeout(20ms, ...) expired after only " + ms(r.long_took));
  out.expect(r.short_ok && r.short_value == 7,
             "timeout(1s, a 1 ms sleep returning 7) returned " +
                 (r.short_ok ? std::to_string(r.short_value) : r.short_error.message()));
  out.note("timed out after " + ms(r.long_took) + "; the quick task returned " +
           std::to_string(r.short_value));
  w.finish(out);
}

// --- 7. spawn-blocking ------------------------------------------------------------------------

constexpr auto blocking_time = 100ms;
constexpr std::uint64_t min_ticks = 10; // a blocked loop would manage at most one

struct ticker_state {
  bool stop = false;
  std::uint64_t ticks = 0;
};

struct blocking_results {
  std::thread::id worker;
  std::thread::id pool;
  std::uint64_t ticks_during = 0;
};

zokio::task<void> ticker(std::shared_ptr<ticker_state> st) {
  while (!st->stop) {
    co_await zokio::sleep_for(1ms);
    ++st->ticks;
  }
}

std::thread::id blocking_job() {
  std::this_thread::sleep_for(blocking_time);
  return std::this_thread::get_id();
}

zokio::task<blocking_results> run_blocking() {
  auto st = std::make_shared<ticker_state>();
  blocking_results r;
  r.worker = std::this_thread::get_id();
  auto tick = zokio::spawn(ticker(st), {.name = "ticker"});
  const std::uint64_t before = st->ticks;
  r.pool = co_await zokio::spawn_blocking(&blocking_job, {.name = "blocking"});
  r.ticks_during = st->ticks - before;
  st->stop = true;
  co_await tick;
  co_return r;
}

void check_spawn_blocking(scenario_env& env, scenario_outcome& out) {
  watched_runtime w(env, 1);
  const blocking_results r = w.rt().block_on(run_blocking());
  out.expect(r.pool != std::thread::id{}, "no thread id came back from spawn_blocking");
  out.expect(r.pool != r.worker, "the blocking function ran on the worker's thread");
  out.expect(r.ticks_during >= min_ticks,
             "the ticker ticked " + std::to_string(r.ticks_during) + " time(s) during a " +
                 ms(blocking_time) + " blocking job (at least " + std::to_string(min_ticks) +
                 " expected): the loop was blocked");
  out.note("ran on a pool thread; the worker ticked " + std::to_string(r.ticks_during) +
           " times meanwhile");
  w.finish(out);
}

// --- The battery ------------------------------------------------------------------------------

struct scenario {
  const char* name;
  void (*run)(scenario_env&, scenario_outcome&);
};

constexpr scenario battery[] = {
    {"concurrent-sleeps", &check_concurrent_sleeps},
    {"ping-pong", &check_ping_pong},
    {"cross-worker", &check_cross_worker},
    {"no-runtime", &check_no_runtime},
    {"yield", &check_yield},
    {"timeout", &check_timeout},
    {"spawn-blocking", &check_spawn_blocking},
};

} // namespace

const std::vector<std::string>& async_scenario_names() {
  static const std::vector<std::string> names = names_of(battery);
  return names;
}

std::vector<std::string> planned_scenarios(const std::vector<std::string>& only) {
  std::vector<std::string> v;
  for (const std::string& name : async_scenario_names()) {
    if (only.empty() || std::find(only.begin(), only.end(), name) != only.end()) {
      v.push_back(name);
    }
  }
  return v;
}

check_result run_check_async(const async_check_options& options, watchdog& wd,
                             const std::function<void(const scenario_result&)>& on_result) {
  auto env = std::make_shared<scenario_env>(
      scenario_env{wd, options.inject_inline_awaits, options.inject_hang, options.inject_deadlock,
                   options.inject_unclean_shutdown});
  std::vector<named_scenario> chosen;
  for (const scenario& s : battery) {
    if (options.only.empty() ||
        std::find(options.only.begin(), options.only.end(), s.name) != options.only.end()) {
      chosen.push_back({s.name, [env, run = s.run](scenario_outcome& out) { run(*env, out); }});
    }
  }
  return run_battery("async", chosen, wd, on_result);
}

} // namespace zokio::diag_tool
