#pragma once

// An intrusive FIFO of waiting awaiters, shared by the sync primitives (event, mutex,
// semaphore). A node provides `Node* m_prev`, `Node* m_next` and `bool m_linked`; it lives in a
// suspended frame and is linked only while it waits. The list does no locking: its owner guards
// it (the primitive's waiter lock).

namespace zokio::detail {

template <typename Node>
struct waiter_list {
  Node* m_head = nullptr;
  Node* m_tail = nullptr;

  bool empty() const noexcept { return m_head == nullptr; }
  Node* front() const noexcept { return m_head; }

  void push_back(Node* n) noexcept {
    n->m_prev = m_tail;
    n->m_next = nullptr;
    (m_tail != nullptr ? m_tail->m_next : m_head) = n;
    m_tail = n;
    n->m_linked = true;
  }

  /// Unlinks `n`, which must be linked. Its own links are left as they were.
  void remove(Node* n) noexcept {
    (n->m_prev != nullptr ? n->m_prev->m_next : m_head) = n->m_next;
    (n->m_next != nullptr ? n->m_next->m_prev : m_tail) = n->m_prev;
    n->m_linked = false;
  }

  /// Unlinks and returns the first node, or nullptr.
  Node* pop_front() noexcept {
    Node* n = m_head;
    if (n != nullptr) {
      remove(n);
    }
    return n;
  }

  /// Unlinks every node and returns the first; they stay chained through `m_next`.
  Node* take_all() noexcept {
    Node* all = m_head;
    for (Node* n = all; n != nullptr; n = n->m_next) {
      n->m_linked = false;
    }
    m_head = m_tail = nullptr;
    return all;
  }
};

} // namespace zokio::detail
