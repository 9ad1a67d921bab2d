#include "check_stall.hpp"
#include "scenario.hpp"

#include <zokio/diag/stall.hpp>
#include <zokio/zokio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

// Coroutines take their state as parameters by value (shared_ptr), never through lambda captures
// (STYLE.md). The stall hook runs on the runtime's stall watchdog thread: what it records is
// under a mutex.

using namespace std::chrono_literals;

namespace zokio::diag_tool {

/// The planted stalls. Not static and never inlined: the executable exports its symbols
/// (ENABLE_EXPORTS), so the backtrace taken in the stuck thread names these functions.
[[gnu::noinline]] void injected_busy_loop(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    std::atomic_signal_fence(std::memory_order_seq_cst); // keep the loop a loop
  }
}

[[gnu::noinline]] void injected_blocking_sleep(std::chrono::milliseconds d) {
  std::this_thread::sleep_for(d); // a blocking call on the loop thread
}

namespace {

using clock = std::chrono::steady_clock;

/// --stall-threshold (default 25 ms, Seastar's): set by run_check_stall before any scenario.
std::chrono::milliseconds threshold = 25ms;
constexpr auto planted_for = 300ms; // the injected stall
constexpr auto longer_than_threshold = 250ms;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
      .count();
}

} // namespace

/// What the stall hook saw, and when.
struct stall_log {
  std::mutex mutex;
  std::vector<zokio::diag::stall_report> reports; // mutex
  std::vector<clock::time_point> at;              // mutex
  std::atomic<std::int64_t> planted_start{0};     // clock ns when the planted stall began
  std::atomic<bool> callback_done{false};         // the planted callback returned
};

/// The planted callback stall: runs inside a libuv callback of worker 1, no task running.
[[gnu::noinline]] void injected_callback_busy_loop(void* arg) {
  auto* log = static_cast<stall_log*>(arg);
  log->planted_start.store(now_ns());
  injected_busy_loop(planted_for);
  log->callback_done.store(true);
}

