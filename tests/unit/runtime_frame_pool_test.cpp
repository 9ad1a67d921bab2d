// The frame pool (runtime/src/runtime/frame_alloc.cpp): blocks are aligned and distinct, memory
// is reused instead of growing, and blocks freed on another thread, after a thread's pool is gone
// or by a thread that exits come back into use. Skipped in builds without the pool (the sanitizer
// presets), where frames come from operator new.

#include <zokio/detail/frame_alloc.hpp>
#include <zokio/sync/event.hpp>

#include "zokio_test.hpp"

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using zokio::detail::frame_alloc;
using zokio::detail::frame_free;
using zokio::detail::frame_pool_reserved_bytes;

bool pool_on() {
  void* p = frame_alloc(64);
  frame_free(p, 64);
  return frame_pool_reserved_bytes() != 0;
}

#define SKIP_WITHOUT_POOL()                                                                        \
  if (!pool_on()) {                                                                                \
    GTEST_SKIP() << "built without the frame pool (ZOKIO_FRAME_POOL=OFF)";                         \
  }

TEST(frame_pool, blocks_are_aligned_distinct_and_hold_their_bytes) {
  SKIP_WITHOUT_POOL();
  const std::size_t sizes[] = {1, 24, 32, 33, 56, 240, 280, 2047, 2048, 2049, 5000};
  struct block {
    unsigned char* p;
    std::size_t size;
    unsigned char fill;
  };
  std::vector<block> blocks;
  unsigned char fill = 1;
  for (int round = 0; round < 500; ++round) {
    for (std::size_t size : sizes) {
      auto* p = static_cast<unsigned char*>(frame_alloc(size));
      ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % 16, 0u) << "size " << size;
      std::memset(p, fill, size);
      blocks.push_back({p, size, fill});
      fill = static_cast<unsigned char>(fill % 250 + 1);
    }
  }
  for (const block& b : blocks) {
    for (std::size_t i = 0; i < b.size; ++i) {
      ASSERT_EQ(b.p[i], b.fill) << "a block of " << b.size << " bytes was overwritten";
    }
  }
  for (const block& b : blocks) {
    frame_free(b.p, b.size);
  }
}

zokio::task<void> park(zokio::event* e, std::size_t* left) {
  co_await e->wait();
  --*left;
}

zokio::task<void> storm(std::size_t n) {
  zokio::event go;
  std::size_t left = n;
  std::vector<zokio::join_handle<void>> hs;
  hs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    hs.push_back(zokio::spawn(park(&go, &left)));
  }
  co_await zokio::yield_now(); // every task parks
  go.set();
  for (auto& h : hs) {
    co_await h;
  }
  EXPECT_EQ(left, 0u);
}

/// Four storms of 50,000 tasks in one runtime: the pool takes no slab after the first.
void expect_later_storms_reuse_memory(zokio::task<void> (*storm)(std::size_t)) {
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(storm(50'000));
  const std::size_t after_first = frame_pool_reserved_bytes();
  for (int i = 0; i < 3; ++i) {
    rt.block_on(storm(50'000));
  }
  EXPECT_EQ(frame_pool_reserved_bytes(), after_first);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(frame_pool, a_second_storm_of_spawns_reuses_the_first_ones_memory) {
  SKIP_WITHOUT_POOL();
  expect_later_storms_reuse_memory(&storm);
}

// The same with every task detached at its spawn (the owner-thread detach): the records and
// frames of finished detached tasks come back too.
zokio::task<void> detached_storm(std::size_t n) {
  zokio::event go;
  zokio::event all_done;
  std::size_t left = n;
  for (std::size_t i = 0; i < n; ++i) {
    zokio::spawn([](zokio::event* e, std::size_t* left, zokio::event* done) -> zokio::task<void> {
      co_await e->wait();
      if (--*left == 0) {
        done->set();
      }
    }(&go, &left, &all_done))
        .detach();
  }
  co_await zokio::yield_now(); // every task parks
  go.set();
  co_await all_done.wait();
}

TEST(frame_pool, a_second_storm_of_detached_spawns_reuses_the_first_ones_memory) {
  SKIP_WITHOUT_POOL();
  expect_later_storms_reuse_memory(&detached_storm);
}

// Blocks allocated on one thread and freed on another (a spawn_on storm) circulate through the
// depot: without it the freeing thread's lists would grow by a round's worth every round.
TEST(frame_pool, blocks_freed_on_another_thread_come_back_into_use) {
  SKIP_WITHOUT_POOL();
  constexpr std::size_t n = 20'000;
  constexpr std::size_t size = 256; // 5 MB a round
  std::vector<void*> blocks(n);
  std::size_t after_first = 0;
  for (int round = 0; round < 40; ++round) {
    std::thread producer([&] {
      for (auto& b : blocks) {
        b = frame_alloc(size);
      }
    });
    producer.join();
    std::thread consumer([&] {
      for (void* b : blocks) {
        frame_free(b, size);
      }
    });
    consumer.join();
    if (round == 0) {
      after_first = frame_pool_reserved_bytes();
    }
  }
  // 39 more rounds would be 195 MB more without reuse; allow a few slabs of slack.
  EXPECT_LE(frame_pool_reserved_bytes(), after_first + (std::size_t{8} << 20));
}

// Frees and allocations made on a thread after its pool was destroyed (by a thread-local
// destructor that runs later) work, and the block ends up in the depot for others.
struct late_user {
  void* block = nullptr;
  ~late_user() {
    frame_free(block, 128);
    void* p = frame_alloc(128); // after the pool is gone: operator new, joins the pool when freed
    std::memset(p, 0xab, 128);
    frame_free(p, 128);
  }
};

void churn_10k_blocks_of_128() {
  std::vector<void*> v(10'000);
  for (auto& b : v) {
    b = frame_alloc(128);
  }
  for (void* b : v) {
    frame_free(b, 128);
  }
}

TEST(frame_pool, a_thread_that_exits_gives_its_blocks_back) {
  SKIP_WITHOUT_POOL();
  std::thread first([] {
    thread_local late_user late; // constructed before this thread's pool, destroyed after it
    late.block = nullptr;
    late.block = frame_alloc(128);
    churn_10k_blocks_of_128();
  });
  first.join();
  const std::size_t before = frame_pool_reserved_bytes();
  std::thread second(churn_10k_blocks_of_128);
  second.join();
  EXPECT_EQ(frame_pool_reserved_bytes(), before);
}

} // namespace
