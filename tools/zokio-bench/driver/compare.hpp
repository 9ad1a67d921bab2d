#pragma once

// zokio-bench compare BASE.json HEAD.json [--threshold 5%]: per benchmark present in both, the
// change of the median and a two-sided Mann-Whitney U test over the repetitions' samples. Exit 1
// when a Zokio benchmark regressed beyond the threshold with p < 0.05, 0 otherwise, 2 when an
// input is missing or malformed.

#include "compare_input.hpp"

#include <cstdio>
#include <map>
#include <string>

namespace zokio::bench {

int run_compare(const std::string& base, const std::string& head, double threshold, std::FILE* out);

/// run_compare's table (to `out`) and verdict, for reports already read; `err` gets the line of
/// an exit 2 (`base_path` and `head_path` name the reports in it). The same exit codes.
int compare_reports(const std::map<std::string, compare_entry>& base,
                    const std::map<std::string, compare_entry>& head, double threshold,
                    std::FILE* out, std::FILE* err, const std::string& base_path,
                    const std::string& head_path);

/// "5%", "5" (percent) or "0.5%": the threshold as a fraction; nothing when malformed.
bool parse_threshold(const std::string& text, double& fraction);

} // namespace zokio::bench
