#pragma once

#include <zokio/task/join_set.hpp>
#include <zokio/task/spawn.hpp>
#include <zokio/task/task.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

namespace zokio {

namespace detail {

template <typename T>
task<void> collect_into(join_handle<T>& h, std::optional<non_void_t<T>>& out,
                        std::exception_ptr& first) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await h;
      out.emplace();
    } else {
      out.emplace(co_await h);
    }
  } catch (...) {
    if (!first) {
      first = std::current_exception();
    }
  }
}

template <typename... Ts, std::size_t... I>
task<std::tuple<non_void_t<Ts>...>> when_all_impl(std::index_sequence<I...>, task<Ts>... ts) {
  std::tuple<join_handle<Ts>...> handles{spawn(std::move(ts))...};
  std::tuple<std::optional<non_void_t<Ts>>...> results;
  std::exception_ptr first;
  (co_await collect_into(std::get<I>(handles), std::get<I>(results), first), ...);
  if (first) {
    (std::get<I>(handles).cancel(), ...);
    std::rethrow_exception(first);
  }
  co_return std::tuple<non_void_t<Ts>...>{std::move(*std::get<I>(results))...};
}

template <typename T>
task<std::pair<std::size_t, T>> tag_index(std::size_t i, task<T> t) {
  co_return std::pair<std::size_t, T>{i, co_await std::move(t)};
}

inline task<std::pair<std::size_t, std::monostate>> tag_index(std::size_t i, task<void> t) {
  co_await std::move(t);
  co_return std::pair<std::size_t, std::monostate>{i, std::monostate{}};
}

} // namespace detail

/// Runs every task concurrently (each spawned on this worker) and waits for all of them. The
/// values come back in argument order (`void` as `std::monostate`). If some fail, all are still
/// waited for and the first failure in argument order is rethrown. Cancelling the awaiting task
/// cancels the children.
template <typename... Ts>
task<std::tuple<detail::non_void_t<Ts>...>> when_all(task<Ts>... ts) {
  return detail::when_all_impl(std::index_sequence_for<Ts...>{}, std::move(ts)...);
}

/// As the variadic form, for a vector of tasks of one type.
template <typename T>
task<std::vector<detail::non_void_t<T>>> when_all(std::vector<task<T>> ts) {
  std::vector<join_handle<T>> handles;
  handles.reserve(ts.size());
  for (auto& t : ts) {
    handles.push_back(spawn(std::move(t)));
  }
  std::vector<std::optional<detail::non_void_t<T>>> results(handles.size());
  std::exception_ptr first;
  for (std::size_t i = 0; i < handles.size(); ++i) {
    co_await detail::collect_into(handles[i], results[i], first);
  }
  if (first) {
    for (auto& h : handles) {
      h.cancel();
    }
    std::rethrow_exception(first);
  }
  std::vector<detail::non_void_t<T>> out;
  out.reserve(results.size());
  for (auto& r : results) {
    out.push_back(std::move(*r));
  }
  co_return out;
}

/// Runs the tasks concurrently and returns the index and value of the first to finish; the
/// others are cancelled and have unwound before this returns. If the first to finish failed,
/// its exception is rethrown. `std::invalid_argument` for an empty vector.
template <typename T>
task<std::pair<std::size_t, detail::non_void_t<T>>> when_any(std::vector<task<T>> ts) {
  if (ts.empty()) {
    throw std::invalid_argument("zokio::when_any of no tasks");
  }
  using tagged = std::pair<std::size_t, detail::non_void_t<T>>;
  join_set<tagged> set;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    set.spawn(detail::tag_index(i, std::move(ts[i])));
  }
  std::optional<tagged> winner;
  std::exception_ptr failure;
  try {
    winner = co_await set.next();
  } catch (...) {
    failure = std::current_exception();
  }
  set.cancel_all();
  while (!set.empty()) {
    try {
      co_await set.next();
    } catch (...) {
      if (detail::current_task_cancelled()) {
        break; // the set's destructor cancels and detaches the rest
      }
    }
  }
  if (failure) {
    std::rethrow_exception(failure);
  }
  co_return std::move(*winner);
}

/// As the vector form, for tasks given as arguments.
template <typename T, typename... Rest>
task<std::pair<std::size_t, detail::non_void_t<T>>> when_any(task<T> first, task<Rest>... rest) {
  std::vector<task<T>> ts;
  ts.reserve(1 + sizeof...(Rest));
  ts.push_back(std::move(first));
  (ts.push_back(std::move(rest)), ...);
  return when_any(std::move(ts));
}

} // namespace zokio
