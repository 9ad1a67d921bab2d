#include <zokio/sync/channel.hpp>

#include <zokio/sync/event.hpp>
#include <zokio/sync/mutex.hpp>

#include "race.hpp"
#include "zokio_test.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using zokio::testing::head_start;
using zokio::testing::head_starts;
using zokio::testing::hold_back;
using zokio::testing::open_gate;
using zokio::testing::race_gate;
using zokio::testing::race_tally;

// --- word-sized values ---------------------------------------------------------------------

// A word-sized value goes into a receiver's slot as two whole words (detail::fill_slot), bypassing
// std::optional's emplace: the layout it assumes is checked here, for every kind of word.
template <typename T>
void expect_filled_slot_reads_back(T v) {
  static_assert(zokio::detail::fills_by_words<T>);
  std::optional<T> slot;
  zokio::detail::fill_slot(slot, v);
  ASSERT_TRUE(slot.has_value());
  EXPECT_EQ(std::memcmp(&*slot, &v, sizeof v), 0);
  const std::optional<T> copy = slot; // a copy of the filled optional is the same value
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(std::memcmp(&*copy, &v, sizeof v), 0);
  slot.reset();
  EXPECT_FALSE(slot.has_value());
}

TEST(channel, a_filled_slot_reads_back) {
  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, ~std::uint64_t{0},
                          std::uint64_t{1} << 63, std::uint64_t{0x0102030405060708}}) {
    expect_filled_slot_reads_back(v);
    expect_filled_slot_reads_back(static_cast<std::int64_t>(v));
  }
  for (double v : {0.0, -0.0, 1.5, -1e300}) {
    expect_filled_slot_reads_back(v);
  }
  int x = 0;
  expect_filled_slot_reads_back(&x);
  expect_filled_slot_reads_back(static_cast<int*>(nullptr));
  static_assert(!zokio::detail::fills_by_words<int>);         // 4 bytes: emplace
  static_assert(!zokio::detail::fills_by_words<std::string>); // not trivially copyable
}

/// Receives `n` words that arrive by each way a value reaches a receiver: handed to it while it
/// waits, taken from the queue, and (unbounded) from the values it took in one go.
zokio::task<bool> words_arrive_whole(std::size_t capacity) {
  auto [tx, rx] = zokio::make_channel<std::uint64_t>(capacity);
  constexpr std::uint64_t n = 3000;
  auto produce = [](zokio::sender<std::uint64_t> tx) -> zokio::task<void> {
    for (std::uint64_t i = 0; i < n; ++i) {
      const bool sent = co_await tx.send(~i); // high bits set: a misplaced flag would show
      EXPECT_TRUE(sent);
      if (i % 7 == 0) {
        co_await zokio::yield_now(); // the receiver catches up and waits: a handed value
      }
    }
  };
  zokio::join_handle<void> p = zokio::spawn(produce(std::move(tx)));
  std::uint64_t got = 0;
  bool in_order = true;
  for (;;) {
    std::optional<std::uint64_t> v = co_await rx.recv();
    if (!v) {
      break;
    }
    in_order = in_order && *v == ~got;
    ++got;
  }
  co_await p;
  EXPECT_EQ(got, n);
  co_return in_order&& got == n;
}

TEST(channel, word_sized_values_arrive_whole_by_every_path) {
  for (std::size_t capacity : {std::size_t{0}, std::size_t{1}, std::size_t{16}}) {
    zokio::runtime rt;
    EXPECT_TRUE(rt.block_on(words_arrive_whole(capacity))) << "capacity " << capacity;
    zokio::testing::expect_clean_shutdown(rt);
  }
}

// --- close ------------------------------------------------------------------------------------

zokio::task<int> recv_until_closed(zokio::receiver<int>* rx, std::atomic<int>* waiting) {
  ++*waiting;
  std::optional<int> v = co_await rx->recv();
  co_return v.has_value() ? 1 : 0;
}

