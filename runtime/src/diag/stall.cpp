#include <zokio/diag/stall.hpp>
#include <zokio/diag/task_dump.hpp>

#include "diag/console_server.hpp"
#include "diag/detectors.hpp"
#include "diag/stall_watchdog.hpp"
#include "runtime/worker.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <utility>

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

// The backtrace of a stalled thread is taken in that thread: the watchdog sends it a signal of
// its own (SIGRTMIN+6) with tgkill, and the handler calls backtrace() into one process-wide slot
// set aside beforehand. backtrace() is not on POSIX's list of async-signal-safe functions; what
// makes it unsafe is only its first call, which loads libgcc_s (dlopen, malloc): the slot is
// warmed up by one call when the handler is installed. The handler touches nothing else but
// atomics and the slot, keeps errno, and only acts when the slot was asked for by this thread's
// id, so a stray or late signal does nothing. One capture at a time in the process (a mutex on
// the watchdogs' side); a thread that does not answer within 100 ms is reported without a stack
// (the late answer then finds the slot no longer asked for).

namespace zokio {

namespace detail {

namespace {

constexpr int max_frames = 48;

enum slot_state : int { slot_idle = 0, slot_asked = 1, slot_taking = 2, slot_taken = 3 };

struct capture_slot {
  std::atomic<int> state{slot_idle};
  std::atomic<long> target{0};
  std::atomic<int> count{0};
  void* frames[max_frames] = {};
};

capture_slot g_slot;
std::mutex g_capture_mutex;   // one capture at a time, process-wide
std::atomic<int> g_signal{0}; // the signal installed; 0: none (yet), -1: refused
std::once_flag g_install_once;

long this_tid() noexcept {
  return static_cast<long>(::syscall(SYS_gettid));
}

extern "C" void zokio_stall_signal(int) {
  const int saved = errno;
  if (g_slot.target.load(std::memory_order_acquire) == this_tid()) {
    int expected = slot_asked;
    if (g_slot.state.compare_exchange_strong(expected, slot_taking, std::memory_order_acq_rel)) {
      g_slot.count.store(::backtrace(g_slot.frames, max_frames), std::memory_order_relaxed);
      g_slot.state.store(slot_taken, std::memory_order_release);
    }
  }
  errno = saved;
}

/// Installs the handler once per process; returns the signal, or 0 when it could not be (the
/// program handles that signal itself).
int install_handler() {
  std::call_once(g_install_once, [] {
    const int sig = SIGRTMIN + 6;
    if (sig > SIGRTMAX) {
      g_signal.store(-1);
      return;
    }
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0 ||
        ((old.sa_flags & SA_SIGINFO) == 0 && old.sa_handler != SIG_DFL)) {
      g_signal.store(-1);
      return;
    }
    void* warm[2];
    (void)::backtrace(warm, 2); // loads the unwinder now, not in the handler
    struct sigaction sa {};
    sa.sa_handler = &zokio_stall_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    g_signal.store(::sigaction(sig, &sa, nullptr) == 0 ? sig : -1);
  });
  return std::max(g_signal.load(), 0);
}

std::string symbolize(void* addr) {
  char buf[64];
  Dl_info info{};
  if (::dladdr(addr, &info) == 0) {
    std::snprintf(buf, sizeof buf, "%p", addr);
    return buf;
  }
  std::string out;
  if (info.dli_sname != nullptr) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> demangled(
        abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status), &std::free);
    out = status == 0 && demangled ? demangled.get() : info.dli_sname;
    std::snprintf(
        buf, sizeof buf, "+0x%zx",
        static_cast<std::size_t>(static_cast<char*>(addr) - static_cast<char*>(info.dli_saddr)));
    out += buf;
  } else {
    std::snprintf(buf, sizeof buf, "%p", addr);
    out = buf;
  }
  if (info.dli_fname != nullptr) {
    const char* base = std::strrchr(info.dli_fname, '/');
    out += std::string(" (") + (base != nullptr ? base + 1 : info.dli_fname) + ")";
  }
  return out;
}

