#pragma once

// The reports of a run: the table on the terminal, the JSON document (Google Benchmark's shape,
// schema zokio.bench/1), github-action-benchmark's customSmallerIsBetter array, Markdown, and a
// self-contained HTML page drawn with Chart.js.

#include "model.hpp"
#include "stats.hpp"

#include <cstdio>
#include <string>

namespace zokio::bench {

/// The median etc. of a cell's samples (nothing without a sample).
std::optional<summary> summary_of(const cell& c);

/// Zokio's median over the peer's, so that < 1 always means Zokio is better: time over time for
/// smaller-is-better metrics, the peer's value over Zokio's for bigger-is-better ones.
std::optional<double> ratio(const run_result& run, const workload& w, const std::string& peer);

void print_table(std::FILE* out, const run_result& run);
ojson to_json(const run_result& run);
std::string to_github(const run_result& run);
std::string to_markdown(const run_result& run);
/// `chartjs` is the text of chart.min.js, inlined.
std::string to_html(const run_result& run, const std::string& chartjs);

/// "12.3", "1.23k" style numbers for tables: 4 significant digits.
std::string human(double v);

} // namespace zokio::bench
