// zokio-soak: an endurance run of the Zokio runtime under a mixed workload, judged by leak,
// drift, conservation and progress criteria (issue #11; ../shared/reference/soak.md).
//
// The run happens in a child process: the tool re-executes itself under the shared process
// watchdog (zokio_tools/watchdog.hpp) with a hidden flag, and the child beats the watchdog while
// every worker's loop turns. In the child:
//   - the main thread drives the runtime (block_on of the workload, worker 0);
//   - a sampler thread takes a sample every sample interval (from /proc, the allocator and
//     runtime_stats, outside every loop), merges the latency windows, calls
//     diag::find_deadlocks, and beats the watchdog;
//   - a signal thread turns SIGINT/SIGTERM into a stop (drain, verdict "interrupted", exit 3; a
//     second SIGINT exits 130 at once), SIGUSR1 into a task dump, and the watchdog's SIGUSR2 into
//     a task dump, the partial report with verdict "hang", and exit 3.

#include "cli.hpp"
#include "report.hpp"
#include "soak.hpp"

#include <zokio/detail/frame_alloc.hpp>
#include <zokio/diag/deadlock.hpp>
#include <zokio/diag/stall.hpp>
#include <zokio/diag/task_dump.hpp>
#include <zokio/http/server.hpp>
#include <zokio/zokio.hpp>
#include <zokio_tools/cli_result.hpp>
#include <zokio_tools/exit_codes.hpp>
#include <zokio_tools/output_file.hpp>
#include <zokio_tools/provenance.hpp>
#include <zokio_tools/watchdog.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace zokio::soak;
using clock_type = std::chrono::steady_clock;
using zokio::tools::exit_status;

int usage_error(const std::string& why) {
  std::string line = why;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::fprintf(stderr, "zokio-soak: %s (see --help)\n", line.c_str());
  return zokio::tools::code(exit_status::usage);
}

/// Open output documents, checked before the run starts.
struct outputs {
  std::optional<zokio::tools::output_file> json;
  std::optional<zokio::tools::output_file> csv, jsonl, summary_json, summary_md, html;
};

/// Everything the child's threads share.
struct child_state {
  explicit child_state(const config& c) : s(c) {}
  shared_state s;
  run_data d;
  outputs out;
  zokio::tools::watchdog_heartbeat beat;
  std::atomic<const zokio::runtime*> rt{nullptr};
  std::atomic<bool> interrupted{false};
  std::atomic<bool> sample_now{false};
  std::atomic<bool> finished{false}; // the sampler stops
  std::mutex write_mutex;            // one writer of the reports: the end, or the hang path
  bool written = false;              // guarded by write_mutex
  // --out: the checkpoint (DIR/checkpoint.json, replaced atomically at each sample) and the
  // journal of samples it counts (appended, fdatasync'd, before the checkpoint names it).
  std::mutex checkpoint_mutex;
  int journal_fd = -1;
  bool checkpoint_warned = false; // guarded by checkpoint_mutex
  // The progress line's verdict so far, judged again at each new sample (sampler thread only).
  std::size_t progress_samples = 0;
  std::string progress_verdict;
};

