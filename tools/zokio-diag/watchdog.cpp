#include "watchdog.hpp"

#include <zokio/diag/task_dump.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <pthread.h>
#include <signal.h>

namespace zokio::diag_tool {

watchdog::watchdog(std::chrono::seconds limit, expiry_fn on_expiry)
    : m_limit(limit), m_on_expiry(std::move(on_expiry)), m_thread([this] { run(); }) {}

watchdog::~watchdog() {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_stop = true;
  }
  m_cv.notify_all();
  m_thread.join();
}

void watchdog::arm(std::string name) {
  if (m_on_progress) {
    m_on_progress(name, true);
  }
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_name = std::move(name);
    m_started = std::chrono::steady_clock::now();
    m_armed = true;
  }
  m_cv.notify_all();
}

void watchdog::disarm() {
  std::string name;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_armed = false;
    name = m_name;
  }
  m_cv.notify_all();
  if (m_on_progress) {
    m_on_progress(name, false);
  }
}

void watchdog::watch(const zokio::runtime* rt) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_rt = rt;
}

void watchdog::run() {
  std::unique_lock<std::mutex> lock(m_mutex);
  while (!m_stop) {
    const bool scenario = m_armed && !m_parent_deadline;
    const bool check = m_check_limit.count() > 0;
    if (!scenario && !check) {
      m_cv.wait(lock);
      continue;
    }
    const auto started = m_started;
    const auto check_started = m_check_started;
    const auto check_limit = m_check_limit;
    auto deadline = std::chrono::steady_clock::time_point::max();
    if (scenario) {
      deadline = started + m_limit;
    }
    if (check) {
      deadline = std::min(deadline, check_started + check_limit);
    }
    // Woken early by disarm, a new arm, a new check bound or stop; the deadlines are re-read.
    if (m_cv.wait_until(lock, deadline) != std::cv_status::timeout) {
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (check && m_check_limit == check_limit && m_check_started == check_started &&
        now >= check_started + check_limit) {
      expire(m_armed ? now - m_started : std::chrono::nanoseconds(0), check_limit,
             "the check (--timeout)");
    }
    if (scenario && m_armed && !m_parent_deadline && m_started == started &&
        now >= started + m_limit) {
      expire(now - started, m_limit, nullptr);
    }
  }
}

void watchdog::bound_check(std::chrono::seconds limit) {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_check_limit = limit;
    m_check_started = std::chrono::steady_clock::now();
  }
  m_cv.notify_all();
}

void watchdog::deadline_from_parent() {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_parent_deadline = true;
  }
  m_cv.notify_all();
}

void watchdog::hang_now() {
  std::unique_lock<std::mutex> lock(m_mutex); // held until the exit, as in expire
  const auto elapsed =
      m_armed ? std::chrono::steady_clock::now() - m_started : std::chrono::nanoseconds(0);
  expire(elapsed, m_limit, nullptr);
}

void watchdog::expire(std::chrono::nanoseconds elapsed, std::chrono::seconds limit,
                      const char* what) {
  // m_mutex is held: the watched runtime stays alive while it is dumped.
  m_expired_limit = limit;
  std::fprintf(stderr, "zokio-diag: watchdog: %s%s%s did not finish within %lld s; task dump:\n",
               what != nullptr ? what : "'", what != nullptr ? "" : m_name.c_str(),
               what != nullptr ? "" : "'", static_cast<long long>(limit.count()));
  if (m_rt != nullptr) {
    const std::string dump = zokio::diag::format_task_dump(zokio::diag::task_dump(*m_rt));
    std::fputs(dump.c_str(), stderr);
  } else {
    std::fputs("  (no runtime is running)\n", stderr);
  }
  finish(elapsed, verdict::hang);
}

void watchdog::interrupt(int signo) {
  std::unique_lock<std::mutex> lock(m_mutex); // held until the exit, as in expire
  const auto elapsed =
      m_armed ? std::chrono::steady_clock::now() - m_started : std::chrono::nanoseconds(0);
  std::fprintf(stderr, "zokio-diag: interrupted by %s%s%s%s\n",
               signo == SIGINT ? "SIGINT" : "SIGTERM", m_armed ? " during '" : "",
               m_armed ? m_name.c_str() : "", m_armed ? "'" : "");
  if (!m_armed) {
    m_name.clear();
  }
  finish(elapsed, verdict::interrupted);
}

void watchdog::finish(std::chrono::nanoseconds elapsed, verdict why) {
  if (m_on_expiry) {
    try {
      m_on_expiry(m_name, m_rt, elapsed, why);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "zokio-diag: writing the report failed: %s\n", e.what());
    }
  }
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(exit_code(why));
}

namespace {

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR2);
  return set;
}

} // namespace

void block_stop_signals() {
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

stop_signals::stop_signals(watchdog& wd)
    : m_watchdog(wd), m_thread([this, set = stop_set()] {
        for (;;) {
          int signo = 0;
          if (sigwait(&set, &signo) != 0) {
            continue;
          }
          if (m_stop.load()) {
            return;
          }
          if (signo == SIGUSR2) {
            m_watchdog.hang_now();
          }
          m_watchdog.interrupt(signo);
        }
      }) {}

stop_signals::~stop_signals() {
  stop();
}

void stop_signals::stop() {
  if (!m_thread.joinable()) {
    return;
  }
  m_stop.store(true);
  // A signal of its own wakes the waiting thread; it sees m_stop and returns. A stop signal that
  // arrived just before is handled first: the run then ends as interrupted.
  pthread_kill(m_thread.native_handle(), SIGTERM);
  m_thread.join();
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

} // namespace zokio::diag_tool