namespace {

/// A two-worker force_async runtime with the stall detector armed and its hook recording.
class watched : public watched_runtime_base {
public:
  watched(watchdog& wd, const std::shared_ptr<stall_log>& log)
      : watched_runtime_base(
            wd, zokio::runtime_options{.workers = 2,
                                       .force_async = true,
                                       .stall_threshold = threshold,
                                       .name = "zokio-diag",
                                       .on_stall = [log](const zokio::diag::stall_report& r) {
                                         std::lock_guard<std::mutex> lock(log->mutex);
                                         log->reports.push_back(r);
                                         log->at.push_back(clock::now());
                                       }}) {}
};

// --- The clean battery: a busy workload that never blocks its worker ---------------------------

zokio::task<void> yield_often(int n) {
  for (int i = 0; i < n; ++i) {
    co_await zokio::yield_now();
  }
}

zokio::task<void> sleep_long() {
  co_await zokio::sleep_for(longer_than_threshold); // waiting in the poller: never a stall
}

zokio::task<void> blocking_job_long() {
  // A blocking job runs on the blocking pool, not on the loop thread: never a stall.
  co_await zokio::spawn_blocking([] { std::this_thread::sleep_for(longer_than_threshold); });
}

zokio::task<void> send_many(zokio::sender<int> tx, int n) {
  for (int i = 0; i < n; ++i) {
    co_await tx.send(i);
  }
}

zokio::task<int> receive_all(zokio::receiver<int> rx) {
  int got = 0;
  while (auto v = co_await rx.recv()) {
    got += *v >= 0 ? 1 : 0;
  }
  co_return got;
}

constexpr int yielders = 50;
constexpr int yields_each = 2000;
constexpr int messages = 20000;

zokio::task<int> well_behaved() {
  std::vector<zokio::join_handle<void>> hs;
  for (int i = 0; i < yielders; ++i) {
    hs.push_back(zokio::spawn_on(static_cast<unsigned>(i % 2), yield_often(yields_each),
                                 {.name = "yielder"}));
  }
  hs.push_back(zokio::spawn_on(1, sleep_long(), {.name = "sleeper"}));
  hs.push_back(zokio::spawn_on(1, blocking_job_long(), {.name = "blocking-job"}));
  auto [tx, rx] = zokio::make_channel<int>(64);
  hs.push_back(zokio::spawn_on(1, send_many(std::move(tx), messages), {.name = "sender"}));
  auto receiver = zokio::spawn_on(0, receive_all(std::move(rx)), {.name = "receiver"});
  for (auto& h : hs) {
    co_await h.join();
  }
  co_return co_await receiver.join();
}

void check_well_behaved(watchdog& wd, scenario_outcome& out) {
  auto log = std::make_shared<stall_log>();
  watched w(wd, log);
  const int got = w.rt().block_on(well_behaved());
  out.expect(got == messages, "the receiver got " + std::to_string(got) + " of " +
                                  std::to_string(messages) + " messages");
  w.finish(out);
  const auto reports = zokio::diag::recent_stalls(w.rt());
  const std::uint64_t counted = out.stats() ? out.stats()->stalls : 0;
  // Excused, as zokio-soak's loop_stalls criterion excuses them: a thread that waited for a CPU
  // (preempted), and one that neither computed nor slept for most of the watched part
  // (undetermined: a virtual CPU its host did not run, with no steal on record). Neither is
  // evidence that the runtime kept its worker busy.
  std::size_t preempted = 0;
  std::vector<zokio::diag::stall_report> guilty;
  for (const auto& r : reports) {
    if (r.preempted() || (!r.on_cpu_busy() && !r.blocked())) {
      ++preempted;
    } else {
      guilty.push_back(r);
    }
  }
  const std::uint64_t resumes = out.stats() ? out.stats()->resumes_from_loop +
                                                  out.stats()->resumes_from_task +
                                                  out.stats()->resumes_cross_thread
                                            : 0;
  if (!guilty.empty() || counted > preempted) {
    out.fail(std::to_string(counted) + " stall(s) counted, " + std::to_string(reports.size()) +
             " reported, in a workload that never blocks its worker (threshold " + ms(threshold) +
             ")" + (guilty.empty() ? "" : ": " + zokio::diag::format_stall(guilty.front())));
  } else {
    out.note("no stall in " + std::to_string(resumes) + " resumes (threshold " + ms(threshold) +
             "; waits of " + ms(longer_than_threshold) + " in the poller and on the blocking " +
             "pool did not count)" +
             (preempted == 0 ? std::string()
                             : "; " + std::to_string(preempted) +
                                   " stall(s) while the thread waited for a CPU or neither ran "
                                   "nor slept (undetermined), not counted against the runtime"));
  }
  out.stalls(reports);
}

/// The completeness of a planted stall's evidence: each gap is named in the reason.
struct evidence {
  std::string gaps;

  void gap(bool ok, const std::string& what) {
    if (!ok) {
      gaps += "; MISSING: " + what;
    }
  }

