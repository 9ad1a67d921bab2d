#include "check_leaks.hpp"
#include "scenario.hpp"

#include <zokio/zokio.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

// Coroutines take their state as parameters by value (shared_ptr, or plain pointers to objects
// that outlive them), never through lambda captures (STYLE.md). The samples are taken on the
// thread that runs the rounds; the runtime's gauges are read through `runtime::stats()`.

using namespace std::chrono_literals;

namespace zokio::diag_tool {

namespace {

// The tolerances (README, "--check-leaks"). A count that grows by one every 20 rounds or more
// slowly, or by 2 at most in all, is noise (a pool thread started late, a descriptor opened
// lazily); memory may grow by 4 MiB in all or 64 KiB a round (allocator caches settling).
constexpr double count_max_growth = 2;
constexpr double count_max_slope = 0.05;
constexpr double rss_max_growth_kib = 4096;
// Under a sanitizer the RSS says nothing about leaks: AddressSanitizer's allocator keeps freed
// memory in a quarantine and per-thread caches (a few hundred KiB a round of this battery with
// no leak at all), and ThreadSanitizer's shadow grows with every address touched. LeakSanitizer
// judges leaks in the ASan build; the counts are judged in every build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool rss_is_judged = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool rss_is_judged = false;
#else
constexpr bool rss_is_judged = true;
#endif
#else
constexpr bool rss_is_judged = true;
#endif
constexpr const char* rss_not_judged =
    " (rss not judged: a sanitizer build, whose allocator keeps freed memory)";
constexpr double rss_max_slope_kib = 64;

constexpr int steady_warmup = 5;
constexpr int steady_rounds = 40;
constexpr int cycle_warmup = 3;
constexpr int cycle_rounds = 24;
constexpr std::size_t leaked_bytes = 1u << 20; // --inject leak, per round

// --- Sampling -----------------------------------------------------------------------------------

/// The process's resident memory in KiB (/proc/self/statm).
double rss_kib() {
  std::ifstream in("/proc/self/statm");
  long long size = 0;
  long long resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1024.0;
}

/// The process's open descriptors (/proc/self/fd; the directory's own descriptor excluded).
double open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return std::max(n - 1, 0.0);
}

/// The process's threads (/proc/self/status, "Threads:").
double threads() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Threads:", 0) == 0) {
      return std::stod(line.substr(8));
    }
  }
  return 0;
}

struct series {
  std::vector<double> rss, fds, threads, handles, tasks;

  void sample_process() {
    rss.push_back(rss_kib());
    fds.push_back(open_fds());
    threads.push_back(diag_tool::threads());
  }
  void sample_runtime(const zokio::runtime& rt) {
    const zokio::runtime_stats s = rt.stats();
    handles.push_back(static_cast<double>(s.handles_active));
    tasks.push_back(static_cast<double>(s.tasks_live));
  }
};

