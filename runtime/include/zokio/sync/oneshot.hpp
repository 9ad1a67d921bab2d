#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/detail/frame_alloc.hpp>
#include <zokio/detail/refcount.hpp>
#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>

// A oneshot carries one value from a sender to a receiver, across workers and threads.
//
// Shared state: `m_state` is empty, sent, closed (the sender left without sending), or the
// address of the receiver's waiting awaiter. The value is written before `m_state` becomes sent
// (release) and read after it is seen sent (acquire). Lock-free; reference counted by the two
// ends.

namespace zokio {

namespace detail {

template <typename T>
struct oneshot_state : pooled_frame { // pooled like frames: a ping-pong allocates nothing
  static constexpr std::uintptr_t empty = 0;
  static constexpr std::uintptr_t sent = 1;
  static constexpr std::uintptr_t closed = 2;

  std::atomic<std::uintptr_t> m_state{empty};
  std::atomic<int> m_refs{2};
  std::atomic<bool> m_receiver_gone{false};
  std::optional<T> m_value;

  void release() noexcept {
    if (release_ref(m_refs)) {
      delete this;
    }
  }
};

template <typename T>
class oneshot_awaiter final : public counted_awaiter<oneshot_awaiter<T>> {
public:
  static constexpr wait_kind kind = wait_kind::oneshot;
  using state = oneshot_state<T>;

  oneshot_awaiter(state* s, const site& where)
      : counted_awaiter<oneshot_awaiter<T>>(where), m_s(s) {
    if (m_s == nullptr) {
      throw std::logic_error("zokio: oneshot receiver awaited after it was consumed");
    }
  }

  bool ready() const noexcept {
    const auto v = m_s->m_state.load(std::memory_order_acquire);
    return v == state::sent || v == state::closed;
  }
  bool arm() noexcept {
    auto expected = state::empty;
    return m_s->m_state.compare_exchange_strong(
        expected, reinterpret_cast<std::uintptr_t>(static_cast<awaiter_base*>(this)),
        std::memory_order_acq_rel);
  }
  bool withdraw() noexcept {
    auto expected = reinterpret_cast<std::uintptr_t>(static_cast<awaiter_base*>(this));
    return m_s->m_state.compare_exchange_strong(expected, state::empty, std::memory_order_acq_rel);
  }
  result<T> take() {
    if (this->m_cancelled) {
      return std::errc::operation_canceled;
    }
    if (m_s->m_state.load(std::memory_order_acquire) == state::sent && m_s->m_value) {
      T v = std::move(*m_s->m_value);
      m_s->m_value.reset();
      return v;
    }
    return std::errc::broken_pipe;
  }

private:
  state* m_s;
};

} // namespace detail

/// The sending end of a oneshot. Move-only; dropping it without sending closes the oneshot and
/// the receiver gets `std::errc::broken_pipe`.
template <typename T>
class oneshot_sender {
public:
  explicit oneshot_sender(detail::oneshot_state<T>* s) noexcept : m_s(s) {}
  oneshot_sender(oneshot_sender&& o) noexcept : m_s(std::exchange(o.m_s, nullptr)) {}
  oneshot_sender& operator=(oneshot_sender&& o) noexcept {
    if (this != &o) {
      reset();
      m_s = std::exchange(o.m_s, nullptr);
    }
    return *this;
  }
  ~oneshot_sender() { reset(); }

  /// Sends the value and wakes the receiver. Thread-safe: callable from any thread, also one
  /// outside the runtime. Returns false (and drops `v`) when a value was sent already or the
  /// receiver is gone.
  template <typename V>
  bool send(V&& v) {
    if (m_s == nullptr || m_s->m_receiver_gone.load(std::memory_order_acquire)) {
      return false;
    }
    m_s->m_value.emplace(std::forward<V>(v));
    const auto prev =
        m_s->m_state.exchange(detail::oneshot_state<T>::sent, std::memory_order_acq_rel);
    auto* s = std::exchange(m_s, nullptr);
    if (prev > detail::oneshot_state<T>::closed) {
      // The exchange took the awaiter out of the state: its withdraw() can no longer succeed.
      reinterpret_cast<detail::awaiter_base*>(prev)->fire_exclusive();
    }
    s->release();
    return true;
  }

private:
  void reset() noexcept {
    if (m_s == nullptr) {
      return;
    }
    auto cur = m_s->m_state.load(std::memory_order_acquire);
    while (cur != detail::oneshot_state<T>::sent &&
           !m_s->m_state.compare_exchange_weak(cur, detail::oneshot_state<T>::closed,
                                               std::memory_order_acq_rel)) {
    }
    if (cur > detail::oneshot_state<T>::closed) {
      reinterpret_cast<detail::awaiter_base*>(cur)->fire_exclusive(); // as in send()
    }
    std::exchange(m_s, nullptr)->release();
  }

  detail::oneshot_state<T>* m_s;
};

/// The receiving end: `co_await rx` gives the value, `std::errc::broken_pipe` when the sender
/// left without sending, or `std::errc::operation_canceled` when the awaiting task is cancelled.
/// Awaited once.
template <typename T>
class oneshot_receiver {
public:
  explicit oneshot_receiver(detail::oneshot_state<T>* s) noexcept : m_s(s) {}
  oneshot_receiver(oneshot_receiver&& o) noexcept : m_s(std::exchange(o.m_s, nullptr)) {}
  oneshot_receiver& operator=(oneshot_receiver&& o) noexcept {
    if (this != &o) {
      reset();
      m_s = std::exchange(o.m_s, nullptr);
    }
    return *this;
  }
  ~oneshot_receiver() { reset(); }

  detail::oneshot_awaiter<T> operator co_await() { return detail::oneshot_awaiter<T>(m_s, site{}); }
  /// As `co_await rx`, with the await's site recorded for task dumps.
  detail::oneshot_awaiter<T> recv(const char* file = __builtin_FILE(),
                                  std::uint32_t line = __builtin_LINE()) {
    return recv(site{file, "", line});
  }
  /// As above, recording `where` as the await's site.
  detail::oneshot_awaiter<T> recv(const site& where) {
    return detail::oneshot_awaiter<T>(m_s, where);
  }

private:
  void reset() noexcept {
    if (m_s != nullptr) {
      m_s->m_receiver_gone.store(true, std::memory_order_release);
      std::exchange(m_s, nullptr)->release();
    }
  }

  detail::oneshot_state<T>* m_s;
};

template <typename T>
struct oneshot_pair {
  oneshot_sender<T> tx;
  oneshot_receiver<T> rx;
};

/// A single-value channel: `auto [tx, rx] = make_oneshot<int>();`.
template <typename T>
oneshot_pair<T> make_oneshot() {
  auto* s = new detail::oneshot_state<T>();
  return {oneshot_sender<T>(s), oneshot_receiver<T>(s)};
}

} // namespace zokio
