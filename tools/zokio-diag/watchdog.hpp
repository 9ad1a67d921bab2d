#pragma once

// A deadline for work that could hang, enforced from a thread of its own (outside every libuv
// loop, so a stuck loop cannot stop it).
//
// Threads: `arm`, `disarm` and `watch` are called by the thread running the checks; the watchdog
// thread waits on `m_cv` until the deadline. Everything shared is guarded by `m_mutex`. When the
// deadline passes, the watchdog thread holds `m_mutex` while it dumps the watched runtime, so the
// runtime cannot be unwatched (and then destroyed) under the dump.

#include <zokio/runtime/runtime.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace zokio::diag_tool {

class watchdog {
public:
  /// Called on the watchdog thread once the deadline has passed, after the task dump is printed
  /// and before the process exits with code 3: the work's name, the runtime being watched (or
  /// nullptr) and how long the work has run.
  using expiry_fn = std::function<void(const std::string& name, const zokio::runtime* rt,
                                       std::chrono::nanoseconds)>;

  watchdog(std::chrono::seconds limit, expiry_fn on_expiry);
  ~watchdog();
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

  /// Starts the deadline (`limit` from now) for the work called `name`.
  void arm(std::string name);
  /// Stops the deadline: the work finished in time.
  void disarm();
  /// The runtime whose task dump is printed if the deadline passes; nullptr for none. Call with
  /// nullptr before destroying it.
  void watch(const zokio::runtime* rt);

private:
  void run();
  [[noreturn]] void expire(std::chrono::nanoseconds elapsed);

  const std::chrono::seconds m_limit;
  const expiry_fn m_on_expiry;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_armed = false;
  bool m_stop = false;
  std::string m_name;
  std::chrono::steady_clock::time_point m_started;
  const zokio::runtime* m_rt = nullptr;
  std::thread m_thread; // last: started once the fields above exist
};

} // namespace zokio::diag_tool