zokio::task<bool> close_wakes_receivers(unsigned workers) {
  auto [tx, rx] = zokio::make_channel<int>(8);
  std::atomic<int> waiting{0};
  std::vector<zokio::join_handle<int>> hs;
  for (unsigned i = 0; i < 20; ++i) {
    hs.push_back(zokio::spawn_on(i % workers, recv_until_closed(&rx, &waiting)));
  }
  co_await zokio::sleep_for(10ms);
  const bool all_waiting = waiting == 20 && !rx.is_closed();
  tx.close();
  int got_values = 0;
  for (auto& h : hs) {
    got_values += co_await h;
  }
  EXPECT_TRUE(all_waiting);
  EXPECT_TRUE(got_values == 0);
  EXPECT_TRUE(rx.is_closed());
  co_return true;
}

TEST(channel, close_wakes_every_waiting_receiver) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_TRUE(rt.block_on(close_wakes_receivers(2)));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<int> blocked_send(zokio::sender<int> tx, int v, std::atomic<int>* started) {
  ++*started;
  const bool ok = co_await tx.send(v);
  co_return ok ? 1 : 0;
}

zokio::task<bool> close_wakes_senders(unsigned workers) {
  auto [tx, rx] = zokio::make_channel<int>(2);
  EXPECT_EQ(tx.try_send(-1), zokio::send_status::sent);
  EXPECT_EQ(tx.try_send(-2), zokio::send_status::sent);
  EXPECT_EQ(tx.try_send(-3), zokio::send_status::full);
  std::atomic<int> started{0};
  std::vector<zokio::join_handle<int>> hs;
  for (unsigned i = 0; i < 20; ++i) {
    hs.push_back(zokio::spawn_on(i % workers, blocked_send(tx, static_cast<int>(i), &started)));
  }
  co_await zokio::sleep_for(10ms);
  const bool all_blocked = started == 20 && rx.size() == 2;
  rx.close(); // the receiver closes: blocked senders fail, queued values stay receivable
  int sent = 0;
  for (auto& h : hs) {
    sent += co_await h;
  }
  const std::optional<int> a = co_await rx.recv();
  const std::optional<int> b = co_await rx.recv();
  const std::optional<int> end = co_await rx.recv();
  EXPECT_TRUE(all_blocked);
  EXPECT_TRUE(sent == 0);
  EXPECT_TRUE(a == -1);
  EXPECT_TRUE(b == -2);
  EXPECT_TRUE(!end.has_value());
  co_return true;
}

TEST(channel, close_wakes_every_blocked_sender_and_keeps_queued_values) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_TRUE(rt.block_on(close_wakes_senders(2)));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> send_on_closed() {
  auto [tx, rx] = zokio::make_channel<std::string>(4);
  const bool first = co_await tx.send("a");
  tx.close();
  const bool second = co_await tx.send("b");
  std::string kept = "kept";
  const zokio::send_status st = tx.try_send(std::move(kept));
  // A failed try_send leaves its argument alone.
  const bool untouched = kept == "kept";
  const std::optional<std::string> a = co_await rx.recv();
  const std::optional<std::string> end = co_await rx.recv();
  EXPECT_TRUE(first);
  EXPECT_TRUE(!second);
  EXPECT_TRUE(st == zokio::send_status::closed);
  EXPECT_TRUE(untouched);
  EXPECT_TRUE(a == "a");
  EXPECT_TRUE(!end.has_value());
  EXPECT_TRUE(tx.is_closed());
  co_return true;
}

