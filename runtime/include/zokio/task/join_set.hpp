#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/task/spawn.hpp>

#include <deque>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <variant>

namespace zokio {

namespace detail {
template <typename T>
using non_void_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
} // namespace detail

/// Spawns many tasks and yields their results as they finish. Destroying the set cancels the
/// tasks still running.
///
/// Retention: a finished task stays in the set, its frame and its value or exception with it,
/// until `next()` takes it; `size()` counts finished tasks not yet taken as well as running
/// ones. A set nobody drains grows with every task ever spawned into it (a server spawning each
/// connection into a join_set and never calling `next()` keeps every closed connection's frame).
/// For fire-and-forget children whose results nobody collects, use `task_scope`
/// (`<zokio/task/scope.hpp>`): it frees each child as it finishes and waits for all at `close()`.
///
/// Thread-safety: a join_set and its tasks belong to the worker that created it; use it from
/// tasks on that worker only.
template <typename T>
class join_set {
public:
  using value_type = detail::non_void_t<T>;

  join_set() noexcept {
    m_notifier.m_owner = this;
    m_notifier.m_notify = [](detail::completion_waiter* w, detail::task_record* done) noexcept {
      auto* self = static_cast<notifier*>(w)->m_owner;
      self->m_done.push_back(static_cast<detail::root_promise<T>*>(done));
      if (self->m_waiter != nullptr) {
        std::exchange(self->m_waiter, nullptr)->fire();
      }
    };
  }
  join_set(const join_set&) = delete;
  join_set& operator=(const join_set&) = delete;
  ~join_set() { abort_all(); }

  /// Spawns `t` on the current worker into the set; returns its task id.
  std::uint64_t spawn(task<T> t, spawn_options opts = {}, site where = site::current()) {
    join_handle<T> h = zokio::spawn(std::move(t), opts, where);
    detail::root_promise<T>* rec = detail::record_of(h);
    if (!rec->set_joiner(&m_notifier)) {
      m_done.push_back(rec);
    }
    const std::uint64_t id = h.id();
    m_tasks.emplace(rec, std::move(h));
    return id;
  }

  std::size_t size() const noexcept { return m_tasks.size(); }
  bool empty() const noexcept { return m_tasks.empty(); }

  /// Requests cancellation of every task in the set; they still finish and come out of next().
  void cancel_all() noexcept {
    for (auto& [rec, h] : m_tasks) {
      h.cancel();
    }
  }

  /// `Settle`: the runtime's own uninterruptible form (detail::settle_awaiter explains it).
  template <bool Settle>
  class basic_next_awaiter final : public detail::counted_awaiter<basic_next_awaiter<Settle>> {
  public:
    static constexpr detail::wait_kind kind = detail::wait_kind::join;
    static constexpr bool ignores_cancel = Settle;
    basic_next_awaiter(join_set& s, const site& where) noexcept
        : detail::counted_awaiter<basic_next_awaiter>(where), m_set(s) {}
    bool ready() const noexcept { return !m_set.m_done.empty() || m_set.m_tasks.empty(); }
    bool arm() noexcept {
      m_set.m_waiter = this;
      return true;
    }
    bool withdraw() noexcept {
      if constexpr (Settle) {
        return false;
      } else {
        m_set.m_waiter = nullptr;
        return true;
      }
    }
    std::optional<value_type> take() {
      this->throw_if_cancelled();
      if (m_set.m_done.empty()) {
        return std::nullopt;
      }
      detail::root_promise<T>* rec = m_set.m_done.front();
      m_set.m_done.pop_front();
      auto it = m_set.m_tasks.find(rec);
      join_handle<T> h = std::move(it->second);
      m_set.m_tasks.erase(it);
      if constexpr (std::is_void_v<T>) {
        h.take_finished();
        return value_type{};
      } else {
        return h.take_finished();
      }
    }

  private:
    join_set& m_set;
  };
  using next_awaiter = basic_next_awaiter<false>;

  /// The next task to finish: its value, or its exception rethrown, or operation_cancelled if
  /// it was cancelled. `std::nullopt` once the set is empty.
  next_awaiter next(site where = site::current()) noexcept { return next_awaiter(*this, where); }

  /// As next(), but a cancellation of the awaiting task does not interrupt it: for waiting until
  /// cancelled members have unwound (when_any). Not for general use.
  basic_next_awaiter<true> settle_next(site where = site::current()) noexcept {
    return basic_next_awaiter<true>(*this, where);
  }

private:
  struct notifier : detail::completion_waiter {
    join_set* m_owner = nullptr;
  };

  void abort_all() noexcept {
    for (auto& [rec, h] : m_tasks) {
      rec->clear_joiner(&m_notifier);
      h.cancel();
    }
    m_tasks.clear(); // detaches
  }

  notifier m_notifier;
  std::unordered_map<detail::root_promise<T>*, join_handle<T>> m_tasks;
  std::deque<detail::root_promise<T>*> m_done;
  detail::awaiter_base* m_waiter = nullptr;
};

} // namespace zokio
