#pragma once

#include <zokio/detail/worker_core.hpp>
#include <zokio/task/join_handle.hpp>
#include <zokio/task/task.hpp>
#include <zokio/util/site.hpp>

#include <string_view>

namespace zokio {

/// Options of one spawn: `spawn(t, {.name = "acceptor"})`.
struct spawn_options {
  /// Shown in task dumps, deadlock reports and stall reports. Copied.
  std::string_view name{};
};

namespace detail {

/// Names the record and hands it to worker `w`: directly when this thread drives `w`, through
/// its inbox otherwise.
void schedule_new(worker_core* w, task_record* t, std::string_view name, const site& where);
/// The same with a name that is not copied (`name` outlives the task).
void schedule_new(worker_core* w, task_record* t, const fixed_name& name, const site& where);
/// Worker `index` of the runtime this thread drives.
worker_core* current_runtime_worker(unsigned index);

/// `name`: a std::string_view (copied) or a fixed_name.
template <typename T, typename Name>
join_handle<T> spawn_on_worker(worker_core* w, task<T>&& t, const Name& name, const site& where) {
  root_promise<T>* rec = make_root(std::move(t));
  join_handle<T> h(rec);
  schedule_new(w, rec, name, where);
  return h;
}

} // namespace detail

/// Runs `t` concurrently on the current worker and returns its handle. The task stays on that
/// worker for its whole life.
///
/// Throws `no_runtime_error` where no runtime runs: Zokio never runs a spawned task inline.
template <typename T>
join_handle<T> spawn(task<T> t, spawn_options opts = {}, site where = site::current()) {
  detail::worker_core* w = detail::t_worker;
  if (w == nullptr) [[unlikely]] {
    detail::throw_no_runtime("zokio::spawn");
  }
  return detail::spawn_on_worker(w, std::move(t), opts.name, where);
}

/// Runs `t` on worker `worker` of the current runtime (std::out_of_range if there is none).
/// Its result comes back through the handle from that worker's thread.
template <typename T>
join_handle<T> spawn_on(unsigned worker, task<T> t, spawn_options opts = {},
                        site where = site::current()) {
  return detail::spawn_on_worker(detail::current_runtime_worker(worker), std::move(t), opts.name,
                                 where);
}

} // namespace zokio
