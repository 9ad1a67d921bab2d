#pragma once

#include <zokio/detail/refcount.hpp>
#include <zokio/util/site.hpp>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

// The record of one spawned task: what diagnostics read and what the scheduler queues.
//
// Ownership and threads:
// - A record is a block of its own beside the task's body (the coroutine frame of the task<T>
//   that was spawned), which it owns. The worker resumes the body; when the body has finished,
//   the worker takes its outcome into the record and frees the body's frame at once. The record
//   is reference counted: one reference for the running task, one for its join_handle. The last
//   release frees it.
// - Fields under "owner" are touched only by the thread that drives the task's worker.
// - Fields under "any thread" are atomics. Diagnostics read them from other threads with relaxed
//   loads; a dump may show a slightly stale state, never a torn or freed one.
// - `m_outcome` and `m_error` are written by the owner before `m_joiner` is exchanged to
//   `joiner_done` (release) and read by others only after observing `joiner_done` (acquire).
// - `m_joiner` is none, a completion_waiter* (a join, join_set, scope or timeout waits), detached
//   (the handle let go first) or done. Only the owner moves it to done; once it is detached,
//   only the owner writes it at all, which spares finish_task an atomic exchange.

namespace zokio::detail {

struct worker_core;
struct awaiter_base;
struct task_record;

enum class task_state : std::uint8_t { scheduled, running, suspended, done };

/// What a suspended task waits on. External waits (timers, I/O, files, signals, blocking jobs)
/// can make progress without any task running; internal ones only when another task acts.
enum class wait_kind : std::uint8_t {
  none,
  yield,
  timer,
  join,
  oneshot,
  event,
  blocking,
  io,
  file,
  signal,
  channel,
  mutex,
  semaphore,
};

constexpr bool is_external(wait_kind k) noexcept {
  return k == wait_kind::timer || k == wait_kind::blocking || k == wait_kind::io ||
         k == wait_kind::file || k == wait_kind::signal;
}

const char* to_string(wait_kind k) noexcept;
const char* to_string(task_state s) noexcept;

enum class task_outcome : std::uint8_t { pending, value, error, cancelled };

/// Notified once when a task finishes. The join awaiter, join_set and timeout implement it.
struct completion_waiter {
  void (*m_notify)(completion_waiter* self, task_record* done) noexcept = nullptr;
};

inline constexpr std::uintptr_t joiner_none = 0;
inline constexpr std::uintptr_t joiner_done = 1;
/// The join_handle let go without a joiner: nobody but the owner writes m_joiner any more, so
/// finish_task stores joiner_done instead of exchanging it, and it reports a failure.
inline constexpr std::uintptr_t joiner_detached = 2;
/// Or'ed into the address of a waiter registered with `same_worker` (set_joiner) in m_joiner.
/// finish_task learns from the word alone that it may store: it must not read a waiter it has
/// not taken, which a joiner on another thread frees once its clear_joiner wins.
inline constexpr std::uintptr_t joiner_same_worker = 4;
static_assert(alignof(completion_waiter) > joiner_same_worker);

/// What differs between the records of tasks of different result types.
struct task_ops {
  /// Takes the outcome from the task's finished body (its value or exception) into the record,
  /// and frees the body's frame. A body that never started (cancelled first) has no outcome to
  /// take: m_outcome is already set, only the frame goes.
  void (*complete)(task_record*) noexcept;
  /// Frees the record, and the body's frame if it is still there (a task left behind).
  void (*destroy)(task_record*) noexcept;
};

/// A name that outlives every task given it: a constant of the runtime's own spawns (timeout,
/// block_on), named by address instead of copied.
struct fixed_name {
  std::string_view text;
};

inline constexpr fixed_name block_on_name{"block_on"};
inline constexpr fixed_name timeout_name{"timeout"};

/// A task's name: one pointer, allocated only for a task that was given a name of its own. A
/// fixed_name is held by address, tagged in the low bit (an allocated name is aligned).
class task_name {
public:
  task_name() noexcept = default;
  task_name(const task_name&) = delete;
  task_name& operator=(const task_name&) = delete;
  ~task_name() { free(); }

