#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/task/spawn.hpp>
#include <zokio/util/site.hpp>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace zokio {

namespace detail {

/// A function to run on the blocking pool. `m_run` runs there; `m_done` runs on the owning
/// worker's loop thread once the pool has let go of the job.
struct blocking_job {
  void (*m_run)(blocking_job*) noexcept = nullptr;
  void (*m_done)(blocking_job*, bool cancelled) noexcept = nullptr;
  void* m_req = nullptr;
};

void queue_blocking(worker_core* w, blocking_job* job);
void cancel_blocking(blocking_job* job) noexcept;

template <typename F>
using blocking_result_t = std::invoke_result_t<F&>;

template <typename F>
class blocking_awaiter final : public counted_awaiter<blocking_awaiter<F>>, public blocking_job {
public:
  static constexpr wait_kind kind = wait_kind::blocking;
  using value_type = blocking_result_t<F>;

  blocking_awaiter(F& f, const site& where) : counted_awaiter<blocking_awaiter<F>>(where), m_f(f) {
    m_run = [](blocking_job* j) noexcept {
      auto* self = static_cast<blocking_awaiter*>(j);
      try {
        if constexpr (std::is_void_v<value_type>) {
          self->m_f();
          self->m_value.emplace(true);
        } else {
          self->m_value.emplace(self->m_f());
        }
      } catch (...) {
        self->m_error = std::current_exception();
      }
    };
    m_done = [](blocking_job* j, bool cancelled) noexcept {
      auto* self = static_cast<blocking_awaiter*>(j);
      self->m_pool_cancelled = cancelled;
      self->fire();
    };
  }

  bool ready() const noexcept { return false; }
  bool arm() {
    queue_blocking(this->m_task->m_worker, this);
    return true;
  }
  /// A job that has started cannot be stopped: the task resumes when it ends.
  bool withdraw() noexcept {
    cancel_blocking(this);
    return false;
  }
  value_type take() {
    this->throw_if_cancelled();
    if (m_pool_cancelled) {
      throw operation_cancelled{};
    }
    if (m_error) {
      std::rethrow_exception(m_error);
    }
    if constexpr (!std::is_void_v<value_type>) {
      return std::move(*m_value);
    }
  }

private:
  using stored = std::conditional_t<std::is_void_v<value_type>, bool, value_type>;
  F& m_f;
  std::optional<stored> m_value;
  std::exception_ptr m_error;
  bool m_pool_cancelled = false;
};

template <typename F>
task<blocking_result_t<F>> blocking_body(F f, site where) {
  co_return co_await blocking_awaiter<F>(f, where);
}

} // namespace detail

/// Runs `f()` on the runtime's blocking pool (up to `runtime_options::max_blocking_threads`
/// threads, apart from libuv's pool, which file I/O uses) and returns a handle to its result, so
/// the loop thread never blocks on it. Throws `no_runtime_error` outside a runtime. `f` is moved
/// into the task.
///
/// Cancellation: a job that has not started is dropped (awaiting the handle throws
/// `operation_cancelled`); one that runs cannot be interrupted and is waited for.
template <typename F>
join_handle<detail::blocking_result_t<F>> spawn_blocking(F f, spawn_options opts = {},
                                                         site where = site::current()) {
  return spawn(detail::blocking_body(std::move(f), where), opts, where);
}

} // namespace zokio
