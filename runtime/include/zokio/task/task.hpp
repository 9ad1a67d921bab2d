#pragma once

#include <zokio/detail/frame_alloc.hpp>

#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace zokio {

template <typename T = void>
class task;

namespace detail {

template <typename T>
class task_promise;
template <typename T>
class root_promise;

/// The exception a task's body ended with, from its unhandled_exception() to the one place that
/// takes it, on the same thread and before anything else runs there: the await_resume of the
/// coroutine that awaits the task, to which final_suspend transfers at once, or, for a spawned
/// task's body, root_promise::complete, which the worker runs as soon as the body has suspended
/// for the last time. Kept here rather than in the promise: a promise holds one word, which
/// makes the frame of every task<void> 8 bytes smaller (docs/decisions.md, "A task's exception
/// waits in a thread-local on its way out").
inline thread_local std::exception_ptr t_task_error;

/// Resumes the awaiting coroutine by symmetric transfer when a task finishes.
struct task_final_awaiter {
  bool await_ready() const noexcept { return false; }
  template <typename Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
    std::coroutine_handle<> c = h.promise().continuation();
    return c ? c : std::noop_coroutine();
  }
  void await_resume() const noexcept {}
};

class task_promise_base : public pooled_frame {
public:
  std::suspend_always initial_suspend() const noexcept { return {}; }
  task_final_awaiter final_suspend() const noexcept { return {}; }

  void unhandled_exception() noexcept {
    t_task_error = std::current_exception();
    m_next |= failed_bit;
  }

  void set_continuation(std::coroutine_handle<> c) noexcept {
    m_next = reinterpret_cast<std::uintptr_t>(c.address());
  }
  std::coroutine_handle<> continuation() const noexcept {
    return std::coroutine_handle<>::from_address(reinterpret_cast<void*>(m_next & ~failed_bit));
  }

protected:
  /// Throws what the body threw, if it threw; the first call takes it from t_task_error.
  void rethrow_if_failed() {
    if ((m_next & failed_bit) != 0) [[unlikely]] {
      rethrow_failure();
    }
  }

private:
  [[noreturn]] void rethrow_failure() {
    // Taken at once by the one reader (see t_task_error): a second look finds it gone.
    if (std::exception_ptr e = std::exchange(t_task_error, nullptr)) {
      std::rethrow_exception(std::move(e));
    }
    throw std::logic_error("zokio: the result of a failed task was taken twice");
  }

  static constexpr std::uintptr_t failed_bit = 1; // frames are at least 16-byte aligned
  /// The awaiting coroutine's frame (null for a spawned task's body), or'ed with failed_bit once
  /// the body has thrown.
  std::uintptr_t m_next = 0;
};

template <typename T>
class task_promise final : public task_promise_base {
public:
  task<T> get_return_object() noexcept;

  template <typename V>
    requires std::is_convertible_v<V&&, T>
  void return_value(V&& v) noexcept(std::is_nothrow_constructible_v<T, V&&>) {
    m_value.emplace(std::forward<V>(v));
  }

  T result() && {
    rethrow_if_failed();
    return std::move(*m_value);
  }

private:
  std::optional<T> m_value;
};

template <>
class task_promise<void> final : public task_promise_base {
public:
  task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void result() && { rethrow_if_failed(); }
};

template <typename T>
class task_promise<T&> final : public task_promise_base {
public:
  task<T&> get_return_object() noexcept;
  void return_value(T& v) noexcept { m_value = &v; }
  T& result() && {
    rethrow_if_failed();
    return *m_value;
  }

private:
  T* m_value = nullptr;
};

} // namespace detail

/// A lazy coroutine that produces a `T`. It starts when awaited (or spawned) and hands control
/// back to its awaiter by symmetric transfer, so chains of awaits never grow the stack.
/// Exceptions are carried to the awaiter and rethrown at its `co_await`.
///
/// Awaiting a task is a call, not a suspension point of the runtime: it is not counted in
/// `runtime_stats::awaits`. Move-only; destroying an unstarted task destroys its frame.
template <typename T>
class [[nodiscard]] task {
public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;

  task() noexcept = default;
  explicit task(std::coroutine_handle<promise_type> h) noexcept : m_coro(h) {}
  task(task&& o) noexcept : m_coro(std::exchange(o.m_coro, {})) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      if (m_coro) {
        m_coro.destroy();
      }
      m_coro = std::exchange(o.m_coro, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() {
    if (m_coro) {
      m_coro.destroy();
    }
  }

  bool valid() const noexcept { return static_cast<bool>(m_coro); }

  auto operator co_await() && noexcept {
    struct awaiter {
      std::coroutine_handle<promise_type> m_coro;
      bool await_ready() const noexcept { return !m_coro || m_coro.done(); }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        m_coro.promise().set_continuation(awaiting);
        return m_coro;
      }
      decltype(auto) await_resume() { return std::move(m_coro.promise()).result(); }
    };
    return awaiter{m_coro};
  }
  auto operator co_await() & noexcept { return std::move(*this).operator co_await(); }

private:
  template <typename U>
  friend class detail::root_promise;

  std::coroutine_handle<promise_type> m_coro;
};

namespace detail {

template <typename T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
template <typename T>
task<T&> task_promise<T&>::get_return_object() noexcept {
  return task<T&>{std::coroutine_handle<task_promise<T&>>::from_promise(*this)};
}

} // namespace detail
} // namespace zokio
