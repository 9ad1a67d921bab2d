#pragma once

#include <zokio/task/join_set.hpp>
#include <zokio/task/spawn.hpp>
#include <zokio/task/task.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <type_traits>
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

/// How one child of when_any ended: a value or an exception (a cancelled child throws instead).
template <typename T>
struct any_outcome {
  std::optional<non_void_t<T>> value;
  std::exception_ptr error;
};

/// Runs `t` and keeps its outcome (value or exception) as a value; a child stopped by the
/// cancellation ends as cancelled. when_any decides what each outcome means.
template <typename T>
task<std::pair<std::size_t, any_outcome<T>>> tag_outcome(std::size_t i, task<T> t) {
  any_outcome<T> o;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(t);
      o.value.emplace();
    } else {
      o.value.emplace(co_await std::move(t));
    }
  } catch (const operation_cancelled&) {
    throw;
  } catch (...) {
    o.error = std::current_exception();
  }
  if (t_current->m_cancel_seen) {
    // It was stopped by when_any's cancellation: whatever it returned or threw after that
    // (a cancelled read's error, a value() that threw on it) follows from it. It ends as
    // cancelled, and is counted so.
    throw operation_cancelled{};
  }
  co_return std::pair<std::size_t, any_outcome<T>>{i, std::move(o)};
}

/// Hands a failure nobody will observe to `runtime_options::on_task_error` of the runtime this
/// thread drives (as for a detached task), so that it is never dropped silently.
void report_unobserved(std::uint64_t id, std::string_view name, const site& where,
                       std::exception_ptr error) noexcept;

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

/// What when_any gives: `first` is the index of the task that won and `second` its value (so
/// `auto [i, v] = co_await when_any(...)` works as with a pair), and `also_completed` holds the
/// other tasks that completed with a value before their cancellation reached them, as (index,
/// value) in the order they finished. Usually empty; never silently dropped.
template <typename T>
struct when_any_result : std::pair<std::size_t, T> {
  using std::pair<std::size_t, T>::pair;
  std::vector<std::pair<std::size_t, T>> also_completed;
};

/// Runs the tasks concurrently (each spawned on this worker); once the first finishes, cancels
/// the others and waits until they have unwound.
///
/// - The result is the first task to finish with a value. Others that completed with a value
///   anyway (in the same loop turn, before the cancellation reached them) are in
///   `also_completed`: a value an operation produced is never lost.
/// - If the first to finish failed and no task produced a value, its exception is rethrown.
///   Every other failure goes to `runtime_options::on_task_error`, as a detached task's would.
/// - Cancelling the awaiting task cancels the children and waits for them; if one of them had
///   completed with a value it is returned, else `operation_cancelled` is thrown.
///
/// `std::invalid_argument` for an empty vector.
template <typename T>
task<when_any_result<detail::non_void_t<T>>> when_any(std::vector<task<T>> ts,
                                                      site where = site::current()) {
  if (ts.empty()) {
    throw std::invalid_argument("zokio::when_any of no tasks");
  }
  using tagged = std::pair<std::size_t, detail::any_outcome<T>>;
  join_set<tagged> set;
  std::vector<std::uint64_t> ids(ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) {
    ids[i] = set.spawn(detail::tag_outcome(i, std::move(ts[i])), {.name = "when_any"}, where);
  }
  // Outcomes in the order the tasks finished.
  std::vector<tagged> done;
  try {
    for (;;) {
      std::optional<tagged> r = co_await set.next(where);
      if (!r) {
        break;
      }
      done.push_back(std::move(*r));
      if (done.back().second.value || done.back().second.error) {
        break; // the first completion decides; the rest are cancelled
      }
    }
  } catch (const operation_cancelled&) {
    // This task was cancelled (or a child before it started): settle the rest all the same.
  }
  set.cancel_all();
  while (!set.empty()) {
    try {
      std::optional<tagged> r = co_await set.settle_next(where);
      if (!r) {
        break;
      }
      done.push_back(std::move(*r));
    } catch (const operation_cancelled&) {
      // A child cancelled before it started: it produced nothing.
    }
  }
  std::optional<when_any_result<detail::non_void_t<T>>> out;
  const tagged* failed_first = nullptr;
  for (tagged& d : done) {
    if (d.second.value) {
      if (!out) {
        out.emplace(d.first, std::move(*d.second.value));
      } else {
        out->also_completed.emplace_back(d.first, std::move(*d.second.value));
      }
    } else if (d.second.error && failed_first == nullptr) {
      failed_first = &d;
    }
  }
  // The failure that is rethrown is observed; every other one is reported, never dropped.
  const tagged* rethrown = out ? nullptr : failed_first;
  for (const tagged& d : done) {
    if (d.second.error && &d != rethrown) {
      detail::report_unobserved(ids[d.first], "when_any", where, d.second.error);
    }
  }
  if (rethrown != nullptr) {
    std::rethrow_exception(rethrown->second.error);
  }
  if (!out) {
    throw operation_cancelled{};
  }
  co_return std::move(*out);
}

/// As the vector form, for tasks given as arguments.
template <typename T, typename... Rest>
task<when_any_result<detail::non_void_t<T>>> when_any(task<T> first, task<Rest>... rest) {
  std::vector<task<T>> ts;
  ts.reserve(1 + sizeof...(Rest));
  ts.push_back(std::move(first));
  (ts.push_back(std::move(rest)), ...);
  return when_any(std::move(ts));
}

} // namespace zokio

// `auto [index, value] = co_await when_any(...)` binds the pair, as before when_any_result had
// `also_completed`.
template <typename T>
struct std::tuple_size<zokio::when_any_result<T>> : std::integral_constant<std::size_t, 2> {};
template <std::size_t I, typename T>
struct std::tuple_element<I, zokio::when_any_result<T>>
    : std::tuple_element<I, std::pair<std::size_t, T>> {};
