#include <zokio/sync/mutex.hpp>

// The handoff invariant: nothing is ever lost when cancellation races with an unlock.
//
// - A waiter is in the list exactly while nobody has claimed it. Unlinking happens only under
//   m_waiters_mutex, by release_contended() (which then claims the waiter and makes it the
//   owner) or by withdraw() (cancellation, which claims after it).
// - release_contended() claims the waiter it unlinked and, only if the claim succeeds, sets
//   `m_owner` and names it holder before unlocking m_waiters_mutex; it wakes the task afterwards.
//   Under the wake protocol the claim cannot fail (cancellation withdraws under the lock before it
//   claims, so it finds the waiter gone), but if it ever did, the mutex goes to the next waiter,
//   or back to unlocked when none is left: the mutex always has exactly one owner or none.
// - withdraw() that finds the waiter linked removes it, the task is resumed cancelled, and
//   `m_owner` was never set. withdraw() that finds it unlinked returns false: a handoff has
//   claimed it, and take() returns the guard even though cancellation was requested. The task's
//   guard unlocks the mutex as the task unwinds at its next await.
// - While waiters are queued, m_state is contended and the fast paths fail, so nobody barges in
//   between an unlock and the waiter it hands to.

namespace zokio {

namespace detail {

namespace {

std::uint64_t id_of(const task_record* t) noexcept {
  return t != nullptr ? t->m_id : 0;
}

} // namespace

bool mutex_lock_awaiter::ready() noexcept {
  if (!m_owner && m_mutex.try_acquire(id_of(m_task))) {
    m_owner = true;
  }
  return m_owner;
}

bool mutex_lock_awaiter::arm() noexcept {
  zokio::mutex& m = m_mutex;
  std::lock_guard<std::mutex> lock(m.m_waiters_mutex);
  std::uint32_t s = m.m_state.load(std::memory_order_relaxed);
  for (;;) {
    if (s == zokio::mutex::state_unlocked) {
      if (m.m_state.compare_exchange_weak(s, zokio::mutex::state_locked, std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
        m.m_holder.store(id_of(m_task), std::memory_order_relaxed);
        m_owner = true;
        return false;
      }
    } else if (s == zokio::mutex::state_contended ||
               m.m_state.compare_exchange_weak(s, zokio::mutex::state_contended,
                                               std::memory_order_relaxed,
                                               std::memory_order_relaxed)) {
      break;
    }
  }
  m.m_waiters.push_back(this);
  m_queued = true;
  const std::uint64_t target =
      m_prev != nullptr ? id_of(m_prev->m_task) : m.m_holder.load(std::memory_order_relaxed);
  m_task->m_wait_target.store(target, std::memory_order_relaxed);
  return true;
}

bool mutex_lock_awaiter::withdraw() noexcept {
  zokio::mutex& m = m_mutex;
  std::lock_guard<std::mutex> lock(m.m_waiters_mutex);
  if (!m_linked) {
    return false; // an unlock handed the mutex to this waiter: it resumes as the owner
  }
  if (m_next != nullptr) {
    // The waiter behind now waits for the one ahead of this (or the holder).
    const std::uint64_t target =
        m_prev != nullptr ? id_of(m_prev->m_task) : m.m_holder.load(std::memory_order_relaxed);
    m_next->m_task->m_wait_target.store(target, std::memory_order_relaxed);
  }
  m.m_waiters.remove(this);
  if (m.m_waiters.empty()) {
    // Still held by its owner, with nobody waiting: the owner's unlock may take the fast path.
    m.m_state.store(zokio::mutex::state_locked, std::memory_order_relaxed);
  }
  return true;
}

mutex_guard mutex_lock_awaiter::take() {
  if (m_queued) {
    m_task->m_wait_target.store(0, std::memory_order_relaxed);
  }
  if (m_cancelled) [[unlikely]] {
    // Cancellation only wins over a waiter that was still queued, which never owns the mutex;
    // the release is belt and braces for that invariant.
    if (m_owner) {
      m_mutex.release();
    }
    throw_if_cancelled();
  }
  return mutex_guard(&m_mutex);
}

} // namespace detail

mutex_guard mutex::try_lock() noexcept {
  if (try_acquire(detail::t_current != nullptr ? detail::t_current->m_id : 0)) {
    return mutex_guard(this);
  }
  return mutex_guard();
}

void mutex::release_contended() noexcept {
  detail::task_record* next_owner = nullptr;
  {
    std::lock_guard<std::mutex> lock(m_waiters_mutex);
    // Only this function and withdraw() leave the contended state, both under this lock, and the
    // caller owns the mutex: the state is contended, or locked if every waiter withdrew.
    for (;;) {
      detail::mutex_lock_awaiter* w = m_waiters.pop_front();
      if (w == nullptr) {
        m_holder.store(0, std::memory_order_relaxed);
        m_state.store(state_unlocked, std::memory_order_release);
        break;
      }
      if (!w->claim()) [[unlikely]] {
        continue; // see the invariant above: never happens, but then the next waiter gets it
      }
      w->m_owner = true;
      next_owner = w->m_task;
      m_holder.store(next_owner->m_id, std::memory_order_relaxed);
      // The new owner waits for nobody from now on, although it stays suspended until its wake
      // is delivered (on a busy or other worker, a while): a stale edge to the old holder, who
      // may queue again behind it, would close a cycle that is not there (diag::find_deadlocks).
      next_owner->m_wait_target.store(0, std::memory_order_relaxed);
      if (m_waiters.empty()) {
        m_state.store(state_locked, std::memory_order_relaxed);
      }
      // The new head already names `next_owner` as the task it waits for.
      break;
    }
  }
  if (next_owner != nullptr) {
    detail::wake(next_owner);
  }
}

} // namespace zokio
