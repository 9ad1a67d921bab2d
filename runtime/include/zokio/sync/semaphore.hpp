#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/detail/waiter_list.hpp>
#include <zokio/util/site.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <utility>

// A counting semaphore shared by tasks on any worker, FIFO-fair by handoff.
//
// Shared state:
// - `m_state` (atomic) packs the available permits (`m_state >> 1`) and a "waiters queued" bit
//   (`m_state & 1`). While the bit is set no permit is available: every release then goes under
//   the lock and hands its permits to waiters first. Without waiters, acquiring and releasing
//   are one compare-exchange each and take no std::mutex. The bit is set and cleared only under
//   `m_waiters_mutex`.
// - `m_waiters_mutex` guards the waiter list and each waiter's links and `m_granted`. It is never
//   held across a suspension.
//
// Waiters live in their suspended frames. A waiter is unlinked under the lock either by a release
// that hands it a permit, or by the cancellation of its task (`withdraw`), never both.

namespace zokio {

class semaphore;
class semaphore_permit;

namespace detail {

class semaphore_acquire_awaiter final : public counted_awaiter<semaphore_acquire_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::semaphore;

  semaphore_acquire_awaiter(semaphore& s, const site& where) noexcept
      : counted_awaiter<semaphore_acquire_awaiter>(where), m_sem(s) {}
  /// Movable until awaited (timeout and select move an operation into a task of their own).
  semaphore_acquire_awaiter(semaphore_acquire_awaiter&& o) noexcept
      : counted_awaiter<semaphore_acquire_awaiter>(o), m_sem(o.m_sem) {}
  semaphore_acquire_awaiter& operator=(const semaphore_acquire_awaiter&) = delete;

  bool ready() noexcept;
  bool arm() noexcept;
  bool withdraw() noexcept;
  semaphore_permit take();

  // Under the semaphore's m_waiters_mutex.
  semaphore_acquire_awaiter* m_prev = nullptr;
  semaphore_acquire_awaiter* m_next = nullptr;
  /// Set once this await holds a permit: taken by ready() or arm(), or handed over by a release.
  bool m_granted = false;

private:
  semaphore& m_sem;
};

} // namespace detail

/// One permit of a `zokio::semaphore`, given back when destroyed. Move-only. An empty permit
/// (default-constructed, moved from, released, forgotten, or a failed `try_acquire()`) holds
/// nothing.
///
/// Thread-safety: one object used by one task or thread at a time; it may be moved to and
/// released from any task or thread.
class [[nodiscard]] semaphore_permit {
public:
  semaphore_permit() noexcept = default;
  semaphore_permit(semaphore_permit&& o) noexcept : m_sem(std::exchange(o.m_sem, nullptr)) {}
  semaphore_permit& operator=(semaphore_permit&& o) noexcept {
    if (this != &o) {
      release();
      m_sem = std::exchange(o.m_sem, nullptr);
    }
    return *this;
  }
  semaphore_permit(const semaphore_permit&) = delete;
  semaphore_permit& operator=(const semaphore_permit&) = delete;
  ~semaphore_permit() { release(); }

  /// Gives the permit back now (to the first waiter, if any). No effect on an empty permit.
  void release() noexcept;
  /// Drops the permit without giving it back: the semaphore has one permit fewer for good.
  void forget() noexcept { m_sem = nullptr; }
  bool valid() const noexcept { return m_sem != nullptr; }
  explicit operator bool() const noexcept { return valid(); }

private:
  friend class semaphore;
  friend class detail::semaphore_acquire_awaiter;
  explicit semaphore_permit(semaphore* s) noexcept : m_sem(s) {}

  semaphore* m_sem = nullptr;
};

