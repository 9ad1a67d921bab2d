#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace zokio::bench {

namespace {

/// P(k <= B <= n - k), B ~ Binomial(n, 1/2).
double central_mass(int n, int k) {
  double sum = 0;
  for (int i = k; i <= n - k; ++i) {
    sum += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) -
                    n * std::log(2.0));
  }
  return sum;
}

/// Number of orderings of m x's and n y's with U = u, for every u (exact null distribution).
std::vector<double> u_counts(int m, int n) {
  // f[i][j] as vectors over u, built up by the recursion f(i,j,u) = f(i-1,j,u-j) + f(i,j-1,u).
  std::vector<std::vector<std::vector<double>>> f(m + 1, std::vector<std::vector<double>>(n + 1));
  for (int i = 0; i <= m; ++i) {
    for (int j = 0; j <= n; ++j) {
      std::vector<double>& cur = f[i][j];
      cur.assign(static_cast<std::size_t>(i * j + 1), 0.0);
      if (i == 0 || j == 0) {
        cur[0] = 1;
        continue;
      }
      const std::vector<double>& a = f[i - 1][j];
      for (std::size_t u = 0; u < a.size(); ++u) {
        cur[u + static_cast<std::size_t>(j)] += a[u];
      }
      const std::vector<double>& b = f[i][j - 1];
      for (std::size_t u = 0; u < b.size(); ++u) {
        cur[u] += b[u];
      }
    }
  }
  return f[m][n];
}

} // namespace

int min_repetitions_for_ci() {
  for (int n = 1;; ++n) {
    if (central_mass(n, 1) >= 0.95) {
      return n;
    }
  }
}

summary summarize(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  summary s;
  s.min = values.front();
  s.max = values.back();
  s.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  const int ni = static_cast<int>(n);
  for (int k = ni / 2; k >= 1; --k) {
    const double mass = central_mass(ni, k);
    if (mass >= 0.95) {
      s.ci_low = values[static_cast<std::size_t>(k - 1)];
      s.ci_high = values[n - static_cast<std::size_t>(k)];
      s.ci_level = mass;
      break;
    }
  }
  return s;
}

double mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b) {
  const std::size_t n1 = a.size();
  const std::size_t n2 = b.size();
  if (n1 == 0 || n2 == 0) {
    return 1;
  }
  std::vector<std::pair<double, int>> all;
  for (double x : a) {
    all.emplace_back(x, 0);
  }
  for (double y : b) {
    all.emplace_back(y, 1);
  }
  std::sort(all.begin(), all.end());
  const std::size_t n = all.size();
  double rank_sum_a = 0;
  double tie_term = 0;
  bool ties = false;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && all[j].first == all[i].first) {
      ++j;
    }
    const double t = static_cast<double>(j - i);
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (std::size_t k = i; k < j; ++k) {
      if (all[k].second == 0) {
        rank_sum_a += rank;
      }
    }
    if (t > 1) {
      ties = true;
      tie_term += t * t * t - t;
    }
    i = j;
  }
  const double d1 = static_cast<double>(n1);
  const double d2 = static_cast<double>(n2);
  const double u = rank_sum_a - d1 * (d1 + 1) / 2;
  if (!ties && n1 <= 30 && n2 <= 30) {
    const std::vector<double> counts = u_counts(static_cast<int>(n1), static_cast<int>(n2));
    double total = 0;
    for (double c : counts) {
      total += c;
    }
    const auto ui = static_cast<std::size_t>(std::llround(u));
    double below = 0; // P(U <= u)
    double above = 0; // P(U >= u)
    for (std::size_t k = 0; k < counts.size(); ++k) {
      if (k <= ui) {
        below += counts[k];
      }
      if (k >= ui) {
        above += counts[k];
      }
    }
    return std::min(1.0, 2 * std::min(below, above) / total);
  }
  const double dn = d1 + d2;
  const double mean = d1 * d2 / 2;
  const double var = d1 * d2 / 12 * ((dn + 1) - tie_term / (dn * (dn - 1)));
  if (var <= 0) {
    return 1;
  }
  const double z = std::max(0.0, std::abs(u - mean) - 0.5) / std::sqrt(var);
  return std::min(1.0, std::erfc(z / std::sqrt(2.0)));
}

} // namespace zokio::bench
