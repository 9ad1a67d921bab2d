#pragma once

#include <zokio/detail/spinlock.hpp>
#include <zokio/detail/worker_core.hpp>

#include <atomic>

namespace zokio::detail {

/// True when membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) is registered for this process (the
/// first call registers it). False without it (a kernel before 4.14, a seccomp filter) and under
/// ThreadSanitizer, which cannot see the system call's ordering.
bool asymmetric_fences() noexcept;
/// A full memory barrier on every running thread of the process (membarrier); only when
/// asymmetric_fences().
void heavy_fence() noexcept;

/// The state of a basic_worker_biased_lock and its out-of-line revocation.
class biased_lock_state {
protected:
  explicit biased_lock_state(const worker_core* owner) noexcept : m_owner(owner) {}
  biased_lock_state(const biased_lock_state&) = delete;
  biased_lock_state& operator=(const biased_lock_state&) = delete;
  ~biased_lock_state() = default;

  /// Takes m_lock and, the first time, revokes the bias (out of line: once in a lock's life).
  void revoke() noexcept;

  const worker_core* const m_owner;
  std::atomic<bool> m_owner_in{false};
  std::atomic<bool> m_revoked{false};
  spinlock m_lock;
};

/// A spinlock biased to the worker that made it, until any other thread takes it.
///
/// A channel made in a task is often used by tasks of that one worker only (a producer and a
/// consumer on one worker, a current_thread-style runtime). While that lasts, the worker's
/// sections cost plain stores and loads instead of a locked exchange, which also waits for every
/// store before it (mpsc_ping 25% faster: docs/decisions.md, "A channel's lock is biased to the
/// worker that made it").
///
/// The first lock from any other thread revokes the bias, once and for good: it sets `revoked`,
/// runs membarrier() (a full barrier on every thread of the process) and waits until the owner
/// is out of a section it had begun. Dekker's argument, with the fence made heavy on the rare
/// side: either the owner's `in` store is visible to the revoker's wait, or the revoker's
/// `revoked` store is visible to the owner's check; never neither. From then on every thread,
/// the owner too, takes the spinlock, as if the lock had never been biased: a channel used
/// across threads pays one system call in its life.
///
///   owner:   in = true; compiler fence; if (!revoked) enter biased; else in = false, spinlock
///   other:   if (!revoked) { spinlock; revoked = true; membarrier(); wait while (in) } else
///   spinlock
///
/// Without asymmetric fences (or when made outside a worker) it is the plain spinlock.
///
/// `Hooks::owner_checked()` runs on the owner's path between the first look at `revoked` and
/// the `in` store: empty in the runtime (worker_biased_lock); a test stops the owner there to
/// make a revocation land in that window every time.
template <class Hooks>
class basic_worker_biased_lock : private biased_lock_state {
public:
  /// `owner`: the worker whose thread gets the biased path (normally t_worker), or null.
  explicit basic_worker_biased_lock(const worker_core* owner) noexcept
      : biased_lock_state(owner != nullptr && asymmetric_fences() ? owner : nullptr) {}

  [[gnu::always_inline]] void lock() noexcept {
    // Once revoked (or never biased), straight to the spinlock: one relaxed load more than it.
    if (m_owner != nullptr && !m_revoked.load(std::memory_order_relaxed)) {
      if (t_worker == m_owner) {
        Hooks::owner_checked();
        m_owner_in.store(true, std::memory_order_relaxed);
        std::atomic_signal_fence(std::memory_order_seq_cst); // the revoker's fence is heavy
        if (!m_revoked.load(std::memory_order_relaxed)) [[likely]] {
          return; // only this thread ever entered: nothing of another's to acquire
        }
        m_owner_in.store(false, std::memory_order_release);
      } else {
        revoke(); // returns holding m_lock
        return;
      }
    }
    m_lock.lock();
  }

  [[gnu::always_inline]] void unlock() noexcept {
    // m_owner_in is written by the owner's thread alone: on that thread it says exactly whether
    // this section was entered biased.
    if (m_owner != nullptr && t_worker == m_owner && m_owner_in.load(std::memory_order_relaxed)) {
      m_owner_in.store(false, std::memory_order_release);
      return;
    }
    m_lock.unlock();
  }

  /// True while the owner still takes the biased path (a snapshot; for tests).
  bool biased() const noexcept {
    return m_owner != nullptr && !m_revoked.load(std::memory_order_acquire);
  }
};

struct no_biased_lock_hooks {
  static void owner_checked() noexcept {}
};

using worker_biased_lock = basic_worker_biased_lock<no_biased_lock_hooks>;

/// std::lock_guard for worker_biased_lock, inlined wherever it is used: GCC 12 kept
/// std::lock_guard's constructor and destructor out of line in the channel's operations, a call
/// and a return around each biased section (docs/decisions.md, "A channel's lock guard is
/// inlined").
class [[nodiscard]] biased_lock_guard {
public:
  [[gnu::always_inline]] explicit biased_lock_guard(worker_biased_lock& lock) noexcept
      : m_lock(lock) {
    m_lock.lock();
  }
  [[gnu::always_inline]] ~biased_lock_guard() { m_lock.unlock(); }
  biased_lock_guard(const biased_lock_guard&) = delete;
  biased_lock_guard& operator=(const biased_lock_guard&) = delete;

private:
  worker_biased_lock& m_lock;
};

} // namespace zokio::detail