/// Appends `line` (a sample, or nothing) to the journal, then replaces checkpoint.json with
/// `text`. A failure is reported once and the run goes on (its outputs are still written).
void write_checkpoint(child_state& cs, const std::string& line, const std::string& text) {
  std::lock_guard<std::mutex> lock(cs.checkpoint_mutex);
  std::string why;
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(cs.journal_fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      why = std::string("the sample journal: ") + std::strerror(errno);
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (why.empty() && !line.empty() && ::fdatasync(cs.journal_fd) != 0) {
    why = std::string("the sample journal: ") + std::strerror(errno);
  }
  if (why.empty()) {
    try {
      zokio::tools::output_file::open(cs.s.cfg.out_dir + "/" + checkpoint_name).write(text);
    } catch (const zokio::tools::output_error& e) {
      why = e.what();
    }
  }
  if (!why.empty() && !cs.checkpoint_warned) {
    cs.checkpoint_warned = true;
    std::fprintf(stderr, "zokio-soak: checkpoint not written (--resume will not work): %s\n",
                 why.c_str());
  }
}

/// Writes every document and prints the summary; returns the exit code. Once.
int finish(child_state& cs, bool hung) {
  std::lock_guard<std::mutex> wl(cs.write_mutex);
  if (cs.written) {
    return 4;
  }
  cs.written = true;
  std::lock_guard<std::mutex> lock(cs.d.mutex);
  const config& cfg = cs.s.cfg;
  const verdict v = judge(cfg, cs.s, cs.d, cs.interrupted.load(), hung);
  const bool json_stdout = cs.out.json && cs.out.json->is_stdout();
  std::FILE* human = json_stdout ? stderr : stdout;
  if (::isatty(::fileno(human)) != 0) {
    std::fputc('\n', human);
  }
  print_summary(human, cfg, cs.s, cs.d, v);
  int code = v.exit_code;
  // An output that cannot be written is an environment error (exit 2 unless the run failed), named
  // by its flag and the user's path, as every tool names it.
  try {
    if (cs.out.json) {
      cs.out.json->write(render_json(cfg, cs.s, cs.d, v, true));
    }
  } catch (const zokio::tools::output_error& e) {
    std::fprintf(stderr, "zokio-soak: --json %s\n", e.what());
    if (code == 0) {
      code = zokio::tools::code(exit_status::usage);
    }
  }
  try {
    if (cs.out.summary_json) {
      cs.out.csv->write(render_csv(cs.d));
      cs.out.jsonl->write(render_jsonl(cs.d));
      cs.out.summary_json->write(render_json(cfg, cs.s, cs.d, v, false));
      cs.out.summary_md->write(render_markdown(cfg, cs.d, v));
      cs.out.html->write(render_html(cfg, cs.d, v));
    }
  } catch (const zokio::tools::output_error& e) {
    std::fprintf(stderr, "zokio-soak: --out %s\n", e.what());
    if (code == 0) {
      code = zokio::tools::code(exit_status::usage);
    }
  }
  if (cs.journal_fd >= 0) {
    // An interrupted run can be resumed; a finished one (a verdict, or a hang) cannot.
    const bool resumable = cs.interrupted.load() && !hung;
    write_checkpoint(
        cs, "",
        render_checkpoint(cfg, cs.s, cs.d, resumable ? "interrupted" : "finished", v.outcome));
  }
  std::fprintf(human, "zokio-soak: exit %d (%s)\n", code, zokio::tools::exit_meaning(code));
  std::fflush(nullptr);
  return code;
}

void print_task_dump(child_state& cs) {
  if (const zokio::runtime* rt = cs.rt.load()) {
    const std::string dump = zokio::diag::format_task_dump(zokio::diag::task_dump(*rt));
    std::fprintf(stderr, "zokio-soak: task dump:\n%s", dump.c_str());
  }
}

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2}) {
    sigaddset(&set, sig);
  }
  return set;
}

void signal_thread(child_state& cs) {
  const sigset_t set = handled_signals();
  int interrupts = 0;
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) {
      continue;
    }
    if (cs.finished.load() && sig == SIGUSR1) {
      return; // woken to stop
    }
    if (sig == SIGINT || sig == SIGTERM) {
      if (sig == SIGINT && ++interrupts >= 2) {
        std::fprintf(stderr, "zokio-soak: second SIGINT: exiting now\n");
        std::_Exit(130);
      }
      std::fprintf(stderr, "zokio-soak: %s: stopping the load, draining\n",
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      cs.interrupted.store(true);
      cs.s.stop.store(true);
    } else if (sig == SIGUSR1) {
      print_task_dump(cs);
      cs.sample_now.store(true);
    } else if (sig == SIGUSR2) {
      std::fprintf(stderr, "zokio-soak: watchdog: the run stopped making progress (a hang)\n");
      print_task_dump(cs);
      const int code = finish(cs, true);
      (void)code;
      std::fflush(nullptr);
      std::_Exit(zokio::tools::code(exit_status::interrupted));
    }
  }
}