  /// What every planted stall needs: one report, one count and one on_stall call, worker 1, at
  /// least the threshold, and a backtrace naming `function` (the result: whether it does).
  bool common(std::size_t reports, std::uint64_t counted, std::size_t hooked,
              const zokio::diag::stall_report& r, const char* function) {
    gap(reports == 1 && counted == 1 && hooked == 1,
        "exactly one report, one count and one on_stall call (reports " + std::to_string(reports) +
            ", stalls " + std::to_string(counted) + ", on_stall " + std::to_string(hooked) + ")");
    gap(r.worker == 1, "worker 1");
    gap(r.duration >= threshold, "a duration of at least the threshold");
    const bool named =
        std::any_of(r.backtrace.begin(), r.backtrace.end(),
                    [&](const std::string& f) { return f.find(function) != std::string::npos; });
    gap(named, std::string("a backtrace naming ") + function + " (" +
                   (r.backtrace.empty() ? r.backtrace_note
                                        : std::to_string(r.backtrace.size()) + " frames") +
                   ")");
    return named;
  }
};

// --- The planted battery (--inject stall) ------------------------------------------------------

zokio::task<void> stall_busy(std::shared_ptr<stall_log> log) {
  co_await zokio::yield_now(); // the report names this co_await as the resume's origin
  log->planted_start.store(now_ns());
  injected_busy_loop(planted_for);
  co_await zokio::yield_now();
}

zokio::task<void> stall_sleeping(std::shared_ptr<stall_log> log) {
  co_await zokio::yield_now();
  log->planted_start.store(now_ns());
  injected_blocking_sleep(planted_for);
  co_await zokio::yield_now();
}

zokio::task<void> plant(std::shared_ptr<stall_log> log, bool busy, const char* name) {
  auto h = busy ? zokio::spawn_on(1, stall_busy(log), {.name = name})
                : zokio::spawn_on(1, stall_sleeping(log), {.name = name});
  // Worker 0 keeps running meanwhile: only worker 1 stalls.
  co_await yield_often(100);
  co_await h.join();
}

void check_planted(watchdog& wd, scenario_outcome& out, bool busy) {
  const char* name = busy ? "stall-injected-busy" : "stall-injected-sleep";
  const char* function = busy ? "injected_busy_loop" : "injected_blocking_sleep";
  auto log = std::make_shared<stall_log>();
  watched w(wd, log);
  w.rt().block_on(plant(log, busy, name));
  w.finish(out);
  const auto reports = zokio::diag::recent_stalls(w.rt());
  out.stalls(reports);
  std::vector<zokio::diag::stall_report> hooked;
  std::vector<clock::time_point> at;
  {
    std::lock_guard<std::mutex> lock(log->mutex);
    hooked = log->reports;
    at = log->at;
  }
  const std::uint64_t counted = out.stats() ? out.stats()->stalls : 0;
  if (reports.empty()) {
    out.fail("the planted " + ms(planted_for) + " stall of '" + std::string(name) +
             "' was not reported (" + std::to_string(counted) + " counted)");
    return;
  }
  const zokio::diag::stall_report& r = reports.front();
  // The check fires: the verdict is a failure, with the report as evidence. What follows makes
  // sure the evidence is complete; a gap is named in the reason.
  evidence e;
  const bool named = e.common(reports.size(), counted, hooked.size(), r, function);
  e.gap(r.task_name == name, "the task's name (got '" + r.task_name + "')");
  e.gap(std::string(r.spawn_site.file).find("check_stall.cpp") != std::string::npos &&
            r.spawn_site.line > 0,
        "the spawn site in check_stall.cpp");
  e.gap(r.ended && r.total >= planted_for - 5ms, "the whole length once it ended");
  std::string latency;
  if (!at.empty() && log->planted_start.load() != 0) {
    const auto start = clock::time_point(std::chrono::nanoseconds(log->planted_start.load()));
    latency = "; reported " + ms(at.front() - start) + " after it began";
  }
  out.fail("stall reported: task '" + r.task_name + "' on worker " + std::to_string(r.worker) +
           " ran " + ms(r.duration) + " when reported, " + ms(r.total) + " in all" + latency +
           "; backtrace " + (named ? std::string("names ") + function : "incomplete") + e.gaps);
}

// --- The planted callbacks (--inject callback-stall)
// ----------------------------------------------

bool callback_stall_ended(const zokio::runtime* rt) {
  const auto reports = zokio::diag::recent_stalls(*rt);
  return std::any_of(reports.begin(), reports.end(),
                     [](const zokio::diag::stall_report& r) { return r.in_callback && r.ended; });
}

zokio::task<void> callback_planter(std::shared_ptr<stall_log> log, bool in_poll_phase,
                                   const zokio::runtime* rt) {
  zokio::diag::testing::run_in_loop_callback(&injected_callback_busy_loop, log.get(),
                                             in_poll_phase);
  while (!log->callback_done.load()) {
    co_await zokio::sleep_for(5ms);
  }
  // The watchdog notes the end of a callback stall at its next look (within half a threshold):
  // wait for it, a second at most (a report that never ends is then named as a gap).
  for (int i = 0; i < 200 && !callback_stall_ended(rt); ++i) {
    co_await zokio::sleep_for(5ms);
  }
}

zokio::task<void> plant_callback(std::shared_ptr<stall_log> log, bool in_poll_phase,
                                 const zokio::runtime* rt) {
  auto h =
      zokio::spawn_on(1, callback_planter(log, in_poll_phase, rt), {.name = "callback-planter"});
  co_await yield_often(100); // worker 0 keeps running meanwhile: only worker 1 stalls
  co_await h.join();
}

void check_planted_callback(watchdog& wd, scenario_outcome& out, bool in_poll_phase) {
  const char* function = "injected_callback_busy_loop";
  auto log = std::make_shared<stall_log>();
  watched w(wd, log);
  w.rt().block_on(plant_callback(log, in_poll_phase, &w.rt()));
  w.finish(out);
  const auto reports = zokio::diag::recent_stalls(w.rt());
  out.stalls(reports);
  std::size_t hooked = 0;
  {
    std::lock_guard<std::mutex> lock(log->mutex);
    hooked = log->reports.size();
  }
  const std::uint64_t counted = out.stats() ? out.stats()->stalls : 0;
  const auto it = std::find_if(reports.begin(), reports.end(),
                               [](const zokio::diag::stall_report& r) { return r.in_callback; });
  if (it == reports.end()) {
    out.fail("the planted " + ms(planted_for) + " callback stall was not reported (" +
             std::to_string(reports.size()) + " report(s), " + std::to_string(counted) +
             " counted)");
    return;
  }
  const zokio::diag::stall_report& r = *it;
  evidence e;
  const bool named = e.common(reports.size(), counted, hooked, r, function);
  e.gap(r.task_id == 0 && r.task_name.empty(),
        "no task named (got task " + std::to_string(r.task_id) + ")");
  e.gap(r.in_poll_phase == in_poll_phase,
        in_poll_phase ? "the poll phase (an I/O callback)" : "outside the poll phase");
  // The length as the watchdog saw it, from its first look (late on a loaded machine).
  e.gap(r.ended && r.total >= r.duration, "its length as watched once it ended");
  out.fail("stall reported in a libuv callback on worker " + std::to_string(r.worker) + " (" +
           (r.in_poll_phase ? "poll phase" : "outside the poll phase") + "): no progress for " +
           ms(r.duration) + " when reported, about " + ms(r.total) + " in all; backtrace " +
           (named ? std::string("names ") + function : "incomplete") + e.gaps);
}

void check_callback_timer(watchdog& wd, scenario_outcome& out) {
  check_planted_callback(wd, out, false);
}

void check_callback_io(watchdog& wd, scenario_outcome& out) {
  check_planted_callback(wd, out, true);
}

void check_busy_loop(watchdog& wd, scenario_outcome& out) {
  check_planted(wd, out, true);
}

void check_blocking_sleep(watchdog& wd, scenario_outcome& out) {
  check_planted(wd, out, false);
}

enum class planted { no, stall, callback_stall };

struct scenario {
  const char* name;
  planted by; // runs only with that --inject
  void (*run)(watchdog&, scenario_outcome&);
};

constexpr scenario battery[] = {
    {"well-behaved", planted::no, &check_well_behaved},
    {"busy-loop", planted::stall, &check_busy_loop},
    {"blocking-sleep", planted::stall, &check_blocking_sleep},
    {"callback-timer", planted::callback_stall, &check_callback_timer},
    {"callback-io", planted::callback_stall, &check_callback_io},
};

bool chosen(const scenario& s, const stall_check_options& options) {
  const bool runs = s.by == planted::no || (s.by == planted::stall && options.inject_stall) ||
                    (s.by == planted::callback_stall && options.inject_callback_stall);
  return selected(runs, s.name, options.only);
}

} // namespace

const std::vector<std::string>& stall_scenario_names() {
  static const std::vector<std::string> names = names_of(battery);
  return names;
}

std::vector<std::string> planned_stall_scenarios(const stall_check_options& options) {
  return planned_names(battery, [&options](const scenario& s) { return chosen(s, options); });
}

check_result run_check_stall(const stall_check_options& options, watchdog& wd,
                             const std::function<void(const scenario_result&)>& on_result) {
  threshold = options.threshold;
  return run_chosen(
      "stall", battery, [&options](const scenario& s) { return chosen(s, options); }, wd,
      on_result);
}

} // namespace zokio::diag_tool