  void assign(std::string_view s) {
    char* p = new char[sizeof(std::size_t) + s.size()];
    const std::size_t n = s.size();
    std::memcpy(p, &n, sizeof n);
    std::memcpy(p + sizeof n, s.data(), n);
    free();
    m_bits = reinterpret_cast<std::uintptr_t>(p);
  }
  void assign(const fixed_name& f) noexcept {
    static_assert(alignof(fixed_name) > 1);
    free();
    m_bits = reinterpret_cast<std::uintptr_t>(&f) | fixed_tag;
  }
  std::string_view view() const noexcept {
    if (m_bits == 0) {
      return {};
    }
    if ((m_bits & fixed_tag) != 0) {
      return reinterpret_cast<const fixed_name*>(m_bits & ~fixed_tag)->text;
    }
    const auto* p = reinterpret_cast<const char*>(m_bits);
    std::size_t n = 0;
    std::memcpy(&n, p, sizeof n);
    return {p + sizeof n, n};
  }
  operator std::string_view() const noexcept { return view(); }

private:
  static constexpr std::uintptr_t fixed_tag = 1;

  void free() noexcept {
    if ((m_bits & fixed_tag) == 0) {
      delete[] reinterpret_cast<char*>(m_bits);
    }
  }

  std::uintptr_t m_bits = 0; // an allocated name (its length, then its characters), or tagged
};

// The fields are ordered by size so that the record has no padding: it is part of every task's
// root frame (the per-task memory of docs/decisions.md).
struct task_record {
  // --- owner ---
  task_record* m_next = nullptr;    // ready or deferred queue link
  std::coroutine_handle<> m_resume; // where the task goes on: its innermost suspended frame
  std::coroutine_handle<> m_body;   // the task's outermost frame, until complete() frees it
  union {
    /// Until the task finishes: the await it is suspended in, for cancellation.
    awaiter_base* m_awaiter = nullptr;
    /// Once it finished with task_outcome::error (set_error): what it threw, written by the
    /// owner before the joiner word says done (see above). It shares its word with m_awaiter,
    /// which nothing reads once the task is done (docs/decisions.md, "A failed task's error
    /// takes the word of its awaiter").
    std::exception_ptr m_error;
  };
  worker_core* m_worker = nullptr;

  // --- under the worker's live-list lock ---
  task_record* m_live_prev = nullptr;
  task_record* m_live_next = nullptr;

  // --- set before the task is scheduled, then immutable ---
  std::uint64_t m_id = 0;
  task_name m_name;
  site m_spawn_site;
  std::uint64_t m_spawned_at = 0; // ticks()
  const task_ops* m_ops = nullptr;

  // --- any thread (relaxed) ---
  std::atomic<const char*> m_wait_file{""};
  std::atomic<std::uint64_t> m_wait_target{0}; // id of the task joined (a wait-for edge)
  std::atomic<std::uint64_t> m_resumes{0};
  std::atomic<std::uint64_t> m_busy_ticks{0};
  /// Wakes the task issued for itself while it ran (yield_now, or completing what it then
  /// awaits): written by the owner only (worker_core::local_wake), a plain load and store. Every
  /// resume after the first follows exactly one wake, so the wakes are the resumes but one (plus
  /// one while the task is scheduled): the console's woken_without_progress lint compares both.
  std::atomic<std::uint64_t> m_self_wakes{0};

  // --- completion ---
  std::atomic<std::uintptr_t> m_joiner{joiner_none}; // none, detached, done, or a waiter
  std::atomic<std::uint32_t> m_refs{2};

  // --- any thread (relaxed) ---
  std::atomic<std::uint32_t> m_wait_line{0};
  std::atomic<task_state> m_state{task_state::scheduled};
  std::atomic<wait_kind> m_wait_kind{wait_kind::none};
  std::atomic<bool> m_cancel_requested{false};

