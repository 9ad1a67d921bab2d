#pragma once

#include <zokio/detail/frame_alloc.hpp>

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

namespace zokio {

template <typename T = void>
class task;

namespace detail {

template <typename T>
class task_promise;
template <typename T>
class root_promise;

/// Resumes the awaiting coroutine by symmetric transfer when a task finishes.
struct task_final_awaiter {
  bool await_ready() const noexcept { return false; }
  template <typename Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
    std::coroutine_handle<> c = h.promise().m_continuation;
    return c ? c : std::noop_coroutine();
  }
  void await_resume() const noexcept {}
};

class task_promise_base : public pooled_frame {
public:
  std::suspend_always initial_suspend() const noexcept { return {}; }
  task_final_awaiter final_suspend() const noexcept { return {}; }

  std::coroutine_handle<> m_continuation;
};

template <typename T>
class task_promise final : public task_promise_base {
public:
  task<T> get_return_object() noexcept;

  template <typename V>
    requires std::is_convertible_v<V&&, T>
  void return_value(V&& v) noexcept(std::is_nothrow_constructible_v<T, V&&>) {
    m_result.template emplace<1>(std::forward<V>(v));
  }
  void unhandled_exception() noexcept { m_result.template emplace<2>(std::current_exception()); }

  T result() && {
    if (m_result.index() == 2) {
      std::rethrow_exception(std::get<2>(m_result));
    }
    return std::get<1>(std::move(m_result));
  }

private:
  std::variant<std::monostate, T, std::exception_ptr> m_result;
};

template <>
class task_promise<void> final : public task_promise_base {
public:
  task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void unhandled_exception() noexcept { m_error = std::current_exception(); }
  void result() && {
    if (m_error) {
      std::rethrow_exception(m_error);
    }
  }

private:
  std::exception_ptr m_error;
};

template <typename T>
class task_promise<T&> final : public task_promise_base {
public:
  task<T&> get_return_object() noexcept;
  void return_value(T& v) noexcept { m_value = &v; }
  void unhandled_exception() noexcept { m_error = std::current_exception(); }
  T& result() && {
    if (m_error) {
      std::rethrow_exception(m_error);
    }
    return *m_value;
  }

private:
  T* m_value = nullptr;
  std::exception_ptr m_error;
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
        m_coro.promise().m_continuation = awaiting;
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
