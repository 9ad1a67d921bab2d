#pragma once

#include <zokio/detail/awaitable.hpp>
#include <zokio/task/when_all.hpp>

#include <cstddef>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace zokio {

/// What `select` gives: `value` holds the outcome of the operand that finished first, at that
/// operand's index (`index()`, `std::get<I>(r.value)`, `std::visit`); a `void` operand's
/// outcome is `std::monostate`. `also_completed` holds the outcomes of other operands that
/// completed before their cancellation reached them, in the order they finished: usually empty,
/// never silently dropped.
template <typename... Vs>
struct select_result {
  using variant_type = std::variant<Vs...>;

  variant_type value;
  std::vector<variant_type> also_completed;

  std::size_t index() const noexcept { return value.index(); }
};

namespace detail {

template <std::size_t I, typename V, typename T>
task<V> tag_alternative(task<T> t) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(t);
    co_return V(std::in_place_index<I>);
  } else {
    co_return V(std::in_place_index<I>, co_await std::move(t));
  }
}

template <typename... Vs>
task<select_result<Vs...>> select_impl(std::vector<task<std::variant<Vs...>>> ts, site where) {
  when_any_result<std::variant<Vs...>> r = co_await when_any(std::move(ts), where);
  select_result<Vs...> out{std::move(r.second), {}};
  out.also_completed.reserve(r.also_completed.size());
  for (auto& [i, v] : r.also_completed) {
    out.also_completed.push_back(std::move(v));
  }
  co_return out;
}

} // namespace detail

/// Waits for the first of several different operations: tasks, `join_handle`s and runtime
/// awaitables of any types, e.g. `co_await select(serve(), stop.recv())`. Each runs as a task
/// of its own on this worker; once one finishes, the others are cancelled and waited for, with
/// `when_any`'s rules: an outcome another operand completed anyway is in `also_completed`, the
/// first failure is rethrown if nothing produced a value (every other failure goes to
/// `runtime_options::on_task_error`), and cancelling the awaiting task cancels them all.
///
/// The operands are taken when `select` is called; what they refer to must live until the
/// returned task has been awaited, as for awaiting them directly.
template <detail::operand... Xs>
  requires(sizeof...(Xs) >= 1)
auto select(Xs&&... xs) {
  using variant = std::variant<detail::non_void_t<detail::operand_value_t<Xs>>...>;
  std::vector<task<variant>> ts;
  ts.reserve(sizeof...(Xs));
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (ts.push_back(detail::tag_alternative<I, variant>(detail::as_task(std::forward<Xs>(xs)))), ...);
  }
  (std::index_sequence_for<Xs...>{});
  return detail::select_impl(std::move(ts), site::current());
}

} // namespace zokio