/// The sampler thread's scratch: histograms allocated once.
struct sampler_scratch {
  std::vector<zokio::tools::log_histogram> window =
      std::vector<zokio::tools::log_histogram>(op_count);
  std::vector<zokio::tools::log_histogram> drift =
      std::vector<zokio::tools::log_histogram>(op_count);
  clock_type::time_point drift_start{};
  bool drift_open = false;
  bool first = true; // the segment's first sample: a resumed one marks the restart
};

/// Takes a sample; true when it was stored (the storage is sized for the run).
bool take_sample(child_state& cs, sampler_scratch& sc, const zokio::runtime& rt) {
  const config& cfg = cs.s.cfg;
  sample x;
  const auto now = clock_type::now();
  const double since = std::chrono::duration<double>(now - cs.s.load_start).count();
  x.t_s = cfg.t_offset_s + since;
  x.segment = cfg.segment;
  x.warm = now - cs.s.load_start >= cfg.warmup;
  x.phase = cs.s.load_done.load() ? 2 : (x.warm ? 1 : 0);
  {
    // The window overlapped a burst when its start, its end or a point between did.
    const auto since = now - cs.s.load_start;
    for (auto at = since - cfg.sample_interval; at <= since && !x.burst; at += ms(250)) {
      x.burst = at.count() >= 0 && in_burst(cfg, at);
    }
  }
  x.rss_bytes = read_rss_bytes();
  x.heap_live_bytes = read_heap_live_bytes();
  x.frame_pool_bytes = zokio::detail::frame_pool_reserved_bytes();
  x.cpu_s = cpu_seconds();
  x.fds = count_fds();
  x.threads = count_threads();
  const zokio::runtime_stats st = rt.stats();
  x.tasks_live = st.tasks_live;
  x.tasks_spawned = st.tasks_spawned;
  x.handles_active = st.handles_active;
  x.timers_pending = st.timers_pending;
  x.blocking_in_flight = st.blocking_in_flight;
  x.stalls = st.stalls;
  x.stalls_on_cpu = cs.s.stall_classes[static_cast<unsigned>(stall_class::on_cpu)].load();
  x.stalls_blocked = cs.s.stall_classes[static_cast<unsigned>(stall_class::blocked)].load();
  x.stalls_preempted = cs.s.stall_classes[static_cast<unsigned>(stall_class::preempted)].load();
  x.stalls_undetermined =
      cs.s.stall_classes[static_cast<unsigned>(stall_class::undetermined)].load();
  x.deadlocks = st.deadlocks_detected;
  x.lost_wakeups = st.lost_wakeups;
  if (const zokio::http::server_counters* sc_ = cs.s.server.load()) {
    x.connections_open = sc_->connections_open.load();
  }
  x.in_flight = cs.s.in_flight.load();
  // The worst heartbeat lateness: of the ticks that came, and of a tick still missing (a
  // blocked loop never reports its own lateness).
  std::uint64_t lag_ns = cs.s.max_lag_ns.exchange(0);
  std::uint64_t own_ns = cs.s.max_own_lag_ns.exchange(0);
  for (unsigned w = 0; w < cfg.workers; ++w) {
    const std::int64_t beat = cs.s.heartbeat_ns[w].load(std::memory_order_relaxed);
    if (beat == shared_state::heartbeat_stopped) {
      continue; // the teardown ended it: no tick is due
    }
    const auto last = clock_type::time_point(clock_type::duration(beat));
    const auto late = now - last - std::chrono::milliseconds(50);
    if (late.count() > 0) {
      lag_ns = std::max(lag_ns, static_cast<std::uint64_t>(late.count()));
      // Less what the worker's thread has waited for a CPU since its last heartbeat.
      const int tid = cs.s.heartbeat_tid[w].load();
      const std::int64_t runq = tid > 0 ? thread_runqueue_ns(tid) : -1;
      const std::int64_t runq0 = cs.s.heartbeat_runq_ns[w].load(std::memory_order_relaxed);
      const std::int64_t waited = runq >= 0 && runq0 >= 0 ? runq - runq0 : 0;
      own_ns = std::max(
          own_ns, static_cast<std::uint64_t>(std::max<std::int64_t>(0, late.count() - waited)));
    }
  }
  x.max_loop_lag_ms = lag_ns / 1000000;
  x.max_loop_lag_own_ms = own_ns / 1000000;
  // Each window with the cumulative counters as of its end (taken under the recorder's lock):
  // the window's completions are exactly the counters' growth since the last sample.
  run_data::counters now_counters;
  for (std::size_t k = 0; k < op_count; ++k) {
    cs.s.ops[k].take_window(sc.window[k], now_counters.ok[k], now_counters.errors[k]);
    const zokio::tools::log_histogram& h = sc.window[k];
    op_window& w = x.ops[k];
    w.n = h.count();
    w.p50_ns = h.quantile(0.5);
    w.p90_ns = h.quantile(0.9);
    w.p99_ns = h.quantile(0.99);
    w.p999_ns = h.quantile(0.999);
    w.max_ns = h.max();
  }
  now_counters.shed = cs.s.shed.load();
  now_counters.echo_mismatches = cs.s.echo_mismatches.load();
  now_counters.leak_bytes = cs.s.injected_leak_bytes.load();
  std::lock_guard<std::mutex> lock(cs.d.mutex);
  // Errors per window: from the cumulative counters' difference.
  for (std::size_t k = 0; k < op_count; ++k) {
    x.ops[k].errors = now_counters.errors[k] - cs.d.at_sample.errors[k];
  }
  cs.d.at_sample = now_counters;
  const bool judged = x.warm && x.phase == 1 && !x.burst;
  if (judged) {
    if (!sc.drift_open) {
      sc.drift_open = true;
      sc.drift_start = now - cfg.sample_interval;
      for (auto& h : sc.drift) {
        h.reset();
      }
    }
    for (std::size_t k = 0; k < op_count; ++k) {
      sc.drift[k].merge(sc.window[k]);
      cs.d.whole[k].merge(sc.window[k]);
    }
    if (now - sc.drift_start >= cfg.drift_window - cfg.sample_interval / 2) {
      drift_window w;
      w.t_end_s = x.t_s;
      w.segment = cfg.segment;
      for (std::size_t k = 0; k < op_count; ++k) {
        w.n[k] = sc.drift[k].count();
        w.p99_ns[k] = sc.drift[k].quantile(0.99);
        sc.drift[k].reset();
      }
      if (cs.d.windows.size() < cs.d.windows.capacity()) {
        cs.d.windows.push_back(w);
      }
      sc.drift_start = now;
    }
  }
  if (x.phase < 2) {
    cs.d.load_elapsed_s =
        cfg.load_offset_s + std::min(since, static_cast<double>(cfg.duration.count()) / 1000);
  }
  if (sc.first && cfg.segment > 0 && !cs.d.segments.empty()) {
    x.restart = cs.d.segments.back().after == "interrupted" ? 2 : 1;
  }
  sc.first = false;
  if (cs.d.samples.size() < cs.d.samples.capacity()) {
    cs.d.samples.push_back(x);
    return true;
  }
  return false;
}

