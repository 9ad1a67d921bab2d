#include <zokio/sync/semaphore.hpp>

// The handoff invariant: no permit is ever lost when cancellation races with a release.
//
// - A waiter is in the list exactly while nobody has claimed it. Unlinking happens only under
//   m_waiters_mutex, by give_to_waiters() (which then claims the waiter and grants it a permit)
//   or by withdraw() (cancellation, which claims after it).
// - give_to_waiters() counts a permit as handed over only when its claim of the waiter succeeds.
//   Under the wake protocol the claim cannot fail (cancellation withdraws under the lock before
//   it claims, so it finds the waiter gone), but if it ever did, the permit goes to the next
//   waiter, or back to the count when none is left.
// - withdraw() that finds the waiter linked removes it, and the task is resumed cancelled with no
//   permit granted. withdraw() that finds it unlinked returns false: a release has granted it a
//   permit, and take() returns the permit even though cancellation was requested.
// - While the waiters bit is set the state is exactly "0 permits, waiters": the fast paths leave
//   it alone, so it changes only under the lock.

namespace zokio {

namespace detail {

bool semaphore_acquire_awaiter::ready() noexcept {
  if (!m_granted && m_sem.try_take()) {
    m_granted = true;
  }
  return m_granted;
}

bool semaphore_acquire_awaiter::arm() noexcept {
  semaphore& sem = m_sem;
  std::lock_guard<std::mutex> lock(sem.m_waiters_mutex);
  std::uint64_t s = sem.m_state.load(std::memory_order_relaxed);
  for (;;) {
    if (s >= semaphore::one_permit) {
      if (sem.m_state.compare_exchange_weak(s, s - semaphore::one_permit, std::memory_order_acquire,
                                            std::memory_order_relaxed)) {
        m_granted = true;
        return false;
      }
    } else if ((s & semaphore::waiters_bit) != 0 ||
               sem.m_state.compare_exchange_weak(s, semaphore::waiters_bit,
                                                 std::memory_order_relaxed,
                                                 std::memory_order_relaxed)) {
      break;
    }
  }
  sem.m_waiters.push_back(this);
  return true;
}

bool semaphore_acquire_awaiter::withdraw() noexcept {
  semaphore& sem = m_sem;
  std::lock_guard<std::mutex> lock(sem.m_waiters_mutex);
  if (!m_linked) {
    return false; // a release granted this waiter a permit: it resumes holding it
  }
  sem.m_waiters.remove(this);
  if (sem.m_waiters.empty()) {
    sem.m_state.store(0, std::memory_order_relaxed); // no waiters, still no permit
  }
  return true;
}

semaphore_permit semaphore_acquire_awaiter::take() {
  if (m_cancelled) [[unlikely]] {
    // Cancellation only wins over a waiter that was still queued, which holds no permit; the
    // give is belt and braces for that invariant.
    if (m_granted) {
      m_sem.give(1);
    }
    throw_if_cancelled();
  }
  return semaphore_permit(&m_sem);
}

} // namespace detail

void semaphore::throw_too_many() {
  throw std::length_error("zokio::semaphore: more than max_permits (2^61 - 1) permits");
}

void semaphore::give_to_waiters(std::size_t n) noexcept {
  // Granted waiters, chained through their (now free) m_next links and woken after unlocking.
  detail::semaphore_acquire_awaiter* granted = nullptr;
  detail::semaphore_acquire_awaiter** tail = &granted;
  {
    std::lock_guard<std::mutex> lock(m_waiters_mutex);
    if ((m_state.load(std::memory_order_relaxed) & waiters_bit) == 0) {
      // Every waiter withdrew since the caller looked: the fast paths are live again.
      m_state.fetch_add(static_cast<std::uint64_t>(n) * one_permit, std::memory_order_release);
      return;
    }
    while (n > 0 && !m_waiters.empty()) {
      detail::semaphore_acquire_awaiter* w = m_waiters.pop_front();
      if (!w->claim()) [[unlikely]] {
        continue; // see the invariant above: never happens, but then the next waiter gets it
      }
      w->m_granted = true;
      --n;
      *tail = w;
      tail = &w->m_next;
    }
    *tail = nullptr;
    if (m_waiters.empty()) {
      m_state.store(static_cast<std::uint64_t>(n) * one_permit, std::memory_order_release);
    }
  }
  // A granted waiter stays suspended until its wake: read its link and task before waking it.
  while (granted != nullptr) {
    detail::semaphore_acquire_awaiter* w = granted;
    granted = w->m_next;
    detail::wake(w->m_task);
  }
}

} // namespace zokio
