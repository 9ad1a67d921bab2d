#pragma once

#include <zokio/task/join_handle.hpp>
#include <zokio/task/task.hpp>

#include <concepts>
#include <type_traits>
#include <utility>

// What can be awaited, and how to turn any of it into a task: the combinators (timeout, select)
// take a task, a join_handle or any runtime awaitable (`s.read_some(buf)`, `rx.recv()`,
// `m.lock()`, `sleep_for(d)`) and run it as a child task of their own.

namespace zokio::detail {

template <typename A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
    return std::forward<A>(a).operator co_await();
  } else if constexpr (requires { operator co_await(std::forward<A>(a)); }) {
    return operator co_await(std::forward<A>(a));
  } else {
    return std::forward<A>(a);
  }
}

template <typename A>
concept awaitable = requires(A&& a) {
  { get_awaiter(std::forward<A>(a)).await_ready() } -> std::convertible_to<bool>;
  get_awaiter(std::forward<A>(a)).await_resume();
};

/// What `co_await a` gives, as a value type.
template <typename A>
using await_value_t = std::remove_cvref_t<decltype(get_awaiter(std::declval<A>()).await_resume())>;

template <typename T>
inline constexpr bool is_task_v = false;
template <typename T>
inline constexpr bool is_task_v<task<T>> = true;

template <typename T>
inline constexpr bool is_join_handle_v = false;
template <typename T>
inline constexpr bool is_join_handle_v<join_handle<T>> = true;

template <typename A>
task<await_value_t<A>> await_in_task(A a) {
  if constexpr (std::is_void_v<await_value_t<A>>) {
    co_await std::move(a);
  } else {
    co_return co_await std::move(a);
  }
}

template <typename T>
task<T> join_in_task(join_handle<T>* h) {
  if constexpr (std::is_void_v<T>) {
    co_await *h;
  } else {
    co_return co_await *h;
  }
}

/// The operand as a task: a task as it is; a join_handle lvalue awaited in place (the handle
/// stays with its owner, and the task it joins keeps running if the wait is abandoned); any
/// other awaitable moved (or copied) into a task that awaits it.
template <typename T>
task<T> as_task(task<T>&& t) noexcept {
  return std::move(t);
}
template <typename T>
task<T> as_task(join_handle<T>& h) {
  return join_in_task(&h);
}
template <typename A>
  requires(awaitable<A>&& std::constructible_from<std::remove_cvref_t<A>, A&&> &&
           !is_task_v<std::remove_cvref_t<A>> &&
           !(is_join_handle_v<std::remove_cvref_t<A>> && std::is_lvalue_reference_v<A>))
auto as_task(A&& a) {
  return await_in_task<std::remove_cvref_t<A>>(std::forward<A>(a));
}

/// A task, a join_handle or an awaitable: what timeout and select accept.
template <typename X>
concept operand = requires(X&& x) {
  as_task(std::forward<X>(x));
};

template <typename X>
using as_task_t = decltype(as_task(std::declval<X>()));

/// What a task, join_handle or awaitable `X` produces when awaited through as_task.
template <typename X>
using operand_value_t = typename as_task_t<X>::value_type;

} // namespace zokio::detail
