#pragma once

#include <zokio/detail/timer_entry.hpp>

#include <uv.h>

#include <cstdint>
#include <vector>

// The timer driver of one worker: a binary min-heap of timer_entry (deadline, then arrival
// order) behind a single uv_timer_t. Entries live in the awaiters that armed them; the heap
// stores pointers and keeps each entry's index so that removal (cancellation) is O(log n).
// Owner thread only. The uv handles are heap-allocated and freed in their close callbacks.
//
// libuv judges its timers by a cached millisecond clock (CLOCK_MONOTONIC_COARSE where that is
// fine enough), so its timer may fire just before a deadline that falls inside a millisecond,
// and the next millisecond tick is then up to 1 ms late. While any timer is armed, an
// unreferenced uv_check_t also compares the first deadline with the precise clock once per loop
// turn: a worker that is busy (a turn per ready-queue drain) wakes its sleepers within a turn of
// their deadline; an idle worker still sleeps in the poll until libuv's timer.

namespace zokio::detail {

class timer_driver {
public:
  void init(uv_loop_t* loop, worker_core* owner);
  void add(timer_entry* e);
  void remove(timer_entry* e) noexcept;
  std::size_t size() const noexcept { return m_heap.size(); }
  /// Stops the timer and the check left running when the heap emptied. The worker calls it
  /// before it blocks in the poll.
  void settle() noexcept;
  /// Closes the uv timer; entries left belong to frames that never unwound and are dropped.
  void close() noexcept;

private:
  static void on_timer(uv_timer_t* t) noexcept;
  static void on_check(uv_check_t* c) noexcept;
  void fire_expired() noexcept;
  void rearm() noexcept;
  bool less(const timer_entry* a, const timer_entry* b) const noexcept {
    return a->m_deadline_ns < b->m_deadline_ns ||
           (a->m_deadline_ns == b->m_deadline_ns && a->m_seq < b->m_seq);
  }
  void place(std::size_t i, timer_entry* e) noexcept {
    m_heap[i] = e;
    e->m_heap_index = i;
  }
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;

  uv_loop_t* m_loop = nullptr;
  worker_core* m_owner = nullptr;
  uv_timer_t* m_timer = nullptr;
  uv_check_t* m_check = nullptr; // active while the heap is not empty, and until settle()
  std::vector<timer_entry*> m_heap;
  std::int64_t m_armed_for = INT64_MAX;
  bool m_timer_unrefd = false; // the heap emptied with m_timer left armed, unreferenced
  std::uint64_t m_seq = 0;
};

} // namespace zokio::detail
