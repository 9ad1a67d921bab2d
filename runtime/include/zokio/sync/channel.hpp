#pragma once

#include <zokio/detail/awaiter.hpp>
#include <zokio/detail/biased_lock.hpp>
#include <zokio/detail/refcount.hpp>
#include <zokio/detail/spinlock.hpp>
#include <zokio/util/site.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

// A multi-producer, single-consumer channel shared by tasks on any worker.
//
// Shared state (`channel_state`), reference counted by every sender and the receiver:
// - `m_mutex` (a spinlock, biased to the worker that made the channel until another thread
//   takes it: worker_biased_lock) guards everything below it: the queue of values, the closed
//   flag, and the two waiter lists (blocked senders, waiting receivers) with each waiter's links,
//   value slot and outcome. It is never held across a suspension, and tasks are woken after it
//   is released.
// - `m_rx_buf` is the receiver's alone: on an unbounded channel, a receive that finds several
//   values queued moves them all there under the lock, and the receives after it take them
//   without the lock (nothing else reads them; the receiver is used by one task at a time).
// - `m_senders` counts the live senders (the last one to go closes the channel); `m_refs` counts
//   the handles keeping the state alive.
//
// Invariants (under the lock): a receiver waits only while the buffer is empty, and a sender
// waits only while a bounded buffer is full. So a send that finds a waiting receiver hands the
// value straight to it, and a receive that frees a slot moves the first blocked sender's value in:
// values keep their send order and every wake moves exactly one value.
//
// Cancellation never loses a value. A waiter is unlinked under the lock either by the side that
// completes it (which then claims it and fills in its value or outcome) or by `withdraw`, never
// both. A cancelled receiver was never given a value, and a cancelled sender's value was never
// queued; a waiter completed first resumes normally with its value, even if cancellation was
// requested meanwhile.

namespace zokio {

template <typename T>
class sender;
template <typename T>
class receiver;

/// What `sender::try_send` did.
enum class send_status : std::uint8_t {
  sent,   ///< queued, or handed to a waiting receiver
  full,   ///< a bounded channel is at capacity; the value was not taken
  closed, ///< the channel is closed; the value was not taken
};

namespace detail {

/// Maps `bytes` (a whole number of pages) of zeroed memory with every page already faulted in
/// (MAP_POPULATE on Linux: one system call instead of a page fault per 4 KiB on first touch).
/// Throws std::bad_alloc.
void* map_queue_block(std::size_t bytes);
void unmap_queue_block(void* p, std::size_t bytes) noexcept;

/// The channel's queue: a list of blocks (about 4 KiB of values each, or the bound of a smaller
/// bounded channel). A send past the last block links a new one; a receive that empties a block
/// unlinks it and keeps it as the spare, so a channel in steady state allocates nothing per
/// message, a burst never copies the values already queued (as a doubling ring would), and a
/// drained queue gives its memory back but for one block.
/// An unbounded queue holding more than four blocks' worth grows: each new block twice the last,
/// four times once they are 64 KiB, up to 2 MiB. From 64 KiB on, a block is mapped with its pages
/// faulted in at once, so a deep backlog costs a system call per block instead of a page fault
/// per page, and a 2 MiB block is aligned and mapped as one transparent huge page where the
/// system gives them (docs/decisions.md, "A deep unbounded backlog gets larger blocks" and "A
/// deep backlog is queued in huge pages"). Only base-size blocks are kept as the spare.
/// Not thread-safe.
template <typename T>
class channel_queue {
public:
  explicit channel_queue(std::size_t capacity = 0) noexcept
      : m_block_slots(slots_for(capacity)), m_grows(capacity == 0) {}
  channel_queue(const channel_queue&) = delete;
  channel_queue& operator=(const channel_queue&) = delete;
  ~channel_queue() {
    clear();
    free_block(m_spare);
  }

  std::size_t size() const noexcept { return m_size; }
  bool empty() const noexcept { return m_size == 0; }

  /// Appends. May throw std::bad_alloc (a new block), before anything changed.
  void push_back(T&& v) {
    if (m_tail_block == nullptr || m_tail == m_tail_block->m_slots) {
      link_block();
    }
    std::construct_at(slot(m_tail_block, m_tail), std::move(v));
    ++m_tail;
    ++m_size;
  }

