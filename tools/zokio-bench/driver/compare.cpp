#include "compare.hpp"

#include "compare_input.hpp"
#include "stats.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

namespace zokio::bench {

namespace {

using entry = compare_entry;

/// The benchmarks of the zokio.bench/1 document at `path`; throws std::runtime_error with one
/// line.
std::map<std::string, entry> load(const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    throw std::runtime_error(path + ": cannot be read (missing or not readable)");
  }
  std::stringstream text;
  text << f.rdbuf();
  return parse_compare_input(text.str(), path);
}

} // namespace

bool parse_threshold(const std::string& text, double& fraction) {
  std::string t = text;
  if (!t.empty() && t.back() == '%') {
    t.pop_back();
  }
  if (t.empty()) {
    return false;
  }
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end == nullptr || *end != '\0' || !std::isfinite(v) || v < 0 || v > 1000) {
    return false;
  }
  fraction = v / 100;
  return true;
}

int run_compare(const std::string& base_path, const std::string& head_path, double threshold,
                std::FILE* out) {
  std::map<std::string, entry> base;
  std::map<std::string, entry> head;
  try {
    base = load(base_path);
    head = load(head_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zokio-bench compare: %s\n", e.what());
    return 2;
  }
  return compare_reports(base, head, threshold, out, stderr, base_path, head_path);
}

int compare_reports(const std::map<std::string, compare_entry>& base,
                    const std::map<std::string, compare_entry>& head, double threshold,
                    std::FILE* out, std::FILE* err, const std::string& base_path,
                    const std::string& head_path) {
  std::fprintf(out,
               "zokio-bench compare: change of the median (+: worse), two-sided Mann-Whitney U "
               "over the repetitions; a Zokio benchmark regressed when worse by more than %.3g%% "
               "with p < 0.05\n",
               threshold * 100);
  std::fprintf(out, "%-48s %12s %12s %9s %8s  %s\n", "benchmark", "base", "head", "change", "p",
               "verdict");
  int regressions = 0;
  int compared = 0;
  for (const auto& [name, b] : base) {
    const auto h = head.find(name);
    if (h == head.end()) {
      std::fprintf(out, "%-48s %12.4g %12s %9s %8s  only in base\n", name.c_str(), b.value, "-",
                   "-", "-");
      continue;
    }
    ++compared;
    const entry& e = h->second;
    // The change in the direction of "worse": a time that grew, a rate that fell.
    const double rel = b.value != 0 ? (e.value - b.value) / std::abs(b.value) : 0;
    double worse = b.bigger_is_better ? -rel : rel;
    worse = worse == 0 ? 0 : worse; // no "-0.0%"
    const double p = mann_whitney_p(b.samples, e.samples);
    std::string verdict = "same";
    if (p < 0.05 && worse > threshold) {
      verdict = b.peer == "zokio" ? "REGRESSED" : "worse (peer, not gated)";
      regressions += b.peer == "zokio" ? 1 : 0;
    } else if (p < 0.05 && -worse > threshold) {
      verdict = "improved";
    } else if (std::min(b.samples.size(), e.samples.size()) < 4) {
      verdict = "same (too few repetitions for p < 0.05: need 4 on each side)";
    }
    std::fprintf(out, "%-48s %12.4g %12.4g %+8.1f%% %8.3g  %s\n", name.c_str(), b.value, e.value,
                 worse * 100, p, verdict.c_str());
  }
  for (const auto& [name, e] : head) {
    if (base.count(name) == 0) {
      std::fprintf(out, "%-48s %12s %12.4g %9s %8s  only in head\n", name.c_str(), "-", e.value,
                   "-", "-");
    }
  }
  if (compared == 0) {
    std::fprintf(err, "zokio-bench compare: no benchmark is in both %s and %s\n", base_path.c_str(),
                 head_path.c_str());
    return 2;
  }
  std::fprintf(out, "zokio-bench compare: %d Zokio benchmark(s) regressed\n", regressions);
  return regressions > 0 ? 1 : 0;
}

} // namespace zokio::bench