/// The stack of thread `tid`, taken in it; empty with `note` saying why.
std::vector<std::string> capture(long tid, std::string& note) {
  const int sig = install_handler();
  if (sig == 0) {
    note = "no backtrace: SIGRTMIN+6 is handled by the program";
    return {};
  }
  if (tid == 0) {
    note = "no backtrace: the worker's thread is not known";
    return {};
  }
  std::lock_guard<std::mutex> lock(g_capture_mutex);
  g_slot.count.store(0, std::memory_order_relaxed);
  g_slot.target.store(tid, std::memory_order_release);
  g_slot.state.store(slot_asked, std::memory_order_release);
  if (::syscall(SYS_tgkill, ::getpid(), tid, sig) != 0) {
    g_slot.state.store(slot_idle, std::memory_order_release);
    note = "no backtrace: the signal could not be sent";
    return {};
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  while (g_slot.state.load(std::memory_order_acquire) != slot_taken) {
    if (std::chrono::steady_clock::now() > until) {
      int expected = slot_asked;
      if (g_slot.state.compare_exchange_strong(expected, slot_idle, std::memory_order_acq_rel)) {
        g_slot.target.store(0, std::memory_order_release);
        note = "no backtrace: the thread did not answer the signal within 100 ms";
        return {};
      }
      // It is taking it now: that takes microseconds.
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const int n = g_slot.count.load(std::memory_order_relaxed);
  std::vector<std::string> frames;
  // Frame 0 is the handler, frame 1 the kernel's signal return trampoline.
  for (int i = 2; i < n; ++i) {
    frames.push_back(symbolize(g_slot.frames[i]));
  }
  g_slot.target.store(0, std::memory_order_release);
  g_slot.state.store(slot_idle, std::memory_order_release);
  if (frames.empty()) {
    note = "no backtrace: the unwinder found no frame";
  }
  return frames;
}

/// The first line of /proc/self/task/TID/NAME ("" when it cannot be read). Plain system calls,
/// no iostream: the watchdog reads these while the program may be out of descriptors, and
/// UBSan's check of an iostream's dynamic type needs a descriptor of its own there.
std::string read_task_file(long tid, const char* name) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/" + name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return {};
  }
  char buf[512];
  ssize_t n = 0;
  do {
    n = ::read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) {
    return {};
  }
  std::string text(buf, static_cast<std::size_t>(n));
  if (const auto eol = text.find('\n'); eol != std::string::npos) {
    text.resize(eol);
  }
  return text;
}

/// Time on a CPU and time runnable but waiting for one, in ns, of thread `tid`; false when
/// /proc does not tell.
bool read_schedstat(long tid, std::int64_t& cpu, std::int64_t& wait) {
  if (tid == 0) {
    return false;
  }
  const std::string text = read_task_file(tid, "schedstat");
  long long c = 0;
  long long w = 0;
  if (std::sscanf(text.c_str(), "%lld %lld", &c, &w) != 2) {
    return false;
  }
  cpu = c;
  wait = w;
  return true;
}

/// The machine's steal time so far, all CPUs together, in ns (/proc/stat's "cpu" line, in
/// USER_HZ ticks); -1 when /proc does not tell.
std::int64_t read_steal_ns() {
  const int fd = ::open("/proc/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return -1;
  }
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) {
    return -1;
  }
  buf[n] = '\0';
  unsigned long long v[8] = {};
  if (std::sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                  &v[4], &v[5], &v[6], &v[7]) != 8) {
    return -1;
  }
  static const long hz = ::sysconf(_SC_CLK_TCK);
  return hz > 0 ? static_cast<std::int64_t>(
                      v[7] * (1'000'000'000ULL / static_cast<unsigned long long>(hz)))
                : -1;
}

/// The steal time since `steal0` (a read_steal_ns() value); 0 when either read failed.
std::chrono::nanoseconds steal_since(std::int64_t steal0) {
  const std::int64_t now = steal0 >= 0 ? read_steal_ns() : -1;
  return std::chrono::nanoseconds(now >= steal0 && steal0 >= 0 ? now - steal0 : 0);
}

/// The scheduler state of thread `tid` ('R', 'S', 'D', ...; 0 when /proc does not tell).
char read_thread_state(long tid) {
  if (tid == 0) {
    return 0;
  }
  const std::string line = read_task_file(tid, "stat");
  // "pid (comm) S ...": the name may hold spaces and parentheses, the state follows the last ')'.
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() ? line[close + 2] : 0;
}

/// The name of system call `nr` for the common blocking ones, else "syscall N".
std::string syscall_name(long nr) {
#if defined(__x86_64__)
  static const std::pair<long, const char*> names[] = {
      {0, "read"},         {1, "write"},         {7, "poll"},
      {17, "pread64"},     {18, "pwrite64"},     {19, "readv"},
      {20, "writev"},      {23, "select"},       {35, "nanosleep"},
      {42, "connect"},     {43, "accept"},       {44, "sendto"},
      {45, "recvfrom"},    {46, "sendmsg"},      {47, "recvmsg"},
      {61, "wait4"},       {73, "flock"},        {74, "fsync"},
      {75, "fdatasync"},   {202, "futex"},       {230, "clock_nanosleep"},
      {232, "epoll_wait"}, {257, "openat"},      {270, "pselect6"},
      {271, "ppoll"},      {281, "epoll_pwait"}, {288, "accept4"},
      {318, "getrandom"},
  };
  for (const auto& [n, name] : names) {
    if (n == nr) {
      return name;
    }
  }
#endif
  return "syscall " + std::to_string(nr);
}

/// Where thread `tid` sleeps in the kernel: its wchan and the system call it is in.
void read_blocked_in(long tid, std::string& wchan, std::string& syscall) {
  wchan = read_task_file(tid, "wchan");
  if (wchan == "0") {
    wchan.clear();
  }
  const std::string call = read_task_file(tid, "syscall");
  if (!call.empty() && call[0] >= '0' && call[0] <= '9') {
    syscall = syscall_name(std::stol(call));
  }
}

// SIGQUIT: the handler only counts (async-signal-safe); each runtime's watchdog thread, which
// looks at the count at least every 200 ms, prints the dump from its own thread, so the dump
// works while every worker is stuck, and the program goes on.
std::atomic<std::uint64_t> g_sigquits{0};
std::once_flag g_sigquit_once;
bool g_sigquit_installed = false; // written once under g_sigquit_once

extern "C" void zokio_sigquit(int) {
  g_sigquits.fetch_add(1, std::memory_order_relaxed);
}

/// Installs the SIGQUIT handler once per process, unless the program handles SIGQUIT itself.
/// An ignored SIGQUIT is taken over: a shell starts every background job (`prog &`) with SIGQUIT
/// ignored, and ZOKIO_DUMP asks for the dump.
bool install_sigquit() {
  std::call_once(g_sigquit_once, [] {
    struct sigaction old {};
    if (::sigaction(SIGQUIT, nullptr, &old) != 0 ||
        ((old.sa_flags & SA_SIGINFO) != 0 ||
         (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN))) {
      return;
    }
    struct sigaction sa {};
    sa.sa_handler = &zokio_sigquit;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    g_sigquit_installed = ::sigaction(SIGQUIT, &sa, nullptr) == 0;
  });
  return g_sigquit_installed;
}

// The next look for something `elapsed_ns` into a threshold it has not reached: just after it
// would reach it, unless an earlier look is due anyway. Saturating: the threshold may be
// milliseconds::max(), where threshold - elapsed + slack overflows.
std::int64_t look_again_by(std::int64_t sleep_ns, std::int64_t threshold_ns,
                           std::int64_t elapsed_ns) {
  constexpr std::int64_t slack = 500'000;
  const std::int64_t left = threshold_ns - elapsed_ns; // > 0: elapsed < threshold, both >= 0
  return left < sleep_ns - slack ? left + slack : sleep_ns;
}

constexpr std::size_t ring_capacity = 64;

} // namespace