  /// Sets a block aside now, so that the next push past a block's end does not allocate. May
  /// throw std::bad_alloc. (Bounded queues only: their blocks are all of the base size.)
  void reserve_spare() {
    if (m_spare == nullptr) {
      m_spare = new_block(m_block_slots);
    }
  }

  /// Removes the oldest value. The queue must not be empty.
  T pop_front() noexcept {
    T* p = slot(m_head_block, m_head);
    T v = std::move(*p);
    std::destroy_at(p);
    ++m_head;
    if (--m_size == 0) {
      m_head = m_tail = 0; // one block left, reused from its start (a ping-pong stays in it)
    } else if (m_head == m_head_block->m_slots) {
      block* done = std::exchange(m_head_block, m_head_block->m_next);
      m_head = 0;
      recycle(done);
    }
    return v;
  }

  void swap(channel_queue& o) noexcept {
    std::swap(m_head_block, o.m_head_block);
    std::swap(m_tail_block, o.m_tail_block);
    std::swap(m_spare, o.m_spare);
    std::swap(m_head, o.m_head);
    std::swap(m_tail, o.m_tail);
    std::swap(m_size, o.m_size);
    std::swap(m_block_slots, o.m_block_slots);
    std::swap(m_grows, o.m_grows);
  }

  /// Destroys every value and frees every block but the spare.
  void clear() noexcept {
    while (m_size > 0) {
      (void)pop_front();
    }
    if (m_head_block != nullptr) {
      recycle(m_head_block);
    }
    m_head_block = m_tail_block = nullptr;
    m_head = m_tail = 0;
  }

private:
  struct block {
    block* m_next;
    std::size_t m_slots;
  };
  static constexpr std::size_t k_align = alignof(T) > alignof(block) ? alignof(T) : alignof(block);
  static constexpr std::size_t k_offset =
      (sizeof(block) + alignof(T) - 1) / alignof(T) * alignof(T);
  static constexpr std::size_t k_grow_after = 4; // base blocks' worth queued
  // A grown block's limit: one huge page (detail::huge_page_bytes, runtime/src/runtime), which
  // map_queue_block maps with map_huge.
  static constexpr std::size_t k_max_block_bytes = 2u << 20;
  static constexpr std::size_t k_mapped_bytes = 64u << 10; // from here on, mapped
  static constexpr std::size_t k_page = 4096;
  // The aligned operator new only where the values need it: glibc serves it with memalign, which
  // splits each block out of a larger chunk and leaves the remainders in its bins.
  static constexpr bool k_overaligned = k_align > __STDCPP_DEFAULT_NEW_ALIGNMENT__;

  static std::size_t slots_for(std::size_t capacity) noexcept {
    std::size_t n = 4096 / sizeof(T);
    if (n < 8) {
      n = 8;
    }
    return capacity != 0 && capacity < n ? capacity : n;
  }
  static std::size_t bytes_for(std::size_t slots) noexcept { return k_offset + slots * sizeof(T); }
  static bool mapped(std::size_t bytes) noexcept {
    return bytes >= k_mapped_bytes && k_align <= k_page;
  }
  static std::size_t whole_pages(std::size_t bytes) noexcept {
    return (bytes + k_page - 1) / k_page * k_page;
  }
  static T* slot(block* b, std::size_t i) noexcept {
    return reinterpret_cast<T*>(reinterpret_cast<std::byte*>(b) + k_offset) + i;
  }

