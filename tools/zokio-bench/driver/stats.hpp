#pragma once

// The statistics of the driver: medians, a distribution-free confidence interval of the median,
// and the Mann-Whitney U test that `compare` uses.

#include <optional>
#include <vector>

namespace zokio::bench {

struct summary {
  double min = 0;
  double median = 0;
  double max = 0;
  /// The 95% interval of the median from order statistics [x(k), x(n-k+1)], k the largest with
  /// P(k <= B <= n-k) >= 0.95 for B ~ Binomial(n, 1/2); nothing when n is too small for one.
  std::optional<double> ci_low;
  std::optional<double> ci_high;
  double ci_level = 0; ///< the exact coverage of [ci_low, ci_high] (>= 0.95), 0 without one
};

/// Repetitions needed for a 95% interval of the median (6).
int min_repetitions_for_ci();

/// `values` must not be empty.
summary summarize(std::vector<double> values);

/// Two-sided p-value of the Mann-Whitney U test of a against b: exact (no ties, both samples at
/// most 30) or the normal approximation with tie and continuity corrections. 1 when either
/// sample is empty.
double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b);

} // namespace zokio::bench
