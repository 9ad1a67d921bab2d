#include <zokio/signal/signal.hpp>

#include "io/uv_handle.hpp"
#include "runtime/worker.hpp"
#include "util/uv_error.hpp"

#include <zokio/detail/awaiter.hpp>

#include <uv.h>

#include <csignal>
#include <stdexcept>
#include <string>
#include <system_error>

// A signal wait owns one uv_signal_t per signal number, on the heap through uv_handle_owner: the
// handles are closed when the waiting coroutine leaves its scope (after the signal came, or on
// cancellation) and freed in their close callbacks. The awaiter lives in the suspended frame; the
// signal callback (owner thread) records the signal, stops every handle and fires it.

namespace zokio::detail {

namespace {

using signal_handles = std::vector<uv_handle_owner<uv_signal_t>>;

class signal_awaiter final : public counted_awaiter<signal_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::signal;

  signal_awaiter(signal_handles& handles, const std::vector<int>& signums, const site& where)
      : counted_awaiter<signal_awaiter>(where), m_handles(handles), m_signums(signums) {}

  bool ready() const noexcept { return false; } // a signal is never already there
  bool arm() {
    for (std::size_t i = 0; i < m_handles.size(); ++i) {
      uv_signal_t* h = m_handles[i].get();
      h->data = this;
      if (int rc = uv_signal_start(h, &on_signal, m_signums[i]); rc != 0) {
        stop_all();
        throw std::system_error(uv_error(rc),
                                "zokio::signal::wait: signal " + std::to_string(m_signums[i]));
      }
    }
    return true;
  }
  bool withdraw() noexcept {
    stop_all();
    return true;
  }
  int take() const {
    throw_if_cancelled();
    return m_got;
  }

private:
  static void on_signal(uv_signal_t* h, int signum) noexcept {
    auto* self = static_cast<signal_awaiter*>(h->data);
    if (self->m_got != 0) {
      return; // another of its signals came first in this loop turn
    }
    self->m_got = signum;
    self->stop_all();
    self->fire(); // queues the task; it runs after this callback has returned
  }
  void stop_all() noexcept {
    for (auto& h : m_handles) {
      uv_signal_stop(h.get());
    }
  }

  signal_handles& m_handles;
  const std::vector<int>& m_signums;
  int m_got = 0;
};

} // namespace

} // namespace zokio::detail

namespace zokio::signal {

task<int> wait_any(std::vector<int> signums, site where) {
  if (signums.empty()) {
    throw std::invalid_argument("zokio::signal::wait_any: no signal to wait for");
  }
  for (int s : signums) {
    if (s <= 0 || s >= NSIG) {
      throw std::invalid_argument("zokio::signal::wait: " + std::to_string(s) +
                                  " is not a signal number");
    }
  }
  auto* w = static_cast<detail::worker*>(detail::t_worker);
  if (w == nullptr) {
    detail::throw_no_runtime("zokio::signal::wait");
  }
  detail::signal_handles handles;
  handles.reserve(signums.size());
  for (std::size_t i = 0; i < signums.size(); ++i) {
    auto* h = new uv_signal_t;
    if (int rc = uv_signal_init(w->loop(), h); rc != 0) {
      delete h; // init failed: libuv does not know the handle
      throw std::system_error(detail::uv_error(rc), "zokio::signal::wait: uv_signal_init");
    }
    handles.emplace_back(h);
  }
  co_return co_await detail::signal_awaiter(handles, signums, where);
  // `handles` closes every handle here, also when the await threw.
}

task<> wait(int signum, site where) {
  std::vector<int> one(1, signum); // not a braced list: GCC 12 cannot keep its array in a frame
  (void)co_await wait_any(std::move(one), where);
}

} // namespace zokio::signal