  /// The slots of the next tail block: the base, or on an unbounded queue with a deep backlog
  /// twice the current tail's, four times a mapped one's (within k_max_block_bytes, whole pages
  /// once mapped).
  std::size_t next_slots() const noexcept {
    if (!m_grows || m_tail_block == nullptr || m_size < k_grow_after * m_block_slots) {
      return m_block_slots;
    }
    const std::size_t most = (k_max_block_bytes - k_offset) / sizeof(T);
    const std::size_t factor = mapped(bytes_for(m_tail_block->m_slots)) ? 4 : 2;
    std::size_t slots = m_tail_block->m_slots * factor;
    if (slots > most) {
      slots = most > m_block_slots ? most : m_block_slots;
    }
    if (const std::size_t bytes = bytes_for(slots); mapped(bytes)) {
      slots = (whole_pages(bytes) - k_offset) / sizeof(T); // fill the pages
    }
    return slots;
  }
  void link_block() {
    const std::size_t slots = next_slots();
    block* b = slots == m_block_slots && m_spare != nullptr ? std::exchange(m_spare, nullptr)
                                                            : new_block(slots);
    b->m_next = nullptr;
    if (m_tail_block != nullptr) {
      m_tail_block->m_next = b;
    } else {
      m_head_block = b;
      m_head = 0;
    }
    m_tail_block = b;
    m_tail = 0;
  }
  static block* new_block(std::size_t slots) {
    const std::size_t bytes = bytes_for(slots);
    void* p = mapped(bytes)   ? map_queue_block(whole_pages(bytes))
              : k_overaligned ? ::operator new (bytes, std::align_val_t{k_align})
                              : ::operator new(bytes);
    return ::new (p) block{nullptr, slots};
  }
  static void free_block(block* b) noexcept {
    if (b == nullptr) {
      return;
    }
    const std::size_t bytes = bytes_for(b->m_slots);
    if (mapped(bytes)) {
      unmap_queue_block(b, whole_pages(bytes));
    } else if constexpr (k_overaligned) {
      // Unsized: Clang does not declare sized deallocation functions by default.
      ::operator delete (b, std::align_val_t{k_align});
    } else {
      ::operator delete(b);
    }
  }
  void recycle(block* b) noexcept {
    if (m_spare == nullptr && b->m_slots == m_block_slots) {
      m_spare = b;
    } else {
      free_block(b);
    }
  }

  block* m_head_block = nullptr;
  block* m_tail_block = nullptr;
  block* m_spare = nullptr;
  std::size_t m_head = 0; // next value to receive: slot m_head of m_head_block
  std::size_t m_tail = 0; // next free slot of m_tail_block
  std::size_t m_size = 0;
  std::size_t m_block_slots; // the base block's
  bool m_grows;              // unbounded: deep backlogs get larger blocks
};

/// Whether a received `T` is written into its `std::optional<T>` slot as two whole words (see
/// fill_slot). Only where the layout is the one checked by sync_channel_test's
/// `a_filled_slot_reads_back`: an 8-byte trivially copyable value, then the engaged flag.
template <typename T>
inline constexpr bool fills_by_words = std::is_trivially_copyable_v<T>&&
                                           std::is_trivially_copyable_v<std::optional<T>> &&
                                       sizeof(T) == sizeof(std::uint64_t) &&
                                       alignof(T) == alignof(std::uint64_t) &&
                                       sizeof(std::optional<T>) == 2 * sizeof(std::uint64_t);

/// Puts `v` into a receiver's empty slot. `emplace` writes the engaged flag as one byte, and the
/// receive then returns the optional in two registers, loading the flag's word whole: a load
/// that a one-byte store cannot forward, so it waits until the store reaches the cache (16% of
/// mpsc_uncontended in `perf annotate`, docs/decisions.md "A received value is written as whole
/// words"). For a word-sized value the slot is written as the value and a whole flag word.
template <typename T, typename V>
void fill_slot(std::optional<T>& slot, V&& v) noexcept(std::is_nothrow_constructible_v<T, V&&>) {
  if constexpr (fills_by_words<T>) {
    struct words {
      T value;
      std::uint64_t engaged;
    };
    const words w{static_cast<T>(std::forward<V>(v)), 1};
    std::memcpy(static_cast<void*>(&slot), &w, sizeof w);
  } else {
    slot.emplace(std::forward<V>(v));
  }
}

template <typename T>
class channel_send_awaiter;
template <typename T>
class channel_recv_awaiter;

/// An intrusive FIFO of waiting awaiters, linked through their m_prev / m_next.
template <typename W>
struct channel_waiters {
  W* m_head = nullptr;
  W* m_tail = nullptr;

