// Permit counts never overflow (issue [fix] 12): above semaphore::max_permits the constructor and
// add_permits() throw, and a semaphore never holds fewer permits than it was given.

#include <zokio/sync/semaphore.hpp>

#include "zokio_test.hpp"

#include <cstdint>
#include <limits>
#include <stdexcept>

namespace {

using zokio::semaphore;

TEST(semaphore_limits, the_maximum_is_tokios) {
  EXPECT_EQ(semaphore::max_permits, std::numeric_limits<std::size_t>::max() >> 3);
}

TEST(semaphore_limits, constructing_above_the_maximum_throws) {
  const auto make = [](std::size_t n) { return semaphore(n).available(); };
  EXPECT_THROW(make(std::size_t{1} << 63), std::length_error);
  EXPECT_THROW(make(std::numeric_limits<std::size_t>::max()), std::length_error);
  EXPECT_THROW(make(semaphore::max_permits + 1), std::length_error);
  semaphore s(semaphore::max_permits);
  EXPECT_EQ(s.available(), semaphore::max_permits);
}

TEST(semaphore_limits, add_permits_never_wraps_and_adds_nothing_when_refused) {
  semaphore s(semaphore::max_permits);
  EXPECT_THROW(s.add_permits(1), std::length_error);
  EXPECT_EQ(s.available(), semaphore::max_permits);
  semaphore empty(0);
  EXPECT_THROW(empty.add_permits(std::size_t{1} << 63), std::length_error);
  EXPECT_EQ(empty.available(), 0u);
  empty.add_permits(semaphore::max_permits);
  EXPECT_EQ(empty.available(), semaphore::max_permits);
  semaphore some(10);
  some.add_permits(5);
  EXPECT_EQ(some.available(), 15u);
}

zokio::task<std::size_t> take_and_give(semaphore* s) {
  {
    auto p = co_await s->acquire();
    (void)p;
  }
  co_return s->available();
}

TEST(semaphore_limits, the_maximum_works_with_acquire_and_release) {
  zokio::runtime rt{{.workers = 1}};
  semaphore s(semaphore::max_permits);
  EXPECT_EQ(rt.block_on(take_and_give(&s)), semaphore::max_permits);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
