// The tools' shared latency histogram (tools/common/include/zokio_tools/histogram.hpp): bucket
// bounds, quantiles within the stated relative error, and merging without loss.

#include "../../tools/common/include/zokio_tools/histogram.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

using zokio::tools::log_histogram;

TEST(ToolsHistogram, SmallValuesAreExact) {
  log_histogram h;
  for (std::uint64_t v = 0; v < 32; ++v) {
    EXPECT_EQ(h.index_of(v), v);
    EXPECT_EQ(h.lowest_of(v), v);
    EXPECT_EQ(h.highest_of(v), v);
  }
}

TEST(ToolsHistogram, BucketsCoverEveryValueInOrder) {
  log_histogram h;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 64);
    const std::size_t b = h.index_of(v);
    ASSERT_LT(b, h.buckets().size());
    ASSERT_LE(h.lowest_of(b), v);
    ASSERT_GE(h.highest_of(b), v);
    // Relative width: at most 1/32 of the bucket's lowest value.
    ASSERT_LE(h.highest_of(b) - h.lowest_of(b), h.lowest_of(b) / 32);
  }
  const std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(h.index_of(top), h.buckets().size() - 1);
  EXPECT_EQ(h.highest_of(h.index_of(top)), top);
  for (std::size_t b = 1; b < h.buckets().size(); ++b) {
    ASSERT_EQ(h.lowest_of(b), h.highest_of(b - 1) + 1) << b;
  }
}

TEST(ToolsHistogram, QuantilesWithinRelativeError) {
  log_histogram h;
  std::vector<std::uint64_t> values;
  for (std::uint64_t v = 1; v <= 100000; ++v) {
    values.push_back(v * 1000); // 1 us .. 100 ms in ns
    h.record(v * 1000);
  }
  EXPECT_EQ(h.count(), 100000U);
  EXPECT_EQ(h.min(), 1000U);
  EXPECT_EQ(h.max(), 100000000U);
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double truth = static_cast<double>(values[static_cast<std::size_t>(q * 100000) - 1]);
    const double got = static_cast<double>(h.quantile(q));
    EXPECT_GE(got, truth) << q;
    EXPECT_LE(got, truth * (1.0 + 1.0 / 32)) << q;
  }
  EXPECT_EQ(h.quantile(1.0), h.max());
  EXPECT_NEAR(h.mean(), 50000500.0, 1.0);
}

TEST(ToolsHistogram, MergeIsLossless) {
  log_histogram whole;
  std::vector<log_histogram> windows(10);
  std::mt19937_64 rng(11);
  for (int i = 0; i < 50000; ++i) {
    const std::uint64_t v = 1000 + rng() % 5000000;
    whole.record(v);
    windows[static_cast<std::size_t>(i) % windows.size()].record(v);
  }
  log_histogram merged;
  for (const log_histogram& w : windows) {
    merged.merge(w);
  }
  EXPECT_EQ(merged.buckets(), whole.buckets());
  EXPECT_EQ(merged.count(), whole.count());
  EXPECT_EQ(merged.min(), whole.min());
  EXPECT_EQ(merged.max(), whole.max());
  for (double q : {0.5, 0.99, 0.9999}) {
    EXPECT_EQ(merged.quantile(q), whole.quantile(q));
  }
  merged.reset();
  EXPECT_EQ(merged.count(), 0U);
  EXPECT_EQ(merged.quantile(0.99), 0U);
}

TEST(ToolsHistogram, DifferentPrecisionsDoNotMerge) {
  log_histogram a(5);
  log_histogram b(6);
  EXPECT_THROW(a.merge(b), std::invalid_argument);
  EXPECT_THROW(log_histogram(0), std::invalid_argument);
}