/// On a terminal, one line rewritten in place; none when standard output is not a terminal,
/// or carries the JSON document (--json -).
void progress_line(child_state& cs) {
  if (::isatty(STDOUT_FILENO) == 0 || (cs.out.json && cs.out.json->is_stdout())) {
    return;
  }
  std::lock_guard<std::mutex> lock(cs.d.mutex);
  if (cs.d.samples.empty()) {
    return;
  }
  const sample& x = cs.d.samples.back();
  std::uint64_t n = 0, p99 = 0;
  for (const op_window& w : x.ops) {
    n += w.n;
    p99 = std::max(p99, w.p99_ns);
  }
  if (cs.progress_samples != cs.d.samples.size()) {
    // The verdict so far, once per sample: the criteria the samples can judge yet (the drain's
    // and the runtime's final counters come at the end).
    cs.progress_samples = cs.d.samples.size();
    const verdict v = judge(cs.s.cfg, cs.s, cs.d, false, true);
    std::string failed;
    for (const criterion& c : v.criteria) {
      if (!c.pass) {
        failed += (failed.empty() ? "" : ",") + c.name;
      }
    }
    cs.progress_verdict = failed.empty() ? "pass so far" : "FAIL " + failed;
  }
  const double total = static_cast<double>(cs.s.cfg.total_duration.count()) / 1000;
  const double done = std::min(cs.d.load_elapsed_s, total);
  std::printf("\r[%5.0f s, %5.0f s left] %s %5.0f op/s  worst p99 %7.2f ms  RSS %6.1f MiB  %s  ",
              done, total - done,
              x.phase == 0   ? "warm-up"
              : x.phase == 1 ? "steady "
                             : "drain  ",
              static_cast<double>(n) /
                  (static_cast<double>(cs.s.cfg.sample_interval.count()) / 1000),
              static_cast<double>(p99) / 1e6, static_cast<double>(x.rss_bytes) / (1024.0 * 1024),
              cs.progress_verdict.c_str());
  std::fflush(stdout);
}

