#include <zokio/sync/event.hpp>

namespace zokio {

namespace detail {

bool event_awaiter::ready() const noexcept {
  return m_event.is_set();
}

bool event_awaiter::arm() {
  std::lock_guard<std::mutex> lock(m_event.m_mutex);
  if (m_event.m_set.load(std::memory_order_relaxed)) {
    return false;
  }
  m_event.m_waiters.push_back(this);
  return true;
}

bool event_awaiter::withdraw() noexcept {
  std::lock_guard<std::mutex> lock(m_event.m_mutex);
  if (!m_linked) {
    return false; // set() took it and is waking it
  }
  m_event.m_waiters.remove(this);
  return true;
}

} // namespace detail

void event::set() noexcept {
  detail::event_awaiter* waiters = nullptr;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_set.store(true, std::memory_order_release);
    waiters = m_waiters.take_all();
  }
  while (waiters != nullptr) {
    detail::event_awaiter* next = waiters->m_next; // read first: the fire may free the waiter
    waiters->fire();
    waiters = next;
  }
}

void event::reset() noexcept {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_set.store(false, std::memory_order_release);
}

} // namespace zokio
