// The tools' shared latency histogram saved as its parts and read back
// (log_histogram::from_parts, zokio-soak's checkpoint): the same histogram, and parts that cannot
// come from one histogram refused.

#include "../../tools/common/include/zokio_tools/histogram.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

using zokio::tools::log_histogram;
using parts = std::vector<std::pair<std::size_t, std::uint64_t>>;

namespace {

parts nonzero(const log_histogram& h) {
  parts p;
  for (std::size_t i = 0; i < h.buckets().size(); ++i) {
    if (h.buckets()[i] != 0) {
      p.emplace_back(i, h.buckets()[i]);
    }
  }
  return p;
}

} // namespace

TEST(ToolsHistogramParts, RoundTripThenMergeEqualsTheWhole) {
  // Two halves of a run (two processes of a resumed soak): the first saved and read back, then
  // merged with the second, equals the histogram of the whole run.
  log_histogram first, second, whole;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 40000; ++i) {
    const std::uint64_t v = 500 + rng() % 80000000;
    whole.record(v);
    (i < 25000 ? first : second).record(v);
  }
  log_histogram back =
      log_histogram::from_parts(5, nonzero(first), first.min(), first.max(), first.sum());
  EXPECT_EQ(back.buckets(), first.buckets());
  EXPECT_EQ(back.count(), first.count());
  EXPECT_EQ(back.min(), first.min());
  EXPECT_EQ(back.max(), first.max());
  EXPECT_DOUBLE_EQ(back.mean(), first.mean());
  back.merge(second);
  EXPECT_EQ(back.buckets(), whole.buckets());
  EXPECT_EQ(back.count(), whole.count());
  EXPECT_EQ(back.min(), whole.min());
  EXPECT_EQ(back.max(), whole.max());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    EXPECT_EQ(back.quantile(q), whole.quantile(q)) << q;
  }
}

TEST(ToolsHistogramParts, EmptyRoundTrips) {
  const log_histogram h = log_histogram::from_parts(5, {}, 0, 0, 0);
  EXPECT_EQ(h.count(), 0U);
  EXPECT_EQ(h.quantile(0.99), 0U);
}

TEST(ToolsHistogramParts, ImpossiblePartsAreRefused) {
  log_histogram h;
  h.record(1000);
  h.record(5000);
  const parts p = nonzero(h);
  // A bucket index past the end, or given twice.
  EXPECT_THROW(log_histogram::from_parts(5, {{log_histogram::bucket_count(5), 1}}, 0, 0, 0),
               std::invalid_argument);
  EXPECT_THROW(log_histogram::from_parts(5, {p[0], p[0]}, 1000, 1000, 2000), std::invalid_argument);
  // min or max outside the lowest or highest non-empty bucket, min above max.
  EXPECT_THROW(log_histogram::from_parts(5, p, 900, 5000, 6000), std::invalid_argument);
  EXPECT_THROW(log_histogram::from_parts(5, p, 1000, 9000, 6000), std::invalid_argument);
  EXPECT_THROW(log_histogram::from_parts(5, {p[0]}, 1001, 1000, 1000), std::invalid_argument);
  // A min, max or sum without counts; a precision out of range.
  EXPECT_THROW(log_histogram::from_parts(5, {}, 1, 1, 1), std::invalid_argument);
  EXPECT_THROW(log_histogram::from_parts(11, p, 1000, 5000, 6000), std::invalid_argument);
  // The real parts are accepted.
  EXPECT_EQ(log_histogram::from_parts(5, p, 1000, 5000, 6000).count(), 2U);
}
