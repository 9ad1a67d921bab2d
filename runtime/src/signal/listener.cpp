#include <zokio/signal/listener.hpp>

#include "io/uv_handle.hpp"
#include "runtime/worker.hpp"
#include "util/uv_error.hpp"

#include <uv.h>

#include <algorithm>
#include <cassert>
#include <csignal>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

// The listener's state: one uv_signal_t per signal number, started when the listener is made and
// closed (through uv_handle_owner, freed in the close callbacks) when it is destroyed, so the
// process handles the signals for the listener's whole life. The handles are unreferenced while
// no task waits in recv(): a listener that merely exists is no external work for the deadlock
// detector, as a TCP stream with no reader. Owner thread only (see listener.hpp).

namespace zokio::detail {

struct signal_listener_state : io_object {
  worker* m_owner = nullptr;
  std::vector<uv_handle_owner<uv_signal_t>> m_handles;
  std::deque<int> m_pending;               // received, not yet taken; each number at most once
  signal_recv_awaiter* m_waiter = nullptr; // the task waiting in recv()

  signal_listener_state() = default;
  signal_listener_state(const signal_listener_state&) = delete;
  signal_listener_state& operator=(const signal_listener_state&) = delete;
  ~signal_listener_state() { worker::untrack_io(this); }

  /// Teardown, when the listener outlived its runtime: close the handles now (the listener,
  /// destroyed later, then has nothing left to close on the freed loop).
  void close_handles() noexcept {
    worker::untrack_io(this);
    m_handles.clear();
  }

  void check_thread() const noexcept { assert(m_handles.empty() || m_owner == t_worker); }

  void set_ref(bool on) noexcept {
    for (auto& h : m_handles) {
      auto* hh = reinterpret_cast<uv_handle_t*>(h.get());
      on ? uv_ref(hh) : uv_unref(hh);
    }
  }

  int pop() {
    if (m_pending.empty()) {
      throw std::logic_error("zokio::signal::listener: two tasks received from one listener");
    }
    const int s = m_pending.front();
    m_pending.pop_front();
    return s;
  }

  static void on_signal(uv_signal_t* h, int signum) noexcept {
    auto* self = static_cast<signal_listener_state*>(h->data);
    if (std::find(self->m_pending.begin(), self->m_pending.end(), signum) ==
        self->m_pending.end()) {
      try {
        self->m_pending.push_back(signum);
      } catch (...) {
        return; // out of memory: as if the kernel had coalesced it with an earlier one
      }
    }
    if (signal_recv_awaiter* w = std::exchange(self->m_waiter, nullptr); w != nullptr) {
      self->set_ref(false);
      w->fire(); // queues the task; it runs after this callback has returned
    }
  }
};

bool signal_recv_awaiter::ready() const noexcept {
  return !m_state->m_pending.empty();
}

bool signal_recv_awaiter::arm() {
  m_state->check_thread();
  if (!m_state->m_pending.empty()) {
    return false;
  }
  if (m_state->m_waiter != nullptr) {
    throw std::logic_error("zokio::signal::listener: two tasks wait in recv() at once");
  }
  m_state->m_waiter = this;
  m_state->set_ref(true); // a task waits for a signal: external work
  return true;
}

bool signal_recv_awaiter::withdraw() noexcept {
  if (m_state->m_waiter == this) {
    m_state->m_waiter = nullptr;
    m_state->set_ref(false);
  }
  // Either it is unregistered now, or the signal callback already claimed it (then the claim
  // fails for the canceller, and the task resumes with the signal).
  return true;
}

int signal_recv_awaiter::take() {
  throw_if_cancelled(); // the signal, if one came, stays for the next recv()
  return m_state->pop();
}

} // namespace zokio::detail

namespace zokio::signal {

listener::listener(std::initializer_list<int> signums) : listener(std::vector<int>(signums)) {}

listener::listener(std::vector<int> signums) {
  if (signums.empty()) {
    throw std::invalid_argument("zokio::signal::listener: no signal to listen for");
  }
  for (int s : signums) {
    if (s <= 0 || s >= NSIG) {
      throw std::invalid_argument("zokio::signal::listener: " + std::to_string(s) +
                                  " is not a signal number");
    }
  }
  auto* w = static_cast<detail::worker*>(detail::t_worker);
  if (w == nullptr) {
    detail::throw_no_runtime("zokio::signal::listener");
  }
  auto state = std::make_unique<detail::signal_listener_state>();
  state->m_owner = w;
  w->track_io(state.get(), "signal", [](detail::io_object* o) noexcept {
    static_cast<detail::signal_listener_state*>(o)->close_handles();
  });
  state->m_handles.reserve(signums.size());
  for (int s : signums) {
    auto* h = new uv_signal_t;
    if (const int rc = uv_signal_init(w->loop(), h); rc != 0) {
      delete h; // init failed: libuv does not know the handle
      throw std::system_error(detail::uv_error(rc), "zokio::signal::listener: uv_signal_init");
    }
    state->m_handles.emplace_back(h); // closed by the state's destructor from here on
    h->data = state.get();
    if (const int rc = uv_signal_start(h, &detail::signal_listener_state::on_signal, s); rc != 0) {
      throw std::system_error(detail::uv_error(rc),
                              "zokio::signal::listener: signal " + std::to_string(s));
    }
    uv_unref(reinterpret_cast<uv_handle_t*>(h)); // referenced only while a task waits
  }
  m_state = state.release();
}

listener::listener(listener&& o) noexcept : m_state(std::exchange(o.m_state, nullptr)) {}

listener& listener::operator=(listener&& o) noexcept {
  if (this != &o) {
    listener old(std::move(*this));
    m_state = std::exchange(o.m_state, nullptr);
  }
  return *this;
}

listener::~listener() {
  if (m_state != nullptr) {
    m_state->check_thread();
    assert(m_state->m_waiter == nullptr && "a listener destroyed while a task waits in recv()");
    delete m_state; // closes the handles: the signals' default actions come back
  }
}

detail::signal_recv_awaiter listener::recv(site where) {
  if (m_state == nullptr) {
    throw std::logic_error("zokio::signal::listener: recv() on a moved-from listener");
  }
  return detail::signal_recv_awaiter(m_state, where);
}

std::optional<int> listener::try_recv() {
  if (m_state == nullptr || m_state->m_pending.empty()) {
    return std::nullopt;
  }
  m_state->check_thread();
  return m_state->pop();
}

} // namespace zokio::signal