/// A counting semaphore for tasks: at most `permits` holders at once. `auto p = co_await
/// s.acquire();` suspends the task, never the worker, until a permit is free.
///
/// Fairness: FIFO. A release with waiters hands its permit directly to the first one, and
/// `try_acquire()` fails while anybody waits.
///
/// Thread-safety: `acquire()` is awaited from tasks on any worker; `try_acquire()`,
/// `add_permits()`, `available()` and releasing a permit work from any thread, also one outside
/// the runtime.
///
/// Lifetime: the semaphore must outlive every permit and every waiting `acquire()`.
class semaphore {
public:
  /// The most permits a semaphore holds: 2^61 - 1, as Tokio's `Semaphore::MAX_PERMITS`. The
  /// count is packed with a flag into 64 bits, which leaves room for permits handed out and
  /// released beyond this bound, never for wrapping around.
  static constexpr std::size_t max_permits = std::size_t{0x1FFF'FFFF'FFFF'FFFF};

  /// Throws `std::length_error` above `max_permits`: a semaphore never holds fewer permits than
  /// it was given.
  explicit semaphore(std::size_t permits) : m_state(checked(permits) << 1) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  /// Waits for a permit.
  ///
  /// Cancellation: a waiting acquire of a cancelled task is removed from the queue and throws
  /// `operation_cancelled`; no permit is taken. If a release handed it a permit first, the await
  /// returns the permit as usual (nothing is lost); the task's next await throws.
  detail::semaphore_acquire_awaiter acquire(const char* file = __builtin_FILE(),
                                            std::uint32_t line = __builtin_LINE()) noexcept {
    return acquire(site{file, "", line});
  }
  /// As above, recording `where` as the await's site.
  detail::semaphore_acquire_awaiter acquire(const site& where) noexcept {
    return detail::semaphore_acquire_awaiter(*this, where);
  }

  /// Takes a permit if one is free and nobody waits; otherwise returns an empty permit.
  [[nodiscard]] semaphore_permit try_acquire() noexcept {
    return try_take() ? semaphore_permit(this) : semaphore_permit();
  }

  /// Adds `n` permits (waiters first, in FIFO order): the counterpart of `forget()`. Throws
  /// `std::length_error`, adding nothing, when more than `max_permits` would then be free.
  void add_permits(std::size_t n) {
    checked(n);
    std::uint64_t s = m_state.load(std::memory_order_relaxed);
    while ((s & waiters_bit) == 0) {
      if ((s >> 1) + n > max_permits) {
        throw_too_many();
      }
      if (m_state.compare_exchange_weak(s, s + static_cast<std::uint64_t>(n) * one_permit,
                                        std::memory_order_release, std::memory_order_relaxed)) {
        return;
      }
    }
    give_to_waiters(n); // no permit is free while tasks wait: n itself is in range
  }

  /// A snapshot of the permits free now (0 while tasks wait).
  std::size_t available() const noexcept {
    return static_cast<std::size_t>(m_state.load(std::memory_order_relaxed) >> 1);
  }

private:
  friend class semaphore_permit;
  friend class detail::semaphore_acquire_awaiter;

  static constexpr std::uint64_t waiters_bit = 1;
  static constexpr std::uint64_t one_permit = 2;

  [[noreturn]] static void throw_too_many();
  static std::uint64_t checked(std::size_t n) {
    if (n > max_permits) {
      throw_too_many();
    }
    return static_cast<std::uint64_t>(n);
  }

  bool try_take() noexcept {
    std::uint64_t s = m_state.load(std::memory_order_relaxed);
    while (s >= one_permit) { // the waiters bit implies no permit: it is never set here
      if (m_state.compare_exchange_weak(s, s - one_permit, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  void give(std::size_t n) noexcept {
    if (n == 0) {
      return;
    }
    std::uint64_t s = m_state.load(std::memory_order_relaxed);
    while ((s & waiters_bit) == 0) {
      if (m_state.compare_exchange_weak(s, s + static_cast<std::uint64_t>(n) * one_permit,
                                        std::memory_order_release, std::memory_order_relaxed)) {
        return;
      }
    }
    give_to_waiters(n);
  }
  void give_to_waiters(std::size_t n) noexcept;

  std::atomic<std::uint64_t> m_state;
  std::mutex m_waiters_mutex;
  detail::waiter_list<detail::semaphore_acquire_awaiter> m_waiters;
};

inline void semaphore_permit::release() noexcept {
  if (m_sem != nullptr) {
    std::exchange(m_sem, nullptr)->give(1);
  }
}

} // namespace zokio
