#pragma once

// The one latency histogram of the tools (ROADMAP.md, "Shared pieces, built once"): log buckets
// in the style of HdrHistogram, each power of two cut into 2^precision_bits linear sub-buckets,
// so every recorded value is kept within a relative error of 2^-precision_bits (about 3 % with
// the default 5 bits) from 1 to 2^64-1, in a fixed array. Values below 2^precision_bits are
// exact. Two histograms of the same precision merge by adding their buckets: merging the
// per-window histograms of a run gives exactly the histogram of the whole run, so any time range
// can be re-aggregated without loss.
//
// Units are the caller's (the tools record nanoseconds). Header-only, no allocation after
// construction; not thread-safe: one writer at a time, as any container.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

namespace zokio::tools {

class log_histogram {
public:
  /// `precision_bits` linear sub-buckets per power of two (1..10).
  explicit log_histogram(unsigned precision_bits = 5)
      : m_bits(precision_bits), m_counts(bucket_count(precision_bits), 0) {
    if (precision_bits < 1 || precision_bits > 10) {
      throw std::invalid_argument("log_histogram: precision_bits must be 1..10");
    }
  }

  /// Counts `value` (`n` times).
  void record(std::uint64_t value, std::uint64_t n = 1) noexcept {
    if (n == 0) {
      return;
    }
    m_counts[index_of(value)] += n;
    if (m_total == 0 || value < m_min) {
      m_min = value;
    }
    m_max = std::max(m_max, value);
    m_total += n;
    m_sum += static_cast<long double>(value) * static_cast<long double>(n);
  }

  /// Adds every count of `other`. Throws std::invalid_argument when the precisions differ.
  void merge(const log_histogram& other) {
    if (other.m_bits != m_bits) {
      throw std::invalid_argument("log_histogram: cannot merge histograms of different precision");
    }
    if (other.m_total == 0) {
      return;
    }
    for (std::size_t i = 0; i < m_counts.size(); ++i) {
      m_counts[i] += other.m_counts[i];
    }
    m_min = m_total == 0 ? other.m_min : std::min(m_min, other.m_min);
    m_max = std::max(m_max, other.m_max);
    m_total += other.m_total;
    m_sum += other.m_sum;
  }

  void reset() noexcept {
    std::fill(m_counts.begin(), m_counts.end(), 0);
    m_total = 0;
    m_min = 0;
    m_max = 0;
    m_sum = 0;
  }

  std::uint64_t count() const noexcept { return m_total; }
  /// The exact smallest and largest values recorded (0 when empty).
  std::uint64_t min() const noexcept { return m_min; }
  std::uint64_t max() const noexcept { return m_max; }
  double mean() const noexcept {
    return m_total == 0 ? 0.0 : static_cast<double>(m_sum / static_cast<long double>(m_total));
  }
  unsigned precision_bits() const noexcept { return m_bits; }

  /// The value at quantile `q` (0..1): the highest value of the bucket holding the
  /// ceil(q * count)-th smallest value, clamped to [min, max], so a reported percentile is never
  /// below the true one by more than the bucket's width. 0 when empty.
  std::uint64_t quantile(double q) const noexcept {
    if (m_total == 0) {
      return 0;
    }
    q = std::clamp(q, 0.0, 1.0);
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(m_total) + 0.5);
    rank = std::clamp<std::uint64_t>(rank, 1, m_total);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < m_counts.size(); ++i) {
      seen += m_counts[i];
      if (seen >= rank) {
        return std::clamp(highest_of(i), m_min, m_max);
      }
    }
    return m_max;
  }

  /// The bucket index of `value`; buckets are ordered by value.
  std::size_t index_of(std::uint64_t value) const noexcept {
    const std::uint64_t sub = std::uint64_t{1} << m_bits;
    if (value < sub) {
      return static_cast<std::size_t>(value);
    }
    const unsigned exp = 63U - static_cast<unsigned>(std::countl_zero(value)); // >= m_bits
    const unsigned shift = exp - m_bits;
    return static_cast<std::size_t>((shift + 1) * sub + ((value >> shift) - sub));
  }
  /// The smallest and largest value that bucket `i` holds.
  std::uint64_t lowest_of(std::size_t i) const noexcept {
    const std::uint64_t sub = std::uint64_t{1} << m_bits;
    if (i < sub) {
      return i;
    }
    const std::uint64_t shift = i / sub - 1;
    return (sub + i % sub) << shift;
  }
  std::uint64_t highest_of(std::size_t i) const noexcept {
    const std::uint64_t sub = std::uint64_t{1} << m_bits;
    if (i < sub) {
      return i;
    }
    const std::uint64_t shift = i / sub - 1;
    const std::uint64_t low = lowest_of(i);
    const std::uint64_t width = std::uint64_t{1} << shift;
    return low > std::numeric_limits<std::uint64_t>::max() - (width - 1) ? low : low + width - 1;
  }
  /// The raw counts, bucket by bucket (for serialising; `lowest_of`/`highest_of` give bounds).
  const std::vector<std::uint64_t>& buckets() const noexcept { return m_counts; }
  /// The exact sum of the values recorded (`mean()` is it over `count()`), for serialising.
  long double sum() const noexcept { return m_sum; }

  /// A histogram saved as its parts and read back (zokio-soak's checkpoint): `counts` are the
  /// non-zero buckets as (index, count) pairs, in any order, and `min`, `max` and `sum` what
  /// `min()`, `max()` and `sum()` gave. The result equals the saved histogram: same quantiles,
  /// same merges. Throws std::invalid_argument when the parts cannot come from one histogram of
  /// that precision (an index out of range, an index twice, min or max outside the lowest or
  /// highest non-empty bucket, or a min or max without counts).
  static log_histogram from_parts(unsigned precision_bits,
                                  const std::vector<std::pair<std::size_t, std::uint64_t>>& counts,
                                  std::uint64_t min, std::uint64_t max, long double sum) {
    log_histogram h(precision_bits);
    std::size_t lowest = h.m_counts.size(), highest = 0;
    for (const auto& [i, n] : counts) {
      if (i >= h.m_counts.size() || h.m_counts[i] != 0) {
        throw std::invalid_argument("log_histogram: bucket index out of range or repeated");
      }
      if (n == 0) {
        continue;
      }
      if (h.m_total > std::numeric_limits<std::uint64_t>::max() - n) {
        throw std::invalid_argument("log_histogram: counts overflow");
      }
      h.m_counts[i] = n;
      h.m_total += n;
      lowest = std::min(lowest, i);
      highest = std::max(highest, i);
    }
    if (h.m_total == 0) {
      if (min != 0 || max != 0 || sum != 0) {
        throw std::invalid_argument("log_histogram: min, max or sum without counts");
      }
      return h;
    }
    if (min > max || h.index_of(min) != lowest || h.index_of(max) != highest || !(sum >= 0)) {
      throw std::invalid_argument("log_histogram: min or max outside the non-empty buckets");
    }
    h.m_min = min;
    h.m_max = max;
    h.m_sum = sum;
    return h;
  }

  static std::size_t bucket_count(unsigned precision_bits) noexcept {
    // Buckets 0..2^b-1 hold 0..2^b-1 exactly; then one group of 2^b per exponent b..63.
    const std::size_t sub = std::size_t{1} << precision_bits;
    return sub + (64 - precision_bits) * sub;
  }

private:
  unsigned m_bits;
  std::vector<std::uint64_t> m_counts;
  std::uint64_t m_total = 0;
  std::uint64_t m_min = 0;
  std::uint64_t m_max = 0;
  long double m_sum = 0;
};

} // namespace zokio::tools
