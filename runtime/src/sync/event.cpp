#include <zokio/sync/event.hpp>

namespace zokio {

namespace detail {

bool event_awaiter::ready() const noexcept {
  return m_event.is_set();
}

bool event_awaiter::arm() {
  std::lock_guard<std::mutex> lock(m_event.m_mutex);
  if (m_event.m_set) {
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

bool event::is_set() const noexcept {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_set;
}

void event::set() noexcept {
  detail::event_awaiter* waiters = nullptr;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_set = true;
    waiters = m_waiters.take_all();
  }
  // From here on the event itself is never touched: anybody who sees it set (is_set() and the
  // waiters' arm() read it under the lock, so only after the unlock above) may destroy it. The
  // waiters taken are suspended until fired, so their frames stay valid until then.
  while (waiters != nullptr) {
    detail::event_awaiter* next = waiters->m_next; // read first: the fire may free the waiter
    waiters->fire_exclusive(); // set() took it under the lock: withdraw() now fails
    waiters = next;
  }
}

void event::reset() noexcept {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_set = false;
}

} // namespace zokio
