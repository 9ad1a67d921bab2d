#include "check_lifecycle.hpp"
#include "scenario.hpp"

#include <zokio/diag/task_dump.hpp>
#include <zokio/zokio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

// Coroutines take their state as parameters by value (shared_ptr, or plain pointers into a frame
// or an object that outlives them), never through lambda captures (STYLE.md).

using namespace std::chrono_literals;

namespace zokio::diag_tool {

namespace {

using clock = std::chrono::steady_clock;

/// A clean shutdown with everything cancelled promptly takes milliseconds; past this it fails.
constexpr auto shutdown_bound = 2s;
/// The grace of the runtimes whose shutdown must not wait for a stuck task for long.
constexpr auto short_grace = 200ms;

// --- What is in flight when a runtime shuts down ------------------------------------------------

zokio::task<void> sleep_forever() {
  co_await zokio::sleep_for(std::chrono::hours(1));
}

zokio::task<void> receive_forever(zokio::receiver<int> rx) {
  (void)co_await rx.recv(); // the sender lives on in another pending task
}

zokio::task<void> hold_sender(zokio::sender<int> tx) {
  co_await zokio::sleep_for(std::chrono::hours(1));
  co_await tx.send(1);
}

zokio::task<void> read_pending(zokio::net::tcp_stream* s) {
  std::byte b[16];
  (void)co_await s->read_some(b);
}

zokio::task<void> tick_forever() {
  zokio::interval every(5ms);
  for (;;) {
    (void)co_await every.tick();
  }
}

zokio::task<void> listen_for_signal() {
  zokio::signal::listener l{SIGUSR2}; // never sent: the watcher stays open until cancelled
  (void)co_await l.recv();
}

zokio::task<void> blocking_job() {
  co_await zokio::spawn_blocking([] { std::this_thread::sleep_for(20ms); });
  co_await sleep_forever();
}

zokio::task<void> read_files_until_cancelled() {
  // A failed read (cancellation fails it with operation_canceled) ends the loop. Not written
  // `while (co_await ...) {}`: with GCC 12 -O3 that form ran into an illegal instruction (ud2)
  // here; not investigated further.
  for (;;) {
    auto r = co_await zokio::fs::read_file("/proc/self/stat");
    if (!r) {
      co_return;
    }
  }
}

/// A loopback connection on this worker, with a read pending on each end.
zokio::task<void> socket_pair_waiting() {
  auto listener = zokio::net::tcp_listener::bind("127.0.0.1", 0).value();
  auto dialing = zokio::spawn(zokio::net::tcp_stream::connect("127.0.0.1", listener.local_port()),
                              {.name = "dialer"});
  auto server = (co_await listener.accept()).value();
  auto client = (co_await dialing.join()).value();
  std::byte buf[16];
  auto other_end = zokio::spawn(read_pending(&client), {.name = "client-reader"});
  (void)co_await server.read_some(buf);
  co_await other_end.join();
}

/// Puts one of everything in flight on every worker, then returns (the tasks stay pending).
zokio::task<void> everything_in_flight(unsigned workers) {
  auto [tx, rx] = zokio::make_channel<int>(4);
  (void)zokio::spawn(hold_sender(std::move(tx)), {.name = "sender"});
  (void)zokio::spawn(receive_forever(std::move(rx)), {.name = "receiver"});
  for (unsigned w = 0; w < workers; ++w) {
    (void)zokio::spawn_on(w, sleep_forever(), {.name = "sleeper"});
    (void)zokio::spawn_on(w, tick_forever(), {.name = "ticker"});
    (void)zokio::spawn_on(w, blocking_job(), {.name = "blocking-job"});
    (void)zokio::spawn_on(w, read_files_until_cancelled(), {.name = "file-reader"});
    (void)zokio::spawn_on(w, socket_pair_waiting(), {.name = "socket-pair"});
  }
  (void)zokio::spawn_on(0, listen_for_signal(), {.name = "signal-listener"});
  co_await zokio::sleep_for(10ms); // let every operation start
}

/// Shuts `rt` down, timing it, and fails `out` on anything left.
zokio::shutdown_report shut_down_and_judge(zokio::runtime& rt, scenario_outcome& out,
                                           const std::string& what,
                                           std::chrono::nanoseconds& took) {
  const auto start = clock::now();
  const zokio::shutdown_report report = rt.shutdown();
  took = clock::now() - start;
  const zokio::runtime_stats s = rt.stats();
  if (!report.clean()) {
    std::string left;
    for (const auto& t : zokio::diag::task_dump(rt)) {
      left += (left.empty() ? "" : ", ") + std::string("task ") + std::to_string(t.id) + " '" +
              t.name + "' (" + t.state + (t.waiting_on.empty() ? "" : " on " + t.waiting_on) +
              ", spawned at " + t.spawn_site.file + ":" + std::to_string(t.spawn_site.line) + ")";
    }
    out.fail(what + ": shutdown not clean: " + report.to_string() +
             (left.empty() ? "" : "; left: " + left));
  }
  out.expect(s.tasks_live == 0,
             what + ": " + std::to_string(s.tasks_live) + " task(s) still live after shutdown");
  out.expect(took <= shutdown_bound,
             what + ": shutdown took " + ms(took) + ", over the bound of " + ms(shutdown_bound));
  return report;
}

constexpr int rounds_one_worker = 20;
constexpr int rounds_three_workers = 8;

void start_stop_loop(watchdog& wd, scenario_outcome& out, unsigned workers, int rounds) {
  std::chrono::nanoseconds slowest{0};
  std::uint64_t tasks = 0;
  for (int i = 0; i < rounds; ++i) {
    watched_runtime_base w(
        wd, zokio::runtime_options{.workers = workers, .force_async = true, .name = "zokio-diag"});
    w.rt().block_on(everything_in_flight(workers));
    std::chrono::nanoseconds took{0};
    const auto live = w.rt().stats().tasks_live;
    tasks += live;
    (void)shut_down_and_judge(w.rt(), out, "round " + std::to_string(i + 1), took);
    slowest = std::max(slowest, took);
    if (!out.stats()) {
      out.record(w.rt().stats());
    }
  }
  out.note(std::to_string(rounds) + " runtime(s) of " + std::to_string(workers) +
           " worker(s) started and shut down clean with " + std::to_string(tasks) +
           " task(s) pending in all (timers, a channel receive, TCP reads, an interval, a signal "
           "listener, blocking jobs, file reads); slowest shutdown " +
           ms(slowest));
}

void check_one_worker(watchdog& wd, scenario_outcome& out) {
  start_stop_loop(wd, out, 1, rounds_one_worker);
}

void check_three_workers(watchdog& wd, scenario_outcome& out) {
  start_stop_loop(wd, out, 3, rounds_three_workers);
}

// --- Planted ------------------------------------------------------------------------------------

zokio::task<void> bind_and_keep(std::optional<zokio::net::tcp_listener>* out) {
  out->emplace(zokio::net::tcp_listener::bind("127.0.0.1", 0).value());
  co_return;
}

/// --inject handle-leak: a TCP listener that its owner keeps open past shutdown.
void check_handle_leak(watchdog& wd, scenario_outcome& out) {
  std::optional<zokio::net::tcp_listener> kept; // destroyed after the runtime's shutdown: allowed
  {
    watched_runtime_base w(
        wd, zokio::runtime_options{.workers = 1, .force_async = true, .name = "zokio-diag"});
    w.rt().block_on(bind_and_keep(&kept));
    std::chrono::nanoseconds took{0};
    const auto report = shut_down_and_judge(w.rt(), out, "handle-leak", took);
    out.record(w.rt().stats());
    if (report.clean()) {
      out.fail("the planted leak (a TCP listener kept open) was not reported");
    }
  }
  kept.reset();
}

/// A blocking job that runs until released, and whether it has started: a job still queued can
/// be cancelled, a running one cannot.
struct stuck_job {
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
};

zokio::task<void> ignore_cancellation(std::shared_ptr<stuck_job> job) {
  // A running blocking job cannot be cancelled: the task outlives any grace shorter than it.
  co_await zokio::spawn_blocking(
      [job] {
        job->started.store(true);
        while (!job->release.load()) {
          std::this_thread::sleep_for(1ms);
        }
      },
      {.name = "ignores-cancellation"});
}

zokio::task<void> start_stuck(std::shared_ptr<stuck_job> job) {
  (void)zokio::spawn(ignore_cancellation(job), {.name = "waits-for-the-job"});
  while (!job->started.load()) {
    co_await zokio::sleep_for(1ms);
  }
}

/// --inject unclean-shutdown: a task that does not unwind within shutdown_grace.
void check_stuck_task(watchdog& wd, scenario_outcome& out) {
  auto job = std::make_shared<stuck_job>();
  {
    watched_runtime_base w(wd, zokio::runtime_options{.workers = 1,
                                                      .force_async = true,
                                                      .name = "zokio-diag",
                                                      .shutdown_grace = short_grace});
    w.rt().block_on(start_stuck(job));
    std::chrono::nanoseconds took{0};
    const auto report = shut_down_and_judge(w.rt(), out, "stuck-task", took);
    out.record(w.rt().stats());
    if (report.clean()) {
      out.fail("the planted task that ignores cancellation was not reported");
    }
    job->release.store(true); // the job ends; the runtime's end frees what it can
  }
}

/// --inject hang: a shutdown that never finishes (a task stuck in a blocking job, and a grace
/// without end). The scenario watchdog ends the run: exit 3.
void check_shutdown_hang(watchdog& wd, scenario_outcome& out) {
  auto job = std::make_shared<stuck_job>(); // never released
  watched_runtime_base w(
      wd, zokio::runtime_options{.workers = 1,
                                 .force_async = true,
                                 .name = "zokio-diag",
                                 .shutdown_grace = std::chrono::milliseconds::max()});
  w.rt().block_on(start_stuck(job));
  std::chrono::nanoseconds took{0};
  (void)shut_down_and_judge(w.rt(), out, "shutdown-hang", took);
  out.fail("the shutdown that should never finish returned after " + ms(took));
}

struct scenario {
  const char* name;
  bool lifecycle_check_options::*planted; // null: always runs
  void (*run)(watchdog&, scenario_outcome&);
};

const scenario battery[] = {
    {"start-stop-1-worker", nullptr, &check_one_worker},
    {"start-stop-3-workers", nullptr, &check_three_workers},
    {"handle-leak", &lifecycle_check_options::inject_handle_leak, &check_handle_leak},
    {"stuck-task", &lifecycle_check_options::inject_stuck_task, &check_stuck_task},
    {"shutdown-hang", &lifecycle_check_options::inject_hang, &check_shutdown_hang},
};

bool chosen(const scenario& s, const lifecycle_check_options& options) {
  return selected(s.planted == nullptr || options.*(s.planted), s.name, options.only);
}

} // namespace

const std::vector<std::string>& lifecycle_scenario_names() {
  static const std::vector<std::string> names = names_of(battery);
  return names;
}

std::vector<std::string> planned_lifecycle_scenarios(const lifecycle_check_options& options) {
  return planned_names(battery, [&options](const scenario& s) { return chosen(s, options); });
}

check_result run_check_lifecycle(const lifecycle_check_options& options, watchdog& wd,
                                 const std::function<void(const scenario_result&)>& on_result) {
  return run_chosen(
      "lifecycle", battery, [&options](const scenario& s) { return chosen(s, options); }, wd,
      on_result);
}

} // namespace zokio::diag_tool