TEST(channel, send_on_a_closed_channel_returns_false) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(send_on_closed()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> try_send_full_then_free() {
  auto [tx, rx] = zokio::make_channel<std::unique_ptr<int>>(1);
  auto one = std::make_unique<int>(1);
  auto two = std::make_unique<int>(2);
  const bool sent = tx.try_send(std::move(one)) == zokio::send_status::sent && one == nullptr;
  const bool full = tx.try_send(std::move(two)) == zokio::send_status::full && two != nullptr;
  std::optional<std::unique_ptr<int>> got = rx.try_recv();
  const bool again = tx.try_send(std::move(two)) == zokio::send_status::sent;
  std::optional<std::unique_ptr<int>> got2 = co_await rx.recv();
  const bool empty = !rx.try_recv().has_value() && !rx.is_closed();
  EXPECT_TRUE(sent);
  EXPECT_TRUE(full);
  EXPECT_TRUE(got && **got == 1);
  EXPECT_TRUE(again);
  EXPECT_TRUE(got2 && **got2 == 2);
  EXPECT_TRUE(empty);
  co_return true;
}

TEST(channel, try_send_tells_full_from_closed_and_moves_only_on_success) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(try_send_full_then_free()));
  zokio::testing::expect_clean_shutdown(rt);
}

// --- last sender --------------------------------------------------------------------------------

zokio::task<int> drain_count(zokio::receiver<int> rx) {
  int n = 0;
  while (co_await rx.recv()) {
    ++n;
  }
  co_return n;
}

zokio::task<void> send_n_and_drop(zokio::sender<int> tx, int n) {
  for (int i = 0; i < n; ++i) {
    co_await tx.send(i);
  }
}

zokio::task<bool> last_sender_closes() {
  auto [tx, rx] = zokio::make_channel<int>(0);
  auto consumer = zokio::spawn(drain_count(std::move(rx)));
  std::optional<zokio::sender<int>> copy{tx};
  {
    zokio::sender<int> moved = std::move(tx); // moving does not count as a sender leaving
  }
  co_await zokio::sleep_for(5ms);
  const bool still_open = !copy->is_closed() && !consumer.is_finished();
  auto producer = zokio::spawn(send_n_and_drop(*copy, 10));
  co_await producer;
  co_await zokio::sleep_for(5ms);
  const bool open_with_one_left = !consumer.is_finished();
  copy.reset(); // the last sender goes: the receiver drains and gets nullopt
  const int n = co_await consumer;
  EXPECT_TRUE(still_open);
  EXPECT_TRUE(open_with_one_left);
  EXPECT_TRUE(n == 10);
  co_return true;
}

TEST(channel, the_last_sender_dropped_closes_it) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(last_sender_closes()));
  zokio::testing::expect_clean_shutdown(rt);
}

// --- backpressure ------------------------------------------------------------------------------

zokio::task<void> counting_producer(zokio::sender<int> tx, int n, std::atomic<int>* sent) {
  for (int i = 0; i < n; ++i) {
    if (!co_await tx.send(i)) {
      co_return;
    }
    ++*sent;
  }
}

zokio::task<bool> backpressure(unsigned worker) {
  constexpr int capacity = 4;
  auto [tx, rx] = zokio::make_channel<int>(capacity);
  std::atomic<int> sent{0};
  auto producer = zokio::spawn_on(worker, counting_producer(std::move(tx), 100, &sent));
  // Waits (up to 5 s, for a loaded machine) until `sent` reaches `n`, then 10 ms more, in which a
  // producer that ignored the bound would send on.
  auto settle_at = [&sent](int n) -> zokio::task<void> {
    for (int i = 0; i < 5000 && sent < n; ++i) {
      co_await zokio::sleep_for(1ms);
    }
    co_await zokio::sleep_for(10ms);
  };
  co_await settle_at(capacity);
  // Nobody reads: the producer stops after `capacity` values.
  const bool stopped_at_capacity = sent == capacity && rx.size() == capacity;
  std::optional<int> first = co_await rx.recv();
  co_await settle_at(capacity + 1);
  // One slot freed: exactly one more send went through.
  const bool one_more = sent == capacity + 1 && rx.size() == capacity;
  bool in_order = first == 0;
  for (int expected = 1; expected < 100; ++expected) {
    std::optional<int> v = co_await rx.recv();
    in_order = in_order && v == expected;
    // The queue never holds more than capacity values.
    in_order = in_order && rx.size() <= capacity;
  }
  co_await producer;
  const std::optional<int> end = co_await rx.recv();
  EXPECT_TRUE(stopped_at_capacity);
  EXPECT_TRUE(one_more);
  EXPECT_TRUE(in_order);
  EXPECT_TRUE(!end.has_value());
  EXPECT_TRUE(sent == 100);
  co_return true;
}