  // --- completion ---
  /// Set by a detach that found a completion_waiter still registered (m_joiner could not become
  /// detached); finish_task then reads it after its exchange. error_reported makes sure a failure
  /// is reported once when both sides see it.
  std::atomic<bool> m_detached{false};
  std::atomic<bool> m_error_reported{false};
  task_outcome m_outcome = task_outcome::pending;
  /// Owner only: an await of this task failed because cancellation was requested (it threw
  /// operation_cancelled or returned errc::operation_canceled). After that, what the task returns
  /// is a consequence of the cancellation, not a completed operation (timeout, when_any).
  bool m_cancel_seen = false;

  task_record() noexcept {} // m_awaiter, the union's first member, by its initializer
  task_record(const task_record&) = delete;
  task_record& operator=(const task_record&) = delete;
  ~task_record() {
    if (m_outcome == task_outcome::error) {
      std::destroy_at(&m_error);
    }
  }

  /// The task finished by throwing `e` (owner, once, after its last await).
  void set_error(std::exception_ptr e) noexcept {
    std::construct_at(&m_error, std::move(e));
    m_outcome = task_outcome::error;
  }

  bool done() const noexcept { return m_joiner.load(std::memory_order_acquire) == joiner_done; }

  /// Registers `w` to be notified at completion. False when the task is already done.
  /// `same_worker`: `w` is a join from a task on this task's own worker. The waiting task and the
  /// handle it holds are then on the thread that finishes the task, so while it is registered
  /// nothing else writes the word: plain stores here and in finish_task. clear_joiner must be
  /// given the same flag.
  bool set_joiner(completion_waiter* w, bool same_worker = false) noexcept {
    if (same_worker) {
      // The task cannot finish meanwhile (it finishes on this thread), and only the handle's
      // holder writes the word otherwise.
      if (m_joiner.load(std::memory_order_relaxed) != joiner_none) {
        return false;
      }
      m_joiner.store(reinterpret_cast<std::uintptr_t>(w) | joiner_same_worker,
                     std::memory_order_relaxed);
      return true;
    }
    std::uintptr_t expected = joiner_none;
    return m_joiner.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(w),
                                            std::memory_order_acq_rel, std::memory_order_acquire);
  }

  /// Whether a join from `joiner` may register with `same_worker` (set_joiner): it runs on this
  /// task's worker, and neither task ever moves.
  bool same_worker_as(const task_record* joiner) const noexcept {
    return m_worker == joiner->m_worker;
  }

  /// Withdraws `w`. False when completion already took it (then it is being notified).
  bool clear_joiner(completion_waiter* w, bool same_worker = false) noexcept {
    auto expected = reinterpret_cast<std::uintptr_t>(w) | (same_worker ? joiner_same_worker : 0);
    if (same_worker) {
      // While it is registered, only this thread writes the word (set_joiner): finish_task on
      // the task's worker, the handle's holder; a second joiner's exchange fails without writing.
      if (m_joiner.load(std::memory_order_relaxed) != expected) {
        return false;
      }
      m_joiner.store(joiner_none, std::memory_order_relaxed);
      return true;
    }
    return m_joiner.compare_exchange_strong(expected, joiner_none, std::memory_order_acq_rel,
                                            std::memory_order_acquire);
  }

  void add_ref() noexcept { m_refs.fetch_add(1, std::memory_order_relaxed); }
  /// Drops one reference; the last frees the record (release_ref).
  void release() noexcept {
    if (release_ref(m_refs)) {
      m_ops->destroy(this);
    }
  }
};

static_assert(sizeof(void*) != 8 || sizeof(task_record) == 176,
              "the record fills a 176-byte class of the frame pool: see docs/decisions.md");

// Defined in the runtime: mark done, notify the joiner, count, report detached failures.
void finish_task(task_record* t) noexcept;
// Called when a join_handle lets go of its task without having observed its outcome.
void detach_task(task_record* t) noexcept;
// Requests cancellation from any thread.
void cancel_task(task_record* t) noexcept;

} // namespace zokio::detail