  bool empty() const noexcept { return m_head == nullptr; }
  void push(W* w) noexcept {
    w->m_prev = m_tail;
    w->m_next = nullptr;
    if (m_tail != nullptr) {
      m_tail->m_next = w;
    } else {
      m_head = w;
    }
    m_tail = w;
    w->m_linked = true;
  }
  void remove(W* w) noexcept {
    if (w->m_prev != nullptr) {
      w->m_prev->m_next = w->m_next;
    } else {
      m_head = w->m_next;
    }
    if (w->m_next != nullptr) {
      w->m_next->m_prev = w->m_prev;
    } else {
      m_tail = w->m_prev;
    }
    w->m_linked = false;
  }
  /// Unlinks and claims the first waiter; nullptr if none. A linked waiter is claimed by nobody
  /// else (cancellation withdraws under the same lock before it claims, so it never claims a
  /// linked waiter): the claim is a plain store, as in awaiter_base::fire_exclusive.
  W* pop_claimed() noexcept {
    W* w = m_head;
    if (w != nullptr) {
      remove(w);
      w->claim_exclusive();
    }
    return w;
  }
};

template <typename T>
class channel_state {
public:
  explicit channel_state(std::size_t capacity) noexcept
      : m_buf(capacity), m_rx_buf(capacity), m_capacity(capacity) {}

  // --- the receiver's side only ---

  /// Takes the oldest value from the values an unbounded channel's receiver took in one go
  /// (pop_locked). False when it holds none. No lock: only the receiver touches m_rx_buf.
  bool pop_taken(std::optional<T>& out) noexcept {
    if (m_rx_buf.empty()) {
      return false;
    }
    fill_slot(out, m_rx_buf.pop_front());
    return true;
  }

  // --- under m_mutex ---

  /// Queues `v`, or hands it to a waiting receiver (then `*wake` is the receiver's task). Moves
  /// from `v` only when it returns sent; may throw only std::bad_alloc, before anything changed.
  send_status push_locked(T& v, task_record** wake) {
    if (m_closed) {
      return send_status::closed;
    }
    // A receiver waits only on an empty buffer: the value goes straight to it.
    if (channel_recv_awaiter<T>* r = m_receivers.pop_claimed()) {
      fill_slot(r->m_slot, std::move(v));
      r->m_done = true;
      *wake = r->m_task;
      return send_status::sent;
    }
    if (m_capacity != 0 && m_buf.size() + 1 >= m_capacity) {
      if (m_buf.size() >= m_capacity) {
        return send_status::full;
      }
      // This push fills the buffer: set a block aside for the refills of pop_locked, which must
      // not allocate (see there).
      m_buf.reserve_spare();
    }
    m_buf.push_back(std::move(v));
    return send_status::sent;
  }

  /// Takes the oldest value into `out` and refills the freed slot from the first blocked sender
  /// (then `*wake` is that sender's task). True when done: a value was taken, or the channel is
  /// closed and drained (`out` stays empty). Never throws.
  /// Called by the receiver only, with m_rx_buf empty (pop_taken first): on an unbounded channel
  /// (where no sender ever waits) it takes every queued value at once into m_rx_buf, so that the
  /// receives after it take no lock until those are gone. The values stay in order: the taken
  /// ones are all older than anything sent after.
  bool pop_locked(std::optional<T>& out, task_record** wake) noexcept {
    if (m_buf.empty()) {
      return m_closed; // senders wait only on a full buffer: none waits now
    }
    if (m_capacity == 0 && m_buf.size() > 1) {
      m_rx_buf.swap(m_buf);
      fill_slot(out, m_rx_buf.pop_front());
      return true;
    }
    fill_slot(out, m_buf.pop_front());
    if (channel_send_awaiter<T>* s = m_senders_waiting.pop_claimed()) {
      // The buffer was full and stays full. The push needs a new block only when the tail
      // block is full, and then the spare is there: it was set aside when the buffer became
      // full and whenever a sender started to wait (arm), and while senders wait every receive
      // is one pop and one push, so the head crosses a block boundary (recycling its block as
      // the spare) once between any two boundary crossings of the tail. This does not allocate.
      m_buf.push_back(std::move(s->m_value));
      s->m_result = true;
      s->m_done = true;
      *wake = s->m_task;
    }
    return true;
  }

