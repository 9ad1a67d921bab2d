#pragma once

#include <zokio/detail/biased_lock.hpp> // asymmetric_fences, heavy_fence
#include <zokio/detail/spinlock.hpp>

#include <atomic>

// A lock biased toward one owner thread: the owner's sections (a worker linking and unlinking
// the records of the tasks it spawns and finishes, twice a task) cost plain stores and loads,
// and the rare other lockers (task dumps, the stall watchdog's report, the lost wake-up finder)
// pay a membarrier() system call instead. It is Dekker's protocol with asymmetric fences:
//
//   owner:  in = true;  compiler fence;        if (others) back off;  ...  in = false (release)
//   other:  others = true;  membarrier();      wait while (in);       ...  others = false
//
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) runs a full memory barrier on every thread of the
// process before it returns, so either the owner's `in` is visible to the other's load, or the
// other's `others` is visible to the owner's load: never neither. Other lockers are serialized
// among themselves by a spinlock. Where membarrier is unavailable (a kernel before 4.14, a
// seccomp filter) or under ThreadSanitizer (which cannot see the system call's ordering), the
// owner takes that spinlock too: a plain lock, as before.

namespace zokio::detail {

class owner_biased_lock {
public:
  owner_biased_lock() noexcept : m_biased(asymmetric_fences()) {}

  /// The owner thread only.
  void owner_lock() noexcept {
    if (!m_biased) {
      m_lock.lock();
      return;
    }
    for (;;) {
      m_owner_in.store(true, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst); // the other side's fence is heavy
      if (!m_others.load(std::memory_order_acquire)) [[likely]] {
        return;
      }
      m_owner_in.store(false, std::memory_order_release);
      wait_while(m_others);
    }
  }
  void owner_unlock() noexcept {
    if (!m_biased) {
      m_lock.unlock();
      return;
    }
    m_owner_in.store(false, std::memory_order_release);
  }

  /// Any thread (the owner too, outside its own sections).
  void lock() noexcept {
    m_lock.lock();
    if (m_biased) {
      m_others.store(true, std::memory_order_relaxed);
      heavy_fence();
      wait_while(m_owner_in);
    }
  }
  void unlock() noexcept {
    if (m_biased) {
      m_others.store(false, std::memory_order_release);
    }
    m_lock.unlock();
  }

private:
  static void wait_while(const std::atomic<bool>& flag) noexcept {
    spin_while_set(flag);
    std::atomic_thread_fence(std::memory_order_acquire); // what the clearing side wrote before
  }

  const bool m_biased;
  std::atomic<bool> m_owner_in{false};
  std::atomic<bool> m_others{false};
  spinlock m_lock;
};

} // namespace zokio::detail
