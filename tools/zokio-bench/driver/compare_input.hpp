#pragma once

// The reader of `zokio-bench compare`'s inputs: a zokio.bench/1 document (report.cpp's to_json)
// as text, to the benchmarks it holds by name. Apart from files so that the fuzz target
// tests/fuzz/bench_compare_fuzz.cpp can feed it any text.

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace zokio::bench {

/// One benchmark of a report, as compare reads it.
struct compare_entry {
  std::string peer;
  std::string unit;
  bool bigger_is_better = false;
  double value = 0;
  std::vector<double> samples;
};

/// What is wrong with an input: one line, starting with the input's name.
class compare_input_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The benchmarks of the zokio.bench/1 document `text` by name (a name given twice: the last
/// entry). `name` (the file's path) starts each error's line. Throws compare_input_error, and
/// nothing else but std::bad_alloc.
std::map<std::string, compare_entry> parse_compare_input(std::string_view text,
                                                         const std::string& name);

} // namespace zokio::bench