TEST(channel, a_bounded_channel_applies_backpressure) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_TRUE(rt.block_on(backpressure(0)));
  EXPECT_TRUE(rt.block_on(backpressure(1)));
  zokio::testing::expect_clean_shutdown(rt);
}

// --- order and volume ---------------------------------------------------------------------------

constexpr std::uint64_t million = 1'000'000;

zokio::task<void> produce_sequence(zokio::sender<std::uint64_t> tx, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    if (!co_await tx.send(i)) {
      co_return;
    }
  }
}

zokio::task<std::uint64_t> consume_in_order(zokio::receiver<std::uint64_t> rx) {
  std::uint64_t expected = 0;
  while (std::optional<std::uint64_t> v = co_await rx.recv()) {
    if (*v != expected) {
      co_return expected; // reports where the order broke
    }
    ++expected;
  }
  co_return expected;
}

zokio::task<std::uint64_t> million_through(std::size_t capacity, unsigned producer_worker) {
  auto [tx, rx] = zokio::make_channel<std::uint64_t>(capacity);
  auto consumer = zokio::spawn(consume_in_order(std::move(rx)));
  auto producer = zokio::spawn_on(producer_worker, produce_sequence(std::move(tx), million));
  co_await producer;
  co_return co_await consumer;
}

TEST(channel, a_million_values_arrive_in_order_bounded) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(million_through(1024, 0)), million);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(channel, a_million_values_arrive_in_order_unbounded) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(million_through(0, 0)), million);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(channel, a_million_values_arrive_in_order_across_workers) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_EQ(rt.block_on(million_through(1024, 1)), million);
  zokio::testing::expect_clean_shutdown(rt);
}

struct tagged {
  unsigned producer;
  std::uint64_t seq;
};

zokio::task<void> produce_tagged(zokio::sender<tagged> tx, unsigned id, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    co_await tx.send(tagged{id, i});
    if (i % 1000 == 0) {
      co_await zokio::yield_now(); // interleave the producers on a worker
    }
  }
}

zokio::task<bool> many_producers(std::size_t capacity, std::uint64_t per_producer = 50'000) {
  constexpr unsigned producers = 6;
  auto [tx, rx] = zokio::make_channel<tagged>(capacity);
  std::vector<zokio::join_handle<void>> hs;
  for (unsigned p = 0; p < producers; ++p) {
    hs.push_back(zokio::spawn_on(p % 2, produce_tagged(tx, p, per_producer)));
  }
  tx = zokio::sender<tagged>(); // only the producers' copies are left
  std::vector<std::uint64_t> next(producers, 0);
  bool in_order = true;
  std::uint64_t total = 0;
  while (std::optional<tagged> v = co_await rx.recv()) {
    in_order = in_order && v->producer < producers && v->seq == next[v->producer];
    ++next[v->producer];
    ++total;
  }
  for (auto& h : hs) {
    co_await h;
  }
  EXPECT_TRUE(in_order);
  EXPECT_TRUE(total == producers * per_producer);
  co_return true;
}

