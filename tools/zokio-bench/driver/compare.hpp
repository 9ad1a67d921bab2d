#pragma once

// zokio-bench compare BASE.json HEAD.json [--threshold 5%]: per benchmark present in both, the
// change of the median and a two-sided Mann-Whitney U test over the repetitions' samples. Exit 1
// when a Zokio benchmark regressed beyond the threshold with p < 0.05, 0 otherwise, 2 when an
// input is missing or malformed.

#include <cstdio>
#include <string>

namespace zokio::bench {

int run_compare(const std::string& base, const std::string& head, double threshold, std::FILE* out);

/// "5%", "5" (percent) or "0.5%": the threshold as a fraction; nothing when malformed.
bool parse_threshold(const std::string& text, double& fraction);

} // namespace zokio::bench
