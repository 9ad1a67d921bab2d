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
  m_prev = m_event.m_tail;
  m_next = nullptr;
  if (m_event.m_tail != nullptr) {
    m_event.m_tail->m_next = this;
  } else {
    m_event.m_head = this;
  }
  m_event.m_tail = this;
  m_linked = true;
  return true;
}

bool event_awaiter::withdraw() noexcept {
  std::lock_guard<std::mutex> lock(m_event.m_mutex);
  if (!m_linked) {
    return false; // set() took it and is waking it
  }
  if (m_prev != nullptr) {
    m_prev->m_next = m_next;
  } else {
    m_event.m_head = m_next;
  }
  if (m_next != nullptr) {
    m_next->m_prev = m_prev;
  } else {
    m_event.m_tail = m_prev;
  }
  m_linked = false;
  return true;
}

} // namespace detail

void event::set() noexcept {
  detail::event_awaiter* waiters = nullptr;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_set.store(true, std::memory_order_release);
    waiters = m_head;
    m_head = m_tail = nullptr;
    for (auto* w = waiters; w != nullptr; w = w->m_next) {
      w->m_linked = false;
    }
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