TEST(channel, several_producers_on_two_workers_keep_their_own_order) {
  zokio::runtime rt{{.workers = 2}};
  EXPECT_TRUE(rt.block_on(many_producers(64)));
  EXPECT_TRUE(rt.block_on(many_producers(0)));
  EXPECT_GT(rt.stats().resumes_cross_thread, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

// The queue is a list of blocks of 4 KiB (256 values of 16 bytes): bounds below, at and across a
// block's size, with senders blocked on a full queue, so that refills cross block boundaries.
TEST(channel, bounds_across_block_boundaries_keep_every_producers_order) {
  zokio::runtime rt{{.workers = 2}};
  for (std::size_t capacity : {1u, 3u, 255u, 256u, 257u, 700u}) {
    SCOPED_TRACE(capacity);
    EXPECT_TRUE(rt.block_on(many_producers(capacity, 5'000)));
  }
  zokio::testing::expect_clean_shutdown(rt);
}

struct counted_value {
  explicit counted_value(std::shared_ptr<int> live) noexcept : m_live(std::move(live)) {
    ++*m_live;
  }
  counted_value(counted_value&& o) noexcept : m_live(std::move(o.m_live)) {}
  counted_value& operator=(counted_value&&) = delete;
  ~counted_value() {
    if (m_live) {
      --*m_live;
    }
  }
  std::shared_ptr<int> m_live;
};

zokio::task<int> queue_then_drop(std::shared_ptr<int> live) {
  auto [tx, rx] = zokio::make_channel<counted_value>(0);
  for (int i = 0; i < 3000; ++i) { // 3000 values of 16 bytes: twelve blocks
    co_await tx.send(counted_value(live));
  }
  for (int i = 0; i < 1000; ++i) {
    std::optional<counted_value> v = co_await rx.recv();
    EXPECT_TRUE(v.has_value());
  }
  const int queued = *live;
  { auto dropped = std::move(rx); } // drops the 2000 still queued
  co_return queued;
}

TEST(channel, dropping_the_receiver_destroys_every_queued_value_once) {
  zokio::runtime rt{{.workers = 1}};
  auto live = std::make_shared<int>(0);
  EXPECT_EQ(rt.block_on(queue_then_drop(live)), 2000);
  EXPECT_EQ(*live, 0);
  zokio::testing::expect_clean_shutdown(rt);
}

// An unbounded channel's receive takes the whole backlog at once; values sent meanwhile, and
// after a close, still come out in order, and size() counts both.
zokio::task<bool> backlog_taken_in_order() {
  auto [tx, rx] = zokio::make_channel<int>(0);
  int next_sent = 0;
  for (; next_sent < 100; ++next_sent) {
    co_await tx.send(int{next_sent});
  }
  int next_received = 0;
  bool in_order = true;
  for (int round = 0; round < 50; ++round) {
    const std::optional<int> v = co_await rx.recv(); // the first takes every value queued
    in_order = in_order && v == next_received++;
    EXPECT_EQ(rx.size(), static_cast<std::size_t>(next_sent - next_received));
    co_await tx.send(int{next_sent++}); // queued behind the ones taken
    EXPECT_TRUE(rx.try_recv() == next_received++);
  }
  tx.close();
  while (std::optional<int> v = co_await rx.recv()) {
    in_order = in_order && *v == next_received++;
  }
  co_return in_order&& next_received == next_sent&& next_sent == 150;
}

TEST(channel, an_unbounded_receive_takes_the_backlog_and_keeps_the_order) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(backlog_taken_in_order()));
  zokio::testing::expect_clean_shutdown(rt);
}

// A deep unbounded backlog grows its queue's blocks (up to 1 MiB, mapped with their pages faulted
// in from 64 KiB on). Three million values, sent in two bursts with a partial drain between (so
// that both the receiver's taken backlog and the sender's queue hold grown blocks), come out in
// order.
zokio::task<bool> deep_backlog_in_order() {
  auto [tx, rx] = zokio::make_channel<std::uint64_t>(0);
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  bool in_order = true;
  for (; sent < 1'000'000; ++sent) {
    in_order = in_order && co_await tx.send(std::uint64_t{sent});
  }
  for (; received < 400'000; ++received) {
    const std::optional<std::uint64_t> v = co_await rx.recv();
    in_order = in_order && v == received;
  }
  for (; sent < 3'000'000; ++sent) {
    in_order = in_order && co_await tx.send(std::uint64_t{sent});
  }
  EXPECT_EQ(rx.size(), sent - received);
  tx.close();
  for (;;) {
    const std::optional<std::uint64_t> v = co_await rx.recv();
    if (!v) {
      break;
    }
    in_order = in_order && *v == received++;
  }
  co_return in_order&& received == 3'000'000;
}

TEST(channel, a_deep_unbounded_backlog_grows_its_blocks_and_keeps_the_order) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(deep_backlog_in_order()));
  zokio::testing::expect_clean_shutdown(rt);
}

// Over-aligned values that own memory, left queued in grown blocks (the receiver's taken backlog
// and the sender's queue both) when the channel goes: each is destroyed exactly once.
struct alignas(64) tracked_value {
  std::shared_ptr<int> live;
};

zokio::task<long> drop_deep_backlog(std::shared_ptr<int> live) {
  auto [tx, rx] = zokio::make_channel<tracked_value>(0);
  for (int i = 0; i < 200'000; ++i) {
    tracked_value v{live}; // not `send(tracked_value{live})`: GCC 12 destroys that twice
    co_await tx.send(std::move(v));
  }
  const std::optional<tracked_value> first = co_await rx.recv(); // takes the whole backlog
  for (int i = 0; i < 100'000; ++i) {
    tracked_value v{live};
    co_await tx.send(std::move(v));
  }
  co_return live.use_count() - 3; // less the caller's, this task's and `first`'s copies
}

TEST(channel, grown_blocks_destroy_every_queued_value_once) {
  zokio::runtime rt{{.workers = 1}};
  auto live = std::make_shared<int>(0);
  EXPECT_EQ(rt.block_on(drop_deep_backlog(live)), 299'999);
  EXPECT_EQ(live.use_count(), 1);
  zokio::testing::expect_clean_shutdown(rt);
}

// --- cancellation -------------------------------------------------------------------------------

zokio::task<int> recv_one(zokio::receiver<int>* rx, zokio::event* started) {
  started->set();
  std::optional<int> v = co_await rx->recv();
  co_return v.value_or(-1);
}

zokio::task<bool> cancelled_recv_loses_nothing() {
  auto [tx, rx] = zokio::make_channel<int>(4);
  zokio::event started;
  auto h = zokio::spawn(recv_one(&rx, &started));
  co_await zokio::sleep_for(2ms);
  h.cancel();
  bool cancelled = false;
  try {
    co_await h;
  } catch (const zokio::operation_cancelled&) {
    cancelled = true;
  }
  co_await tx.send(7); // the cancelled receiver was removed: the value waits in the queue
  const std::optional<int> v = co_await rx.recv();
  EXPECT_TRUE(started.is_set());
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(v == 7);
  co_return true;
}

TEST(channel, a_cancelled_recv_throws_and_loses_no_value) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(cancelled_recv_loses_nothing()));
  zokio::testing::expect_clean_shutdown(rt);
}