void sampler_thread(child_state& cs, const zokio::runtime& rt) {
  sampler_scratch sc;
  const config& cfg = cs.s.cfg;
  while (!cs.s.started.load() && !cs.finished.load()) {
    cs.beat.beat();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto next = cs.s.load_start + cfg.sample_interval;
  while (!cs.finished.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // The watchdog hears from us only while every worker's loop turns.
    const auto now = clock_type::now();
    bool alive = true;
    for (unsigned w = 0; w < cfg.workers; ++w) {
      const auto last = clock_type::time_point(
          clock_type::duration(cs.s.heartbeat_ns[w].load(std::memory_order_relaxed)));
      alive = alive && now - last < cfg.stall_limit;
    }
    if (alive || cs.s.phase.load() == 3) {
      cs.beat.beat();
    }
    // A sample is due on the schedule, or asked for (SIGUSR1, the end): one asked for does not
    // move the schedule.
    const bool due = now >= next;
    if (due || cs.sample_now.exchange(false)) {
      if (take_sample(cs, sc, rt) && cs.journal_fd >= 0) {
        std::string line, text;
        {
          std::lock_guard<std::mutex> lock(cs.d.mutex);
          line = render_sample_line(cs.d.samples.back()) + "\n";
          text = render_checkpoint(cfg, cs.s, cs.d, "running", "");
        }
        write_checkpoint(cs, line, text);
      }
      if (due) {
        next += cfg.sample_interval;
        if (next < now) {
          next = now + cfg.sample_interval;
        }
      }
      // Deadlocks: the wait-for graph, read twice 100 ms apart (find_deadlocks' stable_for).
      std::vector<zokio::diag::deadlock_cycle> cycles = zokio::diag::find_deadlocks(rt);
      std::lock_guard<std::mutex> lock(cs.d.mutex);
      ++cs.d.deadlock_checks;
      cs.d.deadlock_cycles += cycles.size();
      if (!cycles.empty() && cs.d.deadlock_evidence.empty()) {
        cs.d.deadlock_evidence = zokio::diag::format_deadlocks(cycles);
      }
    }
    progress_line(cs);
  }
}

/// The watched run.
int run_child(const config& cfg, outputs out, int beat_fd) {
  child_state cs(cfg);
  cs.out = std::move(out);
  cs.beat = zokio::tools::watchdog_heartbeat(beat_fd);
  std::uint64_t journal_bytes = 0;
  if (!cfg.resume_dir.empty()) {
    // The earlier segments (checked by the parent already; the settings are cfg's).
    config again;
    const resume_result r = load_checkpoint(cfg.resume_dir, again, cs.d);
    if (!r.ok) {
      std::fprintf(stderr, "zokio-soak: %s\n", r.error.c_str());
      return zokio::tools::code(exit_status::usage);
    }
    journal_bytes = r.journal_bytes;
  } else {
    cs.d.segments.push_back(first_segment());
  }
  if (!cfg.out_dir.empty()) {
    const std::string journal = cfg.out_dir + "/" + journal_name;
    const int flags =
        O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (cfg.resume_dir.empty() ? O_TRUNC : 0);
    cs.journal_fd = ::open(journal.c_str(), flags, 0644);
    if (cs.journal_fd < 0 || ::ftruncate(cs.journal_fd, static_cast<off_t>(journal_bytes)) != 0) {
      std::fprintf(stderr, "zokio-soak: --out %s: cannot write the sample journal: %s\n",
                   journal.c_str(), std::strerror(errno));
      return zokio::tools::code(exit_status::usage);
    }
  }
  const std::size_t max_samples =
      static_cast<std::size_t>((cfg.duration + cfg.drain_limit + std::chrono::seconds(30)) /
                               cfg.sample_interval) +
      16;
  // Reserved and touched now (resize, then shrink back keeps the capacity): storing the samples
  // of a 24-hour run must not show as growth of the live bytes or of RSS.
  const std::size_t kept_samples = cs.d.samples.size();
  cs.d.samples.resize(kept_samples + max_samples);
  cs.d.samples.resize(kept_samples);
  const std::size_t kept_windows = cs.d.windows.size();
  cs.d.windows.resize(kept_windows + static_cast<std::size_t>(cfg.duration / cfg.drift_window) + 4);
  cs.d.windows.resize(kept_windows);
  if (cs.d.whole.size() != op_count) { // a resumed run has the earlier segments' already
    cs.d.whole.assign(op_count, zokio::tools::log_histogram());
  }
  for (auto& h : cs.s.heartbeat_ns) {
    h.store(clock_type::now().time_since_epoch().count());
  }

  std::thread signals(signal_thread, std::ref(cs));
  int code = 0;
  {
    // The blocking pool starts a thread for a job submitted while every thread is busy, also
    // one about to finish, so its thread count creeps up over a long run; the bound keeps it at
    // the 4 jobs the workload runs at a time (README.md, "What a run found").
    // Every stall report is judged by what the loop thread did (record_stall): the stall
    // criterion excuses a loop that waited for a CPU on a loaded machine.
    zokio::runtime rt{
        {.workers = cfg.workers,
         .name = "soak",
         .max_blocking_threads = blocking_threads,
         .on_stall = [&cs](const zokio::diag::stall_report& r) { record_stall(cs.s, r); }}};
    cs.rt.store(&rt);
    std::thread sampler(sampler_thread, std::ref(cs), std::cref(rt));
    std::string failure;
    try {
      run_workload(rt, cs.s);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    // One last sample after the drain, then the sampler stops.
    cs.sample_now.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cs.finished.store(true);
    sampler.join();
    const zokio::runtime_stats st = rt.stats();
    cs.rt.store(nullptr);
    const zokio::shutdown_report report = rt.shutdown();
    {
      std::lock_guard<std::mutex> lock(cs.d.mutex);
      {
        std::lock_guard<std::mutex> rl(cs.s.report_mutex);
        cs.d.drain = cs.s.drain;
      }
      cs.d.have_final_counters = true;
      cs.d.tasks_spawned = st.tasks_spawned;
      cs.d.tasks_completed = st.tasks_completed;
      cs.d.tasks_failed = st.tasks_failed;
      cs.d.tasks_cancelled = st.tasks_cancelled;
      cs.d.tasks_live = st.tasks_live;
      cs.d.shutdown_clean = report.clean();
      cs.d.shutdown_text = report.to_string();
    }
    if (!failure.empty()) {
      std::fprintf(stderr, "zokio-soak: the workload failed: %s\n", failure.c_str());
      code = zokio::tools::code(exit_status::tool_error);
    }
  }
  const int judged = finish(cs, false);
  code = code != 0 ? code : judged;
  pthread_kill(signals.native_handle(), SIGUSR1);
  signals.join();
  if (cs.journal_fd >= 0) {
    ::close(cs.journal_fd);
  }
  return code;
}

int run(int argc, char** argv) {
  const cli_result parsed = parse_cli(argc, argv);
  if (const std::optional<int> code = zokio::tools::early_exit(parsed, usage_error)) {
    return *code; // --help, --version, a mistake
  }
  config cfg = parsed.cfg;
  if (!cfg.resume_dir.empty()) {
    // --resume DIR: the settings, the remaining duration and the earlier samples come from
    // DIR's checkpoint; a missing, unreadable or finished one is one line, exit 2.
    run_data earlier;
    const resume_result r = load_checkpoint(cfg.resume_dir, cfg, earlier);
    if (!r.ok) {
      std::fprintf(stderr, "zokio-soak: %s\n", r.error.c_str());
      return zokio::tools::code(exit_status::usage);
    }
  }
  const std::string& json_path = cfg.json_path;
  const std::string& out_dir = cfg.out_dir;
  const int child_fd = parsed.child_fd;

  // Descriptors: two per loopback connection, client and server in this process.
  const std::uint64_t conns =
      static_cast<std::uint64_t>(cfg.workers) * (cfg.ka_clients + cfg.churn_max + cfg.echo_conns);
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max &&
      lim.rlim_cur < 20000) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 20000);
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 2 * conns + 256) {
    std::fprintf(stderr,
                 "zokio-soak: the descriptor limit (%llu) is below what %llu loopback connections "
                 "need (%llu)\n",
                 static_cast<unsigned long long>(lim.rlim_cur),
                 static_cast<unsigned long long>(conns),
                 static_cast<unsigned long long>(2 * conns + 256));
    return zokio::tools::code(exit_status::usage);
  }

  // The outputs, checked before the run (in the parent and again in the child).
  outputs out;
  try {
    if (!json_path.empty()) {
      out.json = zokio::tools::output_file::open(json_path);
    }
  } catch (const zokio::tools::output_error& e) {
    std::fprintf(stderr, "zokio-soak: --json %s\n", e.what());
    return zokio::tools::code(exit_status::usage);
  }
  try {
    if (!out_dir.empty()) {
      struct stat st {};
      if (::stat(out_dir.c_str(), &st) != 0) {
        if (::mkdir(out_dir.c_str(), 0777) != 0) {
          std::fprintf(stderr, "zokio-soak: --out %s: cannot create the directory: %s\n",
                       out_dir.c_str(), std::strerror(errno));
          return zokio::tools::code(exit_status::usage);
        }
      } else if (!S_ISDIR(st.st_mode)) {
        std::fprintf(stderr, "zokio-soak: --out %s: not a directory\n", out_dir.c_str());
        return zokio::tools::code(exit_status::usage);
      }
      out.csv = zokio::tools::output_file::open(out_dir + "/samples.csv");
      out.jsonl = zokio::tools::output_file::open(out_dir + "/samples.jsonl");
      out.summary_json = zokio::tools::output_file::open(out_dir + "/summary.json");
      out.summary_md = zokio::tools::output_file::open(out_dir + "/summary.md");
      out.html = zokio::tools::output_file::open(out_dir + "/report.html");
    }
  } catch (const zokio::tools::output_error& e) {
    std::fprintf(stderr, "zokio-soak: --out %s\n", e.what());
    return zokio::tools::code(exit_status::usage);
  }

  if (!parsed.child && !parsed.no_watchdog) {
    out = outputs{}; // the child opens them again
    zokio::tools::watchdog_options wo;
    wo.tool = "zokio-soak";
    wo.child_flag = child_flag;
    wo.silence_limit = cfg.hang_limit;
    wo.kill_grace = std::chrono::seconds(10);
    return zokio::tools::run_watched(argc, argv, wo);
  }
  // The child (or --no-watchdog): SIGINT, SIGTERM, SIGUSR1 and SIGUSR2 go to the signal thread.
  const sigset_t set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return run_child(cfg, std::move(out), child_fd);
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zokio-soak: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "zokio-soak: internal error\n");
  }
  return zokio::tools::code(exit_status::tool_error);
}