double median(std::vector<double> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// The least-squares slope of `v` against its index.
double slope(const std::vector<double>& v) {
  const double n = static_cast<double>(v.size());
  if (v.size() < 2) {
    return 0;
  }
  double sx = 0;
  double sy = 0;
  double sxy = 0;
  double sxx = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double x = static_cast<double>(i);
    sx += x;
    sy += v[i];
    sxy += x * v[i];
    sxx += x * x;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

resource_trend judge(std::string name, std::string unit, std::vector<double> samples,
                     double max_growth, double max_slope) {
  resource_trend t;
  t.name = std::move(name);
  t.unit = std::move(unit);
  const std::size_t q = std::max<std::size_t>(1, samples.size() / 4);
  t.baseline = median(std::vector<double>(samples.begin(), samples.begin() + q));
  t.final_level = median(std::vector<double>(samples.end() - q, samples.end()));
  t.growth = t.final_level - t.baseline;
  t.slope_per_round = slope(samples);
  t.max_growth = max_growth;
  t.max_slope_per_round = max_slope;
  t.leaking = t.growth > max_growth && t.slope_per_round > max_slope;
  t.samples = std::move(samples);
  return t;
}

std::string number(double v, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%+.*f", decimals, v);
  return buf;
}

/// Judges every series of `s` into `out`: a failure naming each resource that grows, or a note
/// with the levels of all.
void judge_all(series s, int rounds, int warmup, scenario_outcome& out) {
  std::vector<resource_trend> trends;
  if (rss_is_judged) {
    trends.push_back(judge("rss", "KiB", std::move(s.rss), rss_max_growth_kib, rss_max_slope_kib));
  }
  trends.push_back(judge("fds", "count", std::move(s.fds), count_max_growth, count_max_slope));
  trends.push_back(
      judge("threads", "count", std::move(s.threads), count_max_growth, count_max_slope));
  if (!s.handles.empty()) {
    trends.push_back(
        judge("handles", "count", std::move(s.handles), count_max_growth, count_max_slope));
    trends.push_back(
        judge("tasks", "count", std::move(s.tasks), count_max_growth, count_max_slope));
  }
  std::string levels;
  for (const resource_trend& t : trends) {
    const int d = t.unit == "KiB" ? 0 : 2;
    const std::string unit = t.unit == "KiB" ? " KiB" : "";
    const std::string what =
        t.name + " " + number(t.growth, d) + unit + " (" + number(t.slope_per_round, 2) + "/round)";
    if (t.leaking) {
      out.fail("leak: " + t.name + " grew from " + number(t.baseline, 0).substr(1) + " to " +
               number(t.final_level, 0).substr(1) + unit + ", " + number(t.growth, d) + " over " +
               std::to_string(rounds) + " rounds (" + number(t.slope_per_round, 2) +
               "/round; tolerance " + number(t.max_growth, 0) + " and " +
               number(t.max_slope_per_round, 2) + "/round)");
    }
    levels += (levels.empty() ? "" : ", ") + what;
  }
  out.note(std::to_string(rounds) + " rounds after " + std::to_string(warmup) +
           " of warm-up, each resource back to its baseline: " + levels +
           (rss_is_judged ? "" : rss_not_judged));
  out.resources(std::move(trends));
}

// --- The work of one round ----------------------------------------------------------------------

zokio::task<void> yielder(int n) {
  for (int i = 0; i < n; ++i) {
    co_await zokio::yield_now();
  }
}

zokio::task<void> send_n(zokio::sender<int> tx, int n) {
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

zokio::task<void> tcp_exchange() {
  auto listener = zokio::net::tcp_listener::bind("127.0.0.1", 0).value();
  auto dialing = zokio::spawn(zokio::net::tcp_stream::connect("127.0.0.1", listener.local_port()),
                              {.name = "leaks-dialer"});
  auto server = (co_await listener.accept()).value();
  auto client = (co_await dialing.join()).value();
  std::array<std::byte, 64> sent{};
  std::array<std::byte, 64> got{};
  (co_await client.write_all(sent)).value();
  (co_await server.read_exact(got)).value();
}

zokio::task<void> read_a_file() {
  (void)co_await zokio::fs::read_file("/proc/self/stat");
}

zokio::task<void> blocking_job() {
  co_await zokio::spawn_blocking([] { std::this_thread::sleep_for(100us); });
}

zokio::task<void> sleep_long() {
  co_await zokio::sleep_for(std::chrono::hours(1));
}

zokio::task<void> expiring_timeout() {
  (void)co_await zokio::timeout(1ms, sleep_long());
}

zokio::task<void> lock_often(std::shared_ptr<zokio::mutex> m, std::shared_ptr<int> counter, int n) {
  for (int i = 0; i < n; ++i) {
    auto guard = co_await m->lock();
    ++*counter;
    co_await zokio::yield_now();
  }
}

/// --inject leak: a task that listens forever (a descriptor, a libuv handle and a live task,
/// given back only when the runtime shuts down).
zokio::task<void> listen_forever() {
  auto listener = zokio::net::tcp_listener::bind("127.0.0.1", 0).value();
  (void)co_await listener.accept();
}

/// What --inject leak keeps: 1 MiB touched per round, and descriptors; given back at the end of
/// the scenario.
struct leak_bag {
  std::vector<std::unique_ptr<char[]>> memory;
  std::vector<int> fds;
  ~leak_bag() {
    for (int fd : fds) {
      ::close(fd);
    }
  }
  void keep_memory() {
    auto block = std::make_unique<char[]>(leaked_bytes);
    std::memset(block.get(), 0x5a, leaked_bytes);
    memory.push_back(std::move(block));
  }
};

zokio::task<void> one_round() {
  std::vector<zokio::join_handle<void>> hs;
  for (unsigned i = 0; i < 8; ++i) {
    hs.push_back(zokio::spawn_on(i % 2, yielder(20), {.name = "leaks-yielder"}));
  }
  auto [tx, rx] = zokio::make_channel<int>(16);
  hs.push_back(zokio::spawn_on(1, send_n(std::move(tx), 200), {.name = "leaks-sender"}));
  auto receiver = zokio::spawn_on(0, receive_all(std::move(rx)), {.name = "leaks-receiver"});
  hs.push_back(zokio::spawn_on(0, tcp_exchange(), {.name = "leaks-tcp"}));
  hs.push_back(zokio::spawn_on(1, read_a_file(), {.name = "leaks-file"}));
  hs.push_back(zokio::spawn_on(0, blocking_job(), {.name = "leaks-blocking"}));
  hs.push_back(zokio::spawn_on(1, expiring_timeout(), {.name = "leaks-timeout"}));
  auto m = std::make_shared<zokio::mutex>();
  auto counter = std::make_shared<int>(0);
  for (unsigned i = 0; i < 4; ++i) {
    hs.push_back(zokio::spawn_on(i % 2, lock_often(m, counter, 10), {.name = "leaks-locker"}));
  }
  for (auto& h : hs) {
    co_await h.join();
  }
  if (co_await receiver.join() != 200 || *counter != 40) {
    throw std::runtime_error("a round lost messages or lock turns");
  }
}

/// Runs `warmup + rounds` rounds in the runtime `rt` (this task runs on it), sampling after each
/// measured one.
zokio::task<void> steady_rounds_in(const zokio::runtime* rt, series* s, leak_bag* bag, bool leak) {
  for (int i = 0; i < steady_warmup + steady_rounds; ++i) {
    co_await one_round();
    if (leak) {
      (void)zokio::spawn_on(0, listen_forever(), {.name = "leaked-listener"});
      bag->keep_memory();
    }
    // Closing handles and finished tasks settle within a loop turn or two.
    co_await zokio::sleep_for(2ms);
    if (i >= steady_warmup) {
      s->sample_process();
      s->sample_runtime(*rt);
    }
  }
}

void check_steady(watchdog& wd, scenario_outcome& out, bool leak) {
  series s;
  leak_bag bag;
  {
    watched_runtime_base w(
        wd, zokio::runtime_options{.workers = 2, .force_async = true, .name = "zokio-diag"});
    w.rt().block_on(steady_rounds_in(&w.rt(), &s, &bag, leak));
    const zokio::shutdown_report report = w.rt().shutdown();
    out.record(w.rt().stats());
    out.expect(report.clean(), "shutdown not clean: " + report.to_string());
  }
  judge_all(std::move(s), steady_rounds, steady_warmup, out);
}

void check_cycles(watchdog& wd, scenario_outcome& out, bool leak) {
  series s;
  leak_bag bag;
  for (int i = 0; i < cycle_warmup + cycle_rounds; ++i) {
    {
      watched_runtime_base w(
          wd, zokio::runtime_options{.workers = 2, .force_async = true, .name = "zokio-diag"});
      w.rt().block_on(one_round());
      const zokio::shutdown_report report = w.rt().shutdown();
      if (!report.clean()) {
        out.fail("round " + std::to_string(i + 1) + ": shutdown not clean: " + report.to_string());
      }
      if (!out.stats()) {
        out.record(w.rt().stats());
      }
    }
    if (leak) {
      bag.fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      bag.keep_memory();
    }
    if (i >= cycle_warmup) {
      s.sample_process();
    }
  }
  judge_all(std::move(s), cycle_rounds, cycle_warmup, out);
}

struct scenario {
  const char* name;
  void (*run)(watchdog&, scenario_outcome&, bool leak);
};

constexpr scenario battery[] = {
    {"steady-runtime", &check_steady},
    {"runtime-cycles", &check_cycles},
};

bool chosen(const scenario& s, const leak_check_options& options) {
  return selected(true, s.name, options.only);
}

} // namespace

const std::vector<std::string>& leak_scenario_names() {
  static const std::vector<std::string> names = names_of(battery);
  return names;
}

std::vector<std::string> planned_leak_scenarios(const leak_check_options& options) {
  return planned_names(battery, [&options](const scenario& s) { return chosen(s, options); });
}

check_result run_check_leaks(const leak_check_options& options, watchdog& wd,
                             const std::function<void(const scenario_result&)>& on_result) {
  std::vector<named_scenario> list;
  for (const scenario& s : battery) {
    if (chosen(s, options)) {
      list.push_back({s.name, [&wd, run = s.run, leak = options.inject_leak](
                                  scenario_outcome& out) { run(wd, out, leak); }});
    }
  }
  return run_battery("leaks", list, wd, on_result);
}

} // namespace zokio::diag_tool