  /// Closes and completes every waiter: receivers get no value, senders false. Returns the
  /// claimed waiters, chained through m_next, for the caller to wake after unlocking.
  std::pair<channel_send_awaiter<T>*, channel_recv_awaiter<T>*> close_locked() noexcept {
    m_closed = true;
    return {take_all(m_senders_waiting), take_all(m_receivers)};
  }

  worker_biased_lock m_mutex{t_worker};
  channel_queue<T> m_buf;
  channel_waiters<channel_send_awaiter<T>> m_senders_waiting;
  channel_waiters<channel_recv_awaiter<T>> m_receivers;
  bool m_closed = false;

  // --- the receiver only (no lock): values taken from m_buf in one go, older than m_buf's ---
  channel_queue<T> m_rx_buf;

  // --- immutable ---
  const std::size_t m_capacity; // 0: unbounded

  // --- any thread ---
  std::atomic<std::size_t> m_senders{1};
  std::atomic<std::size_t> m_refs{2};

private:
  template <typename W>
  static W* take_all(channel_waiters<W>& list) noexcept {
    W* head = nullptr;
    W** tail = &head;
    while (W* w = list.pop_claimed()) {
      w->m_done = true; // a sender's m_result stays false, a receiver's slot empty
      *tail = w;
      tail = &w->m_next;
    }
    *tail = nullptr;
    return head;
  }
};

/// Wakes the tasks of waiters chained by close_locked(). A claimed waiter stays suspended until
/// its wake: read its link and task first.
template <typename W>
void wake_chain(W* w) noexcept {
  while (w != nullptr) {
    W* next = w->m_next;
    wake(w->m_task);
    w = next;
  }
}

template <typename T>
void close_channel(channel_state<T>* s) noexcept {
  std::pair<channel_send_awaiter<T>*, channel_recv_awaiter<T>*> woken{};
  {
    biased_lock_guard lock(s->m_mutex);
    if (s->m_closed) {
      return;
    }
    woken = s->close_locked();
  }
  wake_chain(woken.first);
  wake_chain(woken.second);
}

template <typename T>
void release_channel(channel_state<T>* s) noexcept {
  if (release_ref(s->m_refs)) {
    delete s;
  }
}

template <typename T>
class channel_send_awaiter final : public counted_awaiter<channel_send_awaiter<T>> {
public:
  static constexpr wait_kind kind = wait_kind::channel;

  channel_send_awaiter(channel_state<T>* s, T&& value, const site& where) noexcept
      : counted_awaiter<channel_send_awaiter<T>>(where), m_s(s), m_value(std::move(value)) {}
  /// Movable until awaited (timeout and select move an operation into a task of their own).
  channel_send_awaiter(channel_send_awaiter&& o) noexcept
      : counted_awaiter<channel_send_awaiter<T>>(o), m_s(o.m_s), m_value(std::move(o.m_value)) {}
  channel_send_awaiter& operator=(const channel_send_awaiter&) = delete;

  bool ready() {
    if (!m_done && m_s == nullptr) {
      m_done = true; // an empty sender: as if closed
    }
    if (!m_done) {
      task_record* woken = nullptr;
      {
        biased_lock_guard lock(m_s->m_mutex);
        const send_status st = m_s->push_locked(m_value, &woken);
        if (st == send_status::full) {
          return false;
        }
        m_result = st == send_status::sent;
      }
      m_done = true;
      if (woken != nullptr) {
        wake(woken);
      }
    }
    return true;
  }

  bool arm() {
    task_record* woken = nullptr;
    {
      biased_lock_guard lock(m_s->m_mutex);
      const send_status st = m_s->push_locked(m_value, &woken);
      if (st == send_status::full) {
        m_s->m_buf.reserve_spare(); // for pop_locked's refill; may throw before linking
        m_s->m_senders_waiting.push(this);
        return true;
      }
      m_result = st == send_status::sent;
    }
    m_done = true;
    if (woken != nullptr) {
      wake(woken);
    }
    return false;
  }