// Runs on worker 1 next to the waiter, and cancels it (a local, synchronous withdraw) as soon
// as the gate opens.
zokio::task<void> cancel_at_gate(zokio::join_handle<int>* h, race_gate* g, head_start delay) {
  g->ready = true;
  while (!g->go.load()) {
  }
  hold_back(delay);
  h->cancel();
  co_return;
}

// A receive on worker 1 is cancelled while worker 0 sends. Either the receive got the value, or
// it was cancelled and the value is still in the channel: never both, never neither.
zokio::task<void> recv_cancel_race(race_tally* t) {
  auto [tx, rx] = zokio::make_channel<int>(0);
  for (int i = 0; t->more(); ++i) {
    zokio::event started;
    auto h = zokio::spawn_on(1, recv_one(&rx, &started));
    co_await started.wait(); // set right before the receive starts waiting, on worker 1
    race_gate gate;
    const auto [canceller_delay, completer_delay] = head_starts(i);
    auto canceller = zokio::spawn_on(1, cancel_at_gate(&h, &gate, canceller_delay));
    open_gate(&gate, completer_delay);
    co_await tx.send(i);
    co_await canceller;
    bool got = false;
    try {
      const int v = co_await h;
      got = true;
      if (v != i) {
        t->fail("received " + std::to_string(v) + " instead of " + std::to_string(i));
      }
    } catch (const zokio::operation_cancelled&) {
    }
    const std::optional<int> left = rx.try_recv();
    if (got && left) {
      t->fail("value " + std::to_string(i) + " both received and left in the channel");
    }
    if (!got && !left) {
      t->fail("value " + std::to_string(i) + " lost: neither received nor left in the channel");
    }
    if (left && *left != i) {
      t->fail("the channel held " + std::to_string(*left) + " instead of " + std::to_string(i));
    }
    t->count(got);
  }
}