stall_watchdog::stall_watchdog(runtime_impl& rt, std::int64_t threshold_ns, dump_format dump)
    : m_rt(rt), m_threshold_ns(threshold_ns), m_ticks_busy_clock(samples_busy_time(rt.m_options)),
      m_dump_on_sigquit(dump != dump_format::none && install_sigquit()), m_dump_format(dump),
      m_watched(rt.size()), m_tick_progress(rt.size()), m_ended(rt.size()) {
  m_dumps_seen = g_sigquits.load(std::memory_order_relaxed);
  if (threshold_ns > 0 && rt.m_options.stall_backtrace) {
    (void)install_handler();
  }
  // Returns once the thread runs, as worker::start_thread does (see there): the watchdog watches
  // from the moment the runtime exists, and its thread never first runs out of descriptors.
  m_thread = std::thread([this] { main(); });
  m_started.wait(false, std::memory_order_acquire);
}

stall_watchdog::~stall_watchdog() {
  stop();
}

void stall_watchdog::stop() noexcept {
  {
    std::lock_guard<std::mutex> lock(m_wake_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

void stall_watchdog::main() noexcept {
#if defined(__linux__)
  std::string name = m_rt.m_options.name;
  name.resize(std::min<std::size_t>(name.size(), 9));
  pthread_setname_np(pthread_self(), (name + "-stall").c_str());
#endif
  m_started.store(true, std::memory_order_release); // named: the constructor may return
  m_started.notify_one();
  using clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lock(m_wake_mutex);
  clock::time_point next_look = clock::now();
  while (!m_stop) {
    lock.unlock();
    clock::time_point now = clock::now();
    if (now >= next_look) {
      std::int64_t sleep_ns = 500'000'000;
      try {
        if (m_threshold_ns > 0) {
          sleep_ns = scan();
        }
      } catch (...) {
        // Out of memory for a report: look again later.
        sleep_ns = std::clamp<std::int64_t>(m_threshold_ns / 2, 1'000'000, 500'000'000);
      }
      if (m_dump_on_sigquit) {
        if (const std::uint64_t n = g_sigquits.load(std::memory_order_relaxed); n != m_dumps_seen) {
          m_dumps_seen = n;
          dump();
        }
        sleep_ns = std::min<std::int64_t>(sleep_ns, 200'000'000);
      }
      now = clock::now();
      next_look = now + std::chrono::nanoseconds(sleep_ns);
    }
    // Between looks, a tick of the busy-time clock every millisecond while the workers run
    // tasks (a look costs /proc reads; a tick, two loads per worker and one add). Not with
    // testing.exact_busy_time: no worker reads the clock then.
    clock::time_point until = next_look;
    if (m_ticks_busy_clock && tick_busy_clock()) {
      until = std::min(until, now + std::chrono::milliseconds(1));
    }
    lock.lock();
    if (m_stop) {
      break;
    }
    m_wake.wait_until(lock, until);
  }
}

bool stall_watchdog::tick_busy_clock() {
  bool busy = false;
  for (unsigned i = 0; i < m_rt.size(); ++i) {
    worker& w = m_rt.at(i);
    const std::uint64_t seq = w.m_progress.load(std::memory_order_relaxed);
    busy =
        busy || seq != m_tick_progress[i] || w.m_running.load(std::memory_order_relaxed) != nullptr;
    m_tick_progress[i] = seq;
  }
  // The mode first, then the tick (release): a worker that sees the new tick sees its mode. One
  // writer: a plain load and store.
  busy_clock& c = m_rt.m_busy_clock;
  c.fast.store(busy, std::memory_order_relaxed);
  c.tick.store(c.tick.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  return busy;
}

std::int64_t stall_watchdog::scan() {
  const double ns_per_tick = m_rt.ns_per_tick();
  const std::uint64_t now = ticks();
  // A resume starting just after this look reaches the threshold no sooner than a threshold
  // from now; looking again at half of it sees it running before it does.
  std::int64_t sleep_ns = std::clamp<std::int64_t>(m_threshold_ns / 2, 1'000'000, 500'000'000);
  for (unsigned i = 0; i < m_rt.size(); ++i) {
    worker& w = m_rt.at(i);
    watched_worker& seen = m_watched[i];
    const std::uint64_t seq = w.m_progress.load(std::memory_order_acquire);
    task_record* running = w.m_running.load(std::memory_order_acquire);
    const std::uint64_t start = w.m_resume_start.load(std::memory_order_acquire);
    if (running == nullptr || w.m_progress.load(std::memory_order_acquire) != seq) {
      seen.seen_seq = 0;
      if (running == nullptr) {
        scan_callback(i, seq, now, sleep_ns);
      }
      continue;
    }
    end_callback_watch(i, now); // a resume runs: no callback is stuck
    if (seen.seen_seq != seq) {
      seen.seen_seq = seq;
      seen.seen_ticks = now;
      if (!read_schedstat(w.m_tid.load(std::memory_order_relaxed), seen.cpu0, seen.wait0)) {
        seen.cpu0 = seen.wait0 = -1;
      }
      seen.steal0 = read_steal_ns();
    }
    const std::int64_t elapsed = now > start ? to_ns(now - start, ns_per_tick) : 0;
    if (elapsed >= m_threshold_ns) {
      if (seen.reported_seq != seq) {
        seen.reported_seq = seq;
        report(i, running, seq, elapsed, seen);
      }
    } else {
      sleep_ns = look_again_by(sleep_ns, m_threshold_ns, elapsed);
    }
  }
  return sleep_ns;
}

void stall_watchdog::end_callback_watch(unsigned index, std::uint64_t now) {
  watched_worker& seen = m_watched[index];
  if (seen.cb_valid && seen.cb_reported) {
    // The stuck callback returned: its length as the watchdog's looks saw it.
    std::lock_guard<std::mutex> lock(m_ring_mutex);
    for (auto it = m_ring.rbegin(); it != m_ring.rend(); ++it) {
      if (it->worker == index && it->seq == seen.cb_report_id) {
        it->report.ended = true;
        it->report.total = std::chrono::nanoseconds(to_ns(now - seen.cb_first, m_rt.ns_per_tick()));
        break;
      }
    }
  }
  seen.cb_valid = false;
  seen.cb_reported = false;
}

void stall_watchdog::scan_callback(unsigned index, std::uint64_t seq, std::uint64_t now,
                                   std::int64_t& sleep_ns) {
  worker& w = m_rt.at(index);
  watched_worker& seen = m_watched[index];
  const std::uint64_t polls = w.m_polls.load(std::memory_order_acquire);
  const long tid = w.m_tid.load(std::memory_order_relaxed);
  const double ns_per_tick = m_rt.ns_per_tick();
  if (tid == 0 || !seen.cb_valid || seen.cb_seq != seq || seen.cb_polls != polls) {
    // Not driven by any thread (worker 0 outside block_on), or it moved on: start over.
    end_callback_watch(index, now);
    seen.cb_valid = tid != 0;
    seen.cb_seq = seq;
    seen.cb_polls = polls;
    seen.cb_first = now;
    seen.cb_base = 0;
    seen.cb_reported = false;
    return;
  }
  if (seen.cb_reported) {
    return; // once per stuck callback
  }
  if (seen.cb_base == 0) {
    // The second look at the same state: the baseline of its CPU time.
    if (!read_schedstat(tid, seen.cb_cpu0, seen.cb_wait0)) {
      seen.cb_cpu0 = seen.cb_wait0 = -1;
    }
    seen.cb_steal0 = read_steal_ns();
    seen.cb_base = now;
  }
  const std::int64_t elapsed = to_ns(now - seen.cb_first, ns_per_tick);
  if (elapsed < m_threshold_ns) {
    sleep_ns = look_again_by(sleep_ns, m_threshold_ns, elapsed);
    return;
  }
  std::int64_t cpu1 = -1;
  std::int64_t wait1 = -1;
  const bool known = seen.cb_cpu0 >= 0 && read_schedstat(tid, cpu1, wait1);
  if ((polls & 1) != 0) {
    // In the poll phase: waiting in the poller, unless the thread was on a CPU (or waiting for
    // one) most of the time since the baseline: then an I/O callback is running.
    const std::int64_t watched = to_ns(now - seen.cb_base, ns_per_tick);
    const bool busy =
        known && watched > 0 && (cpu1 - seen.cb_cpu0 + wait1 - seen.cb_wait0) * 2 > watched;
    if (!busy) {
      seen.cb_first = now; // idle: judge again a threshold from now
      seen.cb_base = now;
      seen.cb_cpu0 = known ? cpu1 : -1;
      seen.cb_wait0 = known ? wait1 : -1;
      // No steal baseline here: one more /proc read every look while idle, for a report that
      // needs the thread busy on a CPU (never a stall the host's steal explains).
      seen.cb_steal0 = -1;
      return;
    }
  }
  seen.cb_reported = true;
  report_callback(index, elapsed, seen, known ? cpu1 : -1, wait1, now);
}

void stall_watchdog::report_callback(unsigned index, std::int64_t elapsed_ns,
                                     const watched_worker& seen, std::int64_t cpu1,
                                     std::int64_t wait1, std::uint64_t now) {
  worker& w = m_rt.at(index);
  diag::stall_report r;
  r.worker = index;
  r.in_callback = true;
  r.in_poll_phase = (seen.cb_polls & 1) != 0;
  r.duration = std::chrono::nanoseconds(elapsed_ns);
  if (cpu1 >= 0) {
    r.watched = std::chrono::nanoseconds(to_ns(now - seen.cb_base, m_rt.ns_per_tick()));
    r.on_cpu = std::chrono::nanoseconds(std::max<std::int64_t>(cpu1 - seen.cb_cpu0, 0));
    r.runqueue_wait = std::chrono::nanoseconds(std::max<std::int64_t>(wait1 - seen.cb_wait0, 0));
    r.steal = steal_since(seen.cb_steal0);
  }
  const long tid = w.m_tid.load(std::memory_order_relaxed);
  r.thread_state = read_thread_state(tid);
  if (r.thread_state != 0 && r.thread_state != 'R') {
    read_blocked_in(tid, r.wchan, r.syscall);
  }
  const auto same = [&] {
    return w.m_progress.load(std::memory_order_acquire) == seen.cb_seq &&
           w.m_polls.load(std::memory_order_acquire) == seen.cb_polls &&
           w.m_running.load(std::memory_order_acquire) == nullptr;
  };
  if (m_rt.m_options.stall_backtrace) {
    r.backtrace = capture(tid, r.backtrace_note);
    if (!r.backtrace.empty() && !same()) {
      r.backtrace.clear();
      r.backtrace_note = "no backtrace: the stall ended before the stack was taken";
    }
  } else {
    r.backtrace_note = "no backtrace: runtime_options::stall_backtrace is off";
  }
  w.m_stats.stalls.m_v.fetch_add(1, std::memory_order_relaxed);
  // A key no resume has: the top bit set, then the worker's loop state.
  m_watched[index].cb_report_id = (std::uint64_t{1} << 63) | seen.cb_polls;
  publish(r, index, m_watched[index].cb_report_id);
}

void stall_watchdog::report(unsigned index, void* running, std::uint64_t seq,
                            std::int64_t elapsed_ns, const watched_worker& seen) {
  worker& w = m_rt.at(index);
  diag::stall_report r;
  bool found = false;
  // Only a record in the live list is alive: read it under the list's lock, and only if the
  // worker still runs the same resume.
  w.for_each_live([&](task_record* t) {
    if (found || t != running || w.m_running.load(std::memory_order_acquire) != t ||
        w.m_progress.load(std::memory_order_acquire) != seq) {
      return;
    }
    found = true;
    r.task_id = t->m_id;
    r.task_name = t->m_name.view();
    r.spawn_site = t->m_spawn_site;
    r.resumed_from_file = t->m_wait_file.load(std::memory_order_relaxed);
    r.resumed_from_line = t->m_wait_line.load(std::memory_order_relaxed);
  });
  if (!found) {
    return; // it ended meanwhile: counted in stats().stalls, not reported
  }
  r.worker = index;
  r.duration = std::chrono::nanoseconds(elapsed_ns);
  const long tid = w.m_tid.load(std::memory_order_relaxed);
  std::int64_t cpu1 = 0;
  std::int64_t wait1 = 0;
  if (seen.cpu0 >= 0 && read_schedstat(tid, cpu1, wait1)) {
    r.watched = std::chrono::nanoseconds(to_ns(ticks() - seen.seen_ticks, m_rt.ns_per_tick()));
    r.on_cpu = std::chrono::nanoseconds(std::max<std::int64_t>(cpu1 - seen.cpu0, 0));
    r.runqueue_wait = std::chrono::nanoseconds(std::max<std::int64_t>(wait1 - seen.wait0, 0));
    r.steal = steal_since(seen.steal0);
  }
  // Before the backtrace: its signal briefly wakes a sleeping thread.
  r.thread_state = read_thread_state(tid);
  if (r.thread_state != 0 && r.thread_state != 'R') {
    read_blocked_in(tid, r.wchan, r.syscall);
  }
  if (m_rt.m_options.stall_backtrace) {
    r.backtrace = capture(tid, r.backtrace_note);
    if (!r.backtrace.empty() && w.m_progress.load(std::memory_order_acquire) != seq) {
      r.backtrace.clear();
      r.backtrace_note = "no backtrace: the stall ended before the stack was taken";
    }
  } else {
    r.backtrace_note = "no backtrace: runtime_options::stall_backtrace is off";
  }
  {
    std::lock_guard<std::mutex> lock(m_ring_mutex);
    if (m_ended[index].seq == seq) {
      r.ended = true;
      r.total = std::chrono::nanoseconds(m_ended[index].ns);
    }
  }
  publish(r, index, seq);
}

void stall_watchdog::publish(diag::stall_report& r, unsigned index, std::uint64_t key) {
  {
    std::lock_guard<std::mutex> lock(m_ring_mutex);
    r.sequence = ++m_reports;
    m_ring.push_back({r, index, key});
    if (m_ring.size() > ring_capacity) {
      m_ring.pop_front();
    }
  }
  if (m_rt.m_options.on_stall) {
    try {
      m_rt.m_options.on_stall(r);
    } catch (...) {
    }
  }
}

void stall_watchdog::dump() noexcept {
  try {
    if (m_dump_format == dump_format::json) {
      // The console's snapshot, the same serializer: the detectors' two reads and the handle
      // census take a few hundred milliseconds of this thread.
      std::string doc = snapshot_json(m_rt, diag::snapshot_options{}, nullptr, nullptr) + "\n";
      std::fwrite(doc.data(), 1, doc.size(), stderr);
      std::fflush(stderr);
      return;
    }
    handle_census census(m_rt);
    census.ask();
    const handle_census::result handles =
        census.collect(std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
    const runtime_stats s = m_rt.stats();
    std::string text =
        "zokio: SIGQUIT: runtime '" + m_rt.m_options.name + "', " + std::to_string(m_rt.size()) +
        " worker(s); stalls " + std::to_string(s.stalls) + ", deadlocks " +
        std::to_string(s.deadlocks_detected) + ", lost wake-ups " + std::to_string(s.lost_wakeups) +
        ", handles active " + std::to_string(s.handles_active) + "\n";
    text += format_handles(handles);
    std::vector<diag::task_info> tasks = collect_tasks(m_rt);
    drop_census_tasks(tasks);
    text += diag::format_task_dump(tasks);
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  } catch (...) {
    std::fputs("zokio: SIGQUIT: out of memory for the task dump\n", stderr);
  }
}

void stall_watchdog::resume_ended(unsigned worker, std::uint64_t seq, std::int64_t ns) noexcept {
  std::lock_guard<std::mutex> lock(m_ring_mutex);
  m_ended[worker] = ended_resume{seq, ns};
  for (auto it = m_ring.rbegin(); it != m_ring.rend(); ++it) {
    if (it->worker == worker && it->seq == seq) {
      it->report.ended = true;
      it->report.total = std::chrono::nanoseconds(ns);
      break;
    }
  }
}

std::vector<diag::stall_report> stall_watchdog::recent() const {
  std::lock_guard<std::mutex> lock(m_ring_mutex);
  std::vector<diag::stall_report> out;
  out.reserve(m_ring.size());
  for (const ring_entry& e : m_ring) {
    out.push_back(e.report);
  }
  return out;
}

} // namespace detail

namespace diag {

namespace testing {

namespace {

struct loop_callback {
  void (*fn)(void*);
  void* arg;
};

template <typename Handle>
void run_and_close(Handle* h) noexcept {
  auto* cb = static_cast<loop_callback*>(h->data);
  cb->fn(cb->arg);
  delete cb;
  uv_close(reinterpret_cast<uv_handle_t*>(h),
           [](uv_handle_t* x) { delete reinterpret_cast<Handle*>(x); });
}

} // namespace

void run_in_loop_callback(void (*fn)(void*), void* arg, bool in_poll_phase) {
  if (detail::t_current == nullptr) {
    detail::throw_no_runtime("zokio::diag::testing::run_in_loop_callback");
  }
  auto* w = static_cast<detail::worker*>(detail::t_worker);
  auto cb = std::make_unique<loop_callback>(loop_callback{fn, arg});
  if (in_poll_phase) {
    auto* a = new uv_async_t;
    uv_async_init(w->loop(), a, [](uv_async_t* h) { run_and_close(h); });
    a->data = cb.release();
    uv_async_send(a); // its callback runs in the next poll phase, as an I/O callback
  } else {
    auto* t = new uv_timer_t;
    uv_timer_init(w->loop(), t);
    t->data = cb.release();
    uv_timer_start(
        t, [](uv_timer_t* h) { run_and_close(h); }, 0, 0);
  }
}

} // namespace testing

std::vector<stall_report> recent_stalls(const runtime& rt) {
  detail::runtime_impl& impl = detail::impl_of(rt);
  return impl.m_stall ? impl.m_stall->recent() : std::vector<stall_report>{};
}

std::string format_stall(const stall_report& r) {
  const auto ms = [](std::chrono::nanoseconds d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(d.count()) / 1e6);
    return std::string(buf);
  };
  std::ostringstream os;
  if (r.in_callback) {
    os << "stall: in a libuv callback on worker " << r.worker << " ("
       << (r.in_poll_phase ? "an I/O callback of the poll phase"
                           : "outside the poll phase: a timer, check or close callback, or the "
                             "worker between loop phases")
       << "), no task running, no progress for " << ms(r.duration);
    if (r.ended) {
      os << " (about " << ms(r.total) << " in all)";
    }
  } else {
    os << "stall: task " << r.task_id;
    if (!r.task_name.empty()) {
      os << " '" << r.task_name << "'";
    }
    os << " on worker " << r.worker << " ran " << ms(r.duration) << " without yielding";
    if (r.ended) {
      os << " (" << ms(r.total) << " in all)";
    }
    os << "; spawned at " << r.spawn_site.file << ":" << r.spawn_site.line;
  }
  if (r.resumed_from_line != 0) {
    os << "; resumed from " << r.resumed_from_file << ":" << r.resumed_from_line;
  }
  if (r.watched.count() > 0) {
    os << "; of " << ms(r.watched) << " watched: " << ms(r.on_cpu) << " on CPU, "
       << ms(r.runqueue_wait) << " waiting for a CPU";
    if (r.steal.count() > 0) {
      os << ", " << ms(r.steal) << " stolen by the host";
    }
    if (r.preempted()) {
      os << (r.runqueue_wait * 2 > r.watched
                 ? " (preempted: the machine was overloaded)"
                 : " (preempted: the virtual machine's host did not run its CPU)");
    }
  }
  if (r.blocked()) {
    os << "; blocked (off-CPU)";
    if (!r.syscall.empty()) {
      os << " in " << r.syscall;
    }
    if (!r.wchan.empty()) {
      os << " (kernel: " << r.wchan << ")";
    }
  } else if (r.thread_state != 0 && !r.preempted()) {
    os << (r.on_cpu_busy() ? "; on CPU (busy)"
                           : "; neither on a CPU nor blocked for most of it (undetermined)");
  }
  os << "\n";
  if (r.backtrace.empty()) {
    os << "  " << r.backtrace_note << "\n";
  }
  for (std::size_t i = 0; i < r.backtrace.size(); ++i) {
    os << "  #" << i << " " << r.backtrace[i] << "\n";
  }
  return os.str();
}

} // namespace diag
} // namespace zokio