  bool withdraw() noexcept {
    biased_lock_guard lock(m_s->m_mutex);
    if (!this->m_linked) {
      return false; // a receiver or close() completed this send: it resumes with its outcome
    }
    m_s->m_senders_waiting.remove(this);
    return true;
  }

  bool take() const {
    this->throw_if_cancelled();
    return m_result;
  }

  // Under the channel's m_mutex while linked.
  channel_send_awaiter* m_prev = nullptr;
  channel_send_awaiter* m_next = nullptr;
  bool m_done = false;   // completed: m_result holds the outcome
  bool m_result = false; // true: the value was queued or delivered
  channel_state<T>* m_s;
  T m_value;
};

template <typename T>
class channel_recv_awaiter final : public counted_awaiter<channel_recv_awaiter<T>> {
public:
  static constexpr wait_kind kind = wait_kind::channel;

  channel_recv_awaiter(channel_state<T>* s, const site& where) noexcept
      : counted_awaiter<channel_recv_awaiter<T>>(where), m_s(s) {}
  /// Movable until awaited (timeout and select move an operation into a task of their own).
  channel_recv_awaiter(channel_recv_awaiter&& o) noexcept
      : counted_awaiter<channel_recv_awaiter<T>>(o), m_s(o.m_s) {}
  channel_recv_awaiter& operator=(const channel_recv_awaiter&) = delete;

  bool ready() noexcept {
    if (!m_done && m_s == nullptr) {
      m_done = true; // an empty receiver: as if closed and drained
    }
    if (!m_done && m_s->pop_taken(m_slot)) {
      m_done = true;
    }
    if (!m_done) {
      task_record* woken = nullptr;
      {
        biased_lock_guard lock(m_s->m_mutex);
        if (!m_s->pop_locked(m_slot, &woken)) {
          return false;
        }
      }
      m_done = true;
      if (woken != nullptr) {
        wake(woken);
      }
    }
    return true;
  }

  bool arm() noexcept {
    if (m_s->pop_taken(m_slot)) {
      m_done = true;
      return false;
    }
    task_record* woken = nullptr;
    {
      biased_lock_guard lock(m_s->m_mutex);
      if (!m_s->pop_locked(m_slot, &woken)) {
        m_s->m_receivers.push(this);
        return true;
      }
    }
    m_done = true;
    if (woken != nullptr) {
      wake(woken);
    }
    return false;
  }

  bool withdraw() noexcept {
    biased_lock_guard lock(m_s->m_mutex);
    if (!this->m_linked) {
      return false; // a sender or close() completed this receive: it resumes with its value
    }
    m_s->m_receivers.remove(this);
    return true;
  }

  std::optional<T> take() {
    this->throw_if_cancelled();
    return std::move(m_slot);
  }

  // Under the channel's m_mutex while linked.
  channel_recv_awaiter* m_prev = nullptr;
  channel_recv_awaiter* m_next = nullptr;
  bool m_done = false; // completed: m_slot holds the value, or nothing once closed and drained
  std::optional<T> m_slot;
  channel_state<T>* m_s;
};

} // namespace detail

/// The sending half of a channel. Copyable: every copy is one more sender, and the channel
/// closes when the last one is destroyed (or anybody calls `close()`). An empty sender
/// (default-constructed or moved from) behaves as a closed channel.
///
/// Thread-safety: a sender object is used by one task or thread at a time; copies may be used
/// concurrently from tasks on any worker. `try_send()` and `close()` also work from threads
/// outside the runtime.
///
/// Lifetime: a sender keeps the channel's state alive; a waiting `send()` needs its sender (or a
/// copy) alive until the await finishes, which holds whenever the sender is a parameter or local
/// of the awaiting task.
template <typename T>
class sender {
public:
  sender() noexcept = default;
  explicit sender(detail::channel_state<T>* s) noexcept : m_s(s) {}
  sender(const sender& o) noexcept : m_s(o.m_s) {
    if (m_s != nullptr) {
      m_s->m_senders.fetch_add(1, std::memory_order_relaxed);
      m_s->m_refs.fetch_add(1, std::memory_order_relaxed);
    }
  }
  sender(sender&& o) noexcept : m_s(std::exchange(o.m_s, nullptr)) {}
  sender& operator=(sender o) noexcept {
    std::swap(m_s, o.m_s);
    return *this;
  }
  ~sender() { reset(); }