TEST(channel, recv_cancelled_while_a_value_arrives_loses_nothing) {
  zokio::runtime rt{{.workers = 2}};
  race_tally t{"delivered", "cancelled", 600, 6000};
  zokio::testing::block_on_within(rt, 50s, "600+ send/cancel races", recv_cancel_race(&t));
  zokio::testing::expect_race_accounted(t);
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<bool> cancelled_send() {
  auto [tx, rx] = zokio::make_channel<int>(1);
  co_await tx.send(0);
  std::atomic<int> started{0};
  auto a = zokio::spawn(blocked_send(tx, 1, &started));
  auto b = zokio::spawn(blocked_send(tx, 2, &started));
  auto c = zokio::spawn(blocked_send(tx, 3, &started));
  co_await zokio::sleep_for(2ms);
  b.cancel();
  bool cancelled = false;
  try {
    co_await b;
  } catch (const zokio::operation_cancelled&) {
    cancelled = true;
  }
  std::vector<int> got;
  for (int i = 0; i < 3; ++i) {
    got.push_back((co_await rx.recv()).value_or(-1));
  }
  const int sent = co_await a + co_await c;
  EXPECT_TRUE(started == 3);
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(sent == 2);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 3}));
  EXPECT_TRUE(!rx.try_recv().has_value());
  co_return true;
}

TEST(channel, a_cancelled_blocked_send_throws_and_sends_nothing) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_TRUE(rt.block_on(cancelled_send()));
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> wait_forever(zokio::receiver<int>* rx) {
  co_await rx->recv();
}

zokio::task<void> nap() {
  co_await zokio::sleep_for(5ms);
}

TEST(channel, shutdown_cancels_a_waiting_receiver) {
  auto [tx, rx] = zokio::make_channel<int>(1); // outlives the runtime and its waiters
  zokio::runtime rt{{.workers = 2}};
  rt.spawn(wait_forever(&rx)).detach();
  rt.spawn(wait_forever(&rx)).detach();
  rt.block_on(nap());
  zokio::testing::expect_clean_shutdown(rt);
}

// --- force_async --------------------------------------------------------------------------------

zokio::task<int> locked_adds(zokio::mutex* m, zokio::receiver<int> rx, int* sum) {
  int n = 0;
  while (std::optional<int> v = co_await rx.recv()) {
    auto g = co_await m->lock();
    *sum += *v;
    ++n;
  }
  co_return n;
}

zokio::task<bool> channel_and_mutex_workload() {
  zokio::mutex m;
  int sum = 0;
  auto [tx, rx] = zokio::make_channel<int>(2);
  auto consumer = zokio::spawn(locked_adds(&m, std::move(rx), &sum));
  for (int i = 1; i <= 100; ++i) {
    co_await tx.send(i); // often ready: still delivered through the loop
    auto g = co_await m.lock();
    sum += 0;
  }
  tx.close();
  const int n = co_await consumer;
  EXPECT_TRUE(n == 100);
  EXPECT_TRUE(sum == 5050);
  co_return true;
}

TEST(channel, force_async_delivers_every_channel_and_mutex_await_through_the_loop) {
  zokio::runtime rt{{.workers = 1, .force_async = true}};
  EXPECT_TRUE(rt.block_on(channel_and_mutex_workload()));
  const auto s = rt.stats();
  EXPECT_GE(s.awaits, 400u);
  EXPECT_EQ(s.awaits_inline, 0u);
  EXPECT_EQ(s.sync_fallbacks, 0u);
  EXPECT_EQ(s.awaits, s.awaits_suspended);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
