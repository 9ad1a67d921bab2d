#include "time/timer_driver.hpp"

#include "runtime/worker.hpp"

namespace zokio::detail {

void timer_driver::init(uv_loop_t* loop, worker_core* owner) {
  m_loop = loop;
  m_owner = owner;
  m_timer = new uv_timer_t;
  uv_timer_init(loop, m_timer);
  m_timer->data = this;
  m_check = new uv_check_t;
  uv_check_init(loop, m_check);
  m_check->data = this;
  // Never what keeps a loop alive, nor an external wait for deadlock detection: the timer is.
  uv_unref(reinterpret_cast<uv_handle_t*>(m_check));
}

void timer_driver::add(timer_entry* e) {
  e->m_seq = m_seq++;
  m_heap.push_back(e);
  place(m_heap.size() - 1, e);
  sift_up(m_heap.size() - 1);
  m_owner->m_stats.timers_pending.add();
  if (m_heap.size() == 1) {
    if (m_timer_unrefd) {
      // Left armed when the heap emptied (see remove): it counts again as pending work.
      uv_ref(reinterpret_cast<uv_handle_t*>(m_timer));
      m_timer_unrefd = false;
    }
    uv_check_start(m_check, &timer_driver::on_check); // returns at once if still active
  }
  if (m_heap.front() == e) {
    rearm();
  }
}

void timer_driver::remove(timer_entry* e) noexcept {
  if (!e->armed()) {
    return;
  }
  const std::size_t i = e->m_heap_index;
  timer_entry* last = m_heap.back();
  m_heap.pop_back();
  e->m_heap_index = timer_entry::not_armed;
  m_owner->m_stats.timers_pending.sub();
  if (last != e) {
    place(i, last);
    sift_up(i);
    sift_down(last->m_heap_index);
  }
  if (m_heap.empty()) {
    // Left armed and the check left running: the next add, often in the same turn (a timeout
    // around an operation that completed, a sleep in a loop), then finds the timer armed for an
    // earlier deadline and starts nothing, where stopping here and starting again cost two
    // clock reads and four libuv calls per timer. Unreferenced, so that it keeps no loop alive
    // and counts as no pending work (deadlock detection); stopped before the worker blocks
    // (settle), so that an idle loop does not wake for it.
    uv_unref(reinterpret_cast<uv_handle_t*>(m_timer));
    m_timer_unrefd = true;
  }
  // A later first deadline is left armed: the callback finds nothing due and re-arms.
}

void timer_driver::settle() noexcept {
  if (m_heap.empty() && m_timer_unrefd) {
    uv_timer_stop(m_timer);
    uv_check_stop(m_check);
    uv_ref(reinterpret_cast<uv_handle_t*>(m_timer)); // stopped: counted again once started
    m_timer_unrefd = false;
    m_armed_for = INT64_MAX;
  }
}

void timer_driver::close() noexcept {
  for (timer_entry* e : m_heap) {
    e->m_heap_index = timer_entry::not_armed;
  }
  m_heap.clear();
  if (m_timer != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(m_timer),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    m_timer = nullptr;
  }
  if (m_check != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(m_check),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
    m_check = nullptr;
  }
}

void timer_driver::on_timer(uv_timer_t* t) noexcept {
  auto* self = static_cast<timer_driver*>(t->data);
  self->m_armed_for = INT64_MAX;
  self->fire_expired();
  self->rearm();
  // libuv runs timers before it polls, and computes the poll's timeout without knowing that a
  // task just became ready: in a turn of uv_run(UV_RUN_ONCE) that started late, the poll would
  // then block (for ever, if nothing else is pending) with the woken task in the ready queue.
  // uv_stop makes this turn's poll return at once; libuv clears the flag when uv_run returns.
  if (!self->m_owner->m_ready.empty()) {
    uv_stop(self->m_loop);
  }
}

void timer_driver::on_check(uv_check_t* c) noexcept {
  auto* self = static_cast<timer_driver*>(c->data);
  // After this turn's poll: the worker drains its ready queue when uv_run returns.
  if (!self->m_heap.empty() && self->m_heap.front()->m_deadline_ns <= now_ns()) {
    self->fire_expired();
    self->rearm();
  }
}

void timer_driver::fire_expired() noexcept {
  const std::int64_t now = now_ns();
  while (!m_heap.empty() && m_heap.front()->m_deadline_ns <= now) {
    timer_entry* e = m_heap.front();
    remove(e);
    e->m_on_fire(e); // queues the task; never resumes it here
  }
}

void timer_driver::rearm() noexcept {
  if (m_heap.empty()) {
    return;
  }
  const std::int64_t due = m_heap.front()->m_deadline_ns;
  // Already armed for this deadline or an earlier one. (A saturated deadline equals the
  // "not armed" mark, so the handle's own state decides.)
  if (due >= m_armed_for && uv_is_active(reinterpret_cast<uv_handle_t*>(m_timer)) != 0) {
    return;
  }
  // libuv counts in milliseconds from its cached loop time: refresh it and round up, so the
  // timer never fires before the deadline.
  uv_update_time(m_loop);
  // Saturating: a deadline may be as early as INT64_MIN (`time_point::min()`).
  const std::int64_t left = saturating_sub(due, now_ns());
  // Round up without adding first: `left` may be as large as INT64_MAX (a saturated deadline).
  const std::uint64_t ms =
      left <= 0 ? 0
                : static_cast<std::uint64_t>(left / 1'000'000 + (left % 1'000'000 != 0 ? 1 : 0));
  m_armed_for = due;
  uv_timer_start(m_timer, &timer_driver::on_timer, ms, 0);
}

void timer_driver::sift_up(std::size_t i) noexcept {
  timer_entry* e = m_heap[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!less(e, m_heap[parent])) {
      break;
    }
    place(i, m_heap[parent]);
    i = parent;
  }
  place(i, e);
}

void timer_driver::sift_down(std::size_t i) noexcept {
  const std::size_t n = m_heap.size();
  timer_entry* e = m_heap[i];
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) {
      break;
    }
    if (child + 1 < n && less(m_heap[child + 1], m_heap[child])) {
      ++child;
    }
    if (!less(m_heap[child], e)) {
      break;
    }
    place(i, m_heap[child]);
    i = child;
  }
  place(i, e);
}

void timer_add(worker_core* w, timer_entry* e) {
  static_cast<worker*>(w)->timers().add(e);
}

void timer_remove(worker_core* w, timer_entry* e) noexcept {
  static_cast<worker*>(w)->timers().remove(e);
}

} // namespace zokio::detail