  /// Sends `value`: `co_await tx.send(v)` is true once the value is queued (or handed to the
  /// waiting receiver), false if the channel is closed (the value is then dropped). On a full
  /// bounded channel the task waits until the receiver frees a slot; blocked senders go in FIFO
  /// order and their values keep that order.
  ///
  /// Cancellation: a waiting send of a cancelled task is removed from the queue and throws
  /// `operation_cancelled`; its value was not sent. A send that a receiver completed first
  /// returns true as usual. A send awaited by an already cancelled task throws without sending.
  ///
  /// The value is moved into the await itself: nothing the caller owns has to outlive it.
  [[nodiscard]] detail::channel_send_awaiter<T> send(T value, const char* file = __builtin_FILE(),
                                                     std::uint32_t line = __builtin_LINE()) {
    return send(std::move(value), site{file, "", line});
  }
  /// As above, recording `where` as the await's site.
  [[nodiscard]] detail::channel_send_awaiter<T> send(T value, const site& where) {
    return detail::channel_send_awaiter<T>(m_s, std::move(value), where);
  }

  /// Sends without waiting. On `full` or `closed` the value is left as it was (not moved from).
  send_status try_send(T&& value) {
    if (m_s == nullptr) {
      return send_status::closed;
    }
    detail::task_record* woken = nullptr;
    send_status st;
    {
      detail::biased_lock_guard lock(m_s->m_mutex);
      st = m_s->push_locked(value, &woken);
    }
    if (woken != nullptr) {
      detail::wake(woken);
    }
    return st;
  }
  /// As above, sending a copy (made whatever the outcome).
  send_status try_send(const T& value) {
    T copy(value);
    return try_send(std::move(copy));
  }

  /// Closes the channel for every sender: later sends fail, blocked senders get false, and the
  /// receiver gets the values already queued, then nothing (`std::nullopt`).
  void close() noexcept {
    if (m_s != nullptr) {
      detail::close_channel(m_s);
    }
  }

  /// A snapshot: true once the channel is closed (by a sender, the receiver, or the last sender
  /// going away).
  bool is_closed() const noexcept {
    if (m_s == nullptr) {
      return true;
    }
    detail::biased_lock_guard lock(m_s->m_mutex);
    return m_s->m_closed;
  }

  /// The bound given to make_channel (0: unbounded).
  std::size_t capacity() const noexcept { return m_s != nullptr ? m_s->m_capacity : 0; }

private:
  void reset() noexcept {
    if (m_s != nullptr) {
      if (m_s->m_senders.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        detail::close_channel(m_s);
      }
      detail::release_channel(std::exchange(m_s, nullptr));
    }
  }

  detail::channel_state<T>* m_s = nullptr;
};

/// The receiving half of a channel. Move-only: there is one consumer. Destroying it closes the
/// channel (senders then get false) and drops the values still queued.
///
/// Thread-safety: usable from tasks on any worker. Several tasks may wait in `recv()` on the
/// same receiver (through a reference) at once: each value goes to one of them, in the order
/// they began waiting. `try_recv()` and `close()` also work from threads outside the runtime.
///
/// Lifetime: a waiting `recv()` needs the receiver alive until the await finishes.
template <typename T>
class receiver {
public:
  receiver() noexcept = default;
  explicit receiver(detail::channel_state<T>* s) noexcept : m_s(s) {}
  receiver(receiver&& o) noexcept : m_s(std::exchange(o.m_s, nullptr)) {}
  receiver& operator=(receiver&& o) noexcept {
    if (this != &o) {
      reset();
      m_s = std::exchange(o.m_s, nullptr);
    }
    return *this;
  }
  receiver(const receiver&) = delete;
  receiver& operator=(const receiver&) = delete;
  ~receiver() { reset(); }

