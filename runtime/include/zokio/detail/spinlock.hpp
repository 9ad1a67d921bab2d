#pragma once

#include <atomic>
#include <thread>

namespace zokio::detail {

/// Spins while `flag` is set: a read and a pause, after 64 of them a yield of the core, so that a
/// holder preempted on a busy machine gets the CPU back. Relaxed: a caller that needs what the
/// clearing thread wrote before adds its own acquire.
inline void spin_while_set(const std::atomic<bool>& flag) noexcept {
  // Exponential backoff between looks (1, 2, 4 ... 32 pauses): each look pulls the lock's line
  // to this core, which the holder's next lock must take back; looking less often lets the
  // holder run several sections in a row while the line stays in its cache.
  int pauses = 0;
  int gap = 1;
  while (flag.load(std::memory_order_relaxed)) {
    if (pauses < 64) {
      for (int i = 0; i < gap; ++i) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      pauses += gap;
      gap = gap < 32 ? gap * 2 : gap;
    } else {
      std::this_thread::yield();
    }
  }
}

/// A test-and-test-and-set lock for critical sections of a few dozen instructions that never
/// suspend or block (the channel's queue, waiter lists, a worker's live list). Uncontended, lock
/// is one exchange and unlock a plain release store, where std::mutex pays a locked instruction
/// and a library call on each side. A waiter spins on a read, then yields its core, so a holder
/// preempted on a busy machine gets the CPU back.
class spinlock {
public:
  void lock() noexcept {
    while (m_flag.exchange(true, std::memory_order_acquire)) {
      spin_while_set(m_flag);
    }
  }
  bool try_lock() noexcept {
    return !m_flag.load(std::memory_order_relaxed) &&
           !m_flag.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { m_flag.store(false, std::memory_order_release); }

private:
  std::atomic<bool> m_flag{false};
};

} // namespace zokio::detail
