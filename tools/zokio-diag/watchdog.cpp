#include "watchdog.hpp"

#include <zokio/diag/task_dump.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

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
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_name = std::move(name);
    m_started = std::chrono::steady_clock::now();
    m_armed = true;
  }
  m_cv.notify_all();
}

void watchdog::disarm() {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_armed = false;
  }
  m_cv.notify_all();
}

void watchdog::watch(const zokio::runtime* rt) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_rt = rt;
}

void watchdog::run() {
  std::unique_lock<std::mutex> lock(m_mutex);
  while (!m_stop) {
    if (!m_armed) {
      m_cv.wait(lock);
      continue;
    }
    const auto started = m_started;
    const auto deadline = started + m_limit;
    // Woken early by disarm, a new arm or stop; the deadline is re-read each time.
    if (m_cv.wait_until(lock, deadline) == std::cv_status::timeout && m_armed &&
        m_started == started) {
      expire(std::chrono::steady_clock::now() - started);
    }
  }
}

void watchdog::expire(std::chrono::nanoseconds elapsed) {
  // m_mutex is held: the watched runtime stays alive while it is dumped.
  std::fprintf(stderr, "zokio-diag: watchdog: '%s' did not finish within %lld s; task dump:\n",
               m_name.c_str(), static_cast<long long>(m_limit.count()));
  if (m_rt != nullptr) {
    const std::string dump = zokio::diag::format_task_dump(zokio::diag::task_dump(*m_rt));
    std::fputs(dump.c_str(), stderr);
  } else {
    std::fputs("  (no runtime is running)\n", stderr);
  }
  if (m_on_expiry) {
    try {
      m_on_expiry(m_name, m_rt, elapsed);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "zokio-diag: watchdog: writing the report failed: %s\n", e.what());
    }
  }
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(3);
}

} // namespace zokio::diag_tool
