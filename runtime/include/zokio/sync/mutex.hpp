#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/detail/waiter_list.hpp>
#include <zokio/util/site.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

// An async mutex shared by tasks on any worker, FIFO-fair by handoff.
//
// Shared state:
// - `m_state` (atomic) is unlocked, locked, or contended (locked with waiters queued). The
//   uncontended lock and unlock are one compare-exchange each and take no std::mutex. Leaving
//   the contended state happens only under `m_waiters_mutex`.
// - `m_waiters_mutex` guards the waiter list (head, tail, and each waiter's links and
//   `m_owner`). It is never held across a suspension.
// - `m_holder` (relaxed atomic) is the id of the task holding the mutex, 0 if none or not known:
//   diagnostics only.
//
// Waiters live in their suspended frames. A waiter is unlinked under the lock either by an unlock
// that hands it the mutex, or by the cancellation of its task (`withdraw`), never both.

namespace zokio {

class mutex;
class mutex_guard;

namespace detail {

class mutex_lock_awaiter final : public counted_awaiter<mutex_lock_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::mutex;

  mutex_lock_awaiter(zokio::mutex& m, const site& where) noexcept
      : counted_awaiter<mutex_lock_awaiter>(where), m_mutex(m) {}
  /// Movable until awaited (timeout and select move an operation into a task of their own).
  mutex_lock_awaiter(mutex_lock_awaiter&& o) noexcept
      : counted_awaiter<mutex_lock_awaiter>(o), m_mutex(o.m_mutex) {}
  mutex_lock_awaiter& operator=(const mutex_lock_awaiter&) = delete;

  bool ready() noexcept;
  bool arm() noexcept;
  bool withdraw() noexcept;
  mutex_guard take();

  // Under the mutex's m_waiters_mutex.
  mutex_lock_awaiter* m_prev = nullptr;
  mutex_lock_awaiter* m_next = nullptr;
  bool m_queued = false; // it waited in the list: its wait-for edge is to be cleared
  /// Set once this await owns the mutex: by ready() or arm() taking it, or by a handoff.
  bool m_owner = false;

private:
  zokio::mutex& m_mutex;
};

} // namespace detail

/// Ownership of a locked `zokio::mutex`; unlocks it when destroyed. Move-only. An empty guard
/// (default-constructed, moved from, unlocked, or a failed `try_lock()`) owns nothing.
///
/// Thread-safety: a guard is one object used by one task or thread at a time. It may be moved to,
/// and unlocked from, another task or a plain thread; the mutex's holder recorded for
/// diagnostics stays the task that locked it.
class [[nodiscard]] mutex_guard {
public:
  mutex_guard() noexcept = default;
  mutex_guard(mutex_guard&& o) noexcept : m_mutex(std::exchange(o.m_mutex, nullptr)) {}
  mutex_guard& operator=(mutex_guard&& o) noexcept {
    if (this != &o) {
      unlock();
      m_mutex = std::exchange(o.m_mutex, nullptr);
    }
    return *this;
  }
  mutex_guard(const mutex_guard&) = delete;
  mutex_guard& operator=(const mutex_guard&) = delete;
  ~mutex_guard() { unlock(); }

  /// Unlocks now (the first waiter, if any, takes the mutex). No effect on an empty guard.
  void unlock() noexcept;
  bool owns_lock() const noexcept { return m_mutex != nullptr; }
  explicit operator bool() const noexcept { return owns_lock(); }
  /// The mutex this guard locks, or nullptr.
  zokio::mutex* mutex() const noexcept { return m_mutex; }

private:
  friend class zokio::mutex;
  friend class detail::mutex_lock_awaiter;
  explicit mutex_guard(zokio::mutex* m) noexcept : m_mutex(m) {}

  zokio::mutex* m_mutex = nullptr;
};

/// A mutual-exclusion lock for tasks: `auto g = co_await m.lock();` suspends the task, never the
/// worker, while another task holds it. The guard may be held across awaits.
///
/// Fairness: FIFO. An unlock with waiters hands the mutex directly to the first one, and
/// `try_lock()` fails while anybody waits, so a task that keeps relocking cannot starve waiters.
///
/// Thread-safety: `lock()` is awaited from tasks on any worker; `try_lock()` and unlocking (the
/// guard) work from any thread, also one outside the runtime.
///
/// Lifetime: the mutex must outlive every guard and every waiting `lock()`.
///
/// Diagnostics: a waiting task is suspended on `wait_kind::mutex`, and its `m_wait_target` names
/// the task it waits for: the holder for the first waiter, the waiter ahead of it for the others
/// (FIFO: that task takes and releases the mutex first). A lock cycle is therefore a wait-for
/// cycle, and a handoff updates two edges, not one per waiter: the new owner's is cleared at once
/// (it waits for nobody, even before its wake is delivered) and the next waiter already names it.
class mutex {
public:
  mutex() noexcept = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  /// Waits for the mutex and returns the guard that owns it.
  ///
  /// Cancellation: a waiting lock of a cancelled task is removed from the queue and throws
  /// `operation_cancelled`, and the mutex is not taken. If an unlock handed the mutex over first,
  /// the await returns the guard as usual (nothing is lost); the task's next await throws.
  detail::mutex_lock_awaiter lock(const char* file = __builtin_FILE(),
                                  std::uint32_t line = __builtin_LINE()) noexcept {
    return lock(site{file, "", line});
  }
  /// As above, recording `where` as the await's site.
  detail::mutex_lock_awaiter lock(const site& where) noexcept {
    return detail::mutex_lock_awaiter(*this, where);
  }

  /// Takes the mutex if it is free and nobody waits; otherwise returns an empty guard.
  [[nodiscard]] mutex_guard try_lock() noexcept;

  /// A snapshot: true while some task or thread holds the mutex.
  bool is_locked() const noexcept {
    return m_state.load(std::memory_order_relaxed) != state_unlocked;
  }

private:
  friend class mutex_guard;
  friend class detail::mutex_lock_awaiter;

  static constexpr std::uint32_t state_unlocked = 0;
  static constexpr std::uint32_t state_locked = 1;
  static constexpr std::uint32_t state_contended = 2;

  bool try_acquire(std::uint64_t holder) noexcept {
    std::uint32_t expected = state_unlocked;
    if (m_state.compare_exchange_strong(expected, state_locked, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      m_holder.store(holder, std::memory_order_relaxed);
      return true;
    }
    return false;
  }
  void release() noexcept {
    m_holder.store(0, std::memory_order_relaxed);
    std::uint32_t expected = state_locked;
    if (!m_state.compare_exchange_strong(expected, state_unlocked, std::memory_order_release,
                                         std::memory_order_relaxed)) {
      release_contended();
    }
  }
  void release_contended() noexcept;

  std::atomic<std::uint32_t> m_state{state_unlocked};
  std::atomic<std::uint64_t> m_holder{0};
  std::mutex m_waiters_mutex;
  detail::waiter_list<detail::mutex_lock_awaiter> m_waiters;
};

inline void mutex_guard::unlock() noexcept {
  if (m_mutex != nullptr) {
    std::exchange(m_mutex, nullptr)->release();
  }
}

} // namespace zokio