  /// The next value: `co_await rx.recv()` waits while the channel is empty, and gives
  /// `std::nullopt` once it is closed and every queued value has been received.
  ///
  /// Cancellation: a waiting receive of a cancelled task is removed and throws
  /// `operation_cancelled`; no value is taken, so the next receive gets it. A receive that a
  /// sender completed first returns its value as usual.
  [[nodiscard]] detail::channel_recv_awaiter<T>
  recv(const char* file = __builtin_FILE(), std::uint32_t line = __builtin_LINE()) noexcept {
    return recv(site{file, "", line});
  }
  /// As above, recording `where` as the await's site.
  [[nodiscard]] detail::channel_recv_awaiter<T> recv(const site& where) noexcept {
    return detail::channel_recv_awaiter<T>(m_s, where);
  }

  /// The next value if one is queued now, without waiting. `std::nullopt` means empty or closed
  /// and drained: once `is_closed()` has returned true, nothing new arrives, so a `std::nullopt`
  /// then means drained for good.
  std::optional<T> try_recv() noexcept {
    std::optional<T> out;
    if (m_s == nullptr || m_s->pop_taken(out)) {
      return out;
    }
    detail::task_record* woken = nullptr;
    {
      detail::biased_lock_guard lock(m_s->m_mutex);
      m_s->pop_locked(out, &woken);
    }
    if (woken != nullptr) {
      detail::wake(woken);
    }
    return out;
  }

  /// Closes the channel: senders fail from now on (blocked ones get false), and the values
  /// already queued can still be received.
  void close() noexcept {
    if (m_s != nullptr) {
      detail::close_channel(m_s);
    }
  }

  /// A snapshot: true once the channel is closed.
  bool is_closed() const noexcept {
    if (m_s == nullptr) {
      return true;
    }
    detail::biased_lock_guard lock(m_s->m_mutex);
    return m_s->m_closed;
  }

  /// A snapshot of how many values are queued.
  std::size_t size() const noexcept {
    if (m_s == nullptr) {
      return 0;
    }
    detail::biased_lock_guard lock(m_s->m_mutex);
    return m_s->m_buf.size() + m_s->m_rx_buf.size();
  }

private:
  void reset() noexcept {
    if (m_s == nullptr) {
      return;
    }
    detail::close_channel(m_s);
    // Drop the queued values now, outside the lock: a value's destructor may use the channel
    // (a message that carries a sender of it, for instance).
    detail::channel_queue<T> dropped;
    detail::channel_queue<T> dropped_taken;
    dropped_taken.swap(m_s->m_rx_buf);
    {
      detail::biased_lock_guard lock(m_s->m_mutex);
      dropped.swap(m_s->m_buf);
    }
    detail::release_channel(std::exchange(m_s, nullptr));
  }

  detail::channel_state<T>* m_s = nullptr;
};

template <typename T>
struct channel_pair {
  sender<T> tx;
  receiver<T> rx;
};

/// A multi-producer, single-consumer channel: `auto [tx, rx] = make_channel<int>(1024);`.
/// `capacity` bounds the values queued (senders then wait: backpressure); 0 means unbounded.
///
/// `T` must be nothrow move-constructible (values move under the channel's lock). Storage is a
/// list of blocks of about 4 KiB (channel_queue): in steady state a send and a receive allocate
/// nothing and take one uncontended spinlock each, except that a receive on an unbounded
/// channel with several values queued takes them all at once, and the receives after it take no
/// lock until they are gone. The lock is biased to the worker that made the channel: while only
/// that worker's tasks use it, taking it is plain stores; the first use from any other thread
/// turns it into the plain spinlock for good, at the cost of one membarrier() system call. Each
/// operation wakes at most one task (close wakes all), and a receiver woken once finds every value
/// queued meanwhile without waiting again.
template <typename T>
channel_pair<T> make_channel(std::size_t capacity) {
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                "zokio::make_channel<T>: T must be nothrow move-constructible and destructible");
  auto* s = new detail::channel_state<T>(capacity);
  return {sender<T>(s), receiver<T>(s)};
}

} // namespace zokio
