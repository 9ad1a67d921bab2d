#pragma once

// The main of every Google Benchmark tool of Zokio (zokio-bench-micro, zokio-bench-tcp): the
// shared tool contract on top of Google Benchmark's own flags.
//
//   --json FILE|-            the Google-Benchmark-shaped JSON, written through the tools' one
//                            output writer (checked before any benchmark runs; a FIFO, a device,
//                            /dev/stdout or a symlink is written as DESIGN.md says)
//   --benchmark_out=FILE     the same as --json FILE (--benchmark_out_format must be json)
//   --version, --help        the version and build commit; the flags and the exit-code table
//
// Every JSON carries the version, the git commit and the dirty flag of the build in its
// "context", and zokio_build_type (CMAKE_BUILD_TYPE) beside Google Benchmark's own
// library_build_type: Debian's libbenchmark 1.7.1 is built without NDEBUG, so it prints
// "***WARNING*** Library was built as DEBUG" and records "debug" whatever Zokio's build is. Exit
// codes: 0 passed, 1 a benchmark failed, 2 usage or environment error.

#include <string>
#include <utility>
#include <vector>

namespace zokio::tools {

struct bench_program {
  const char* name; ///< "zokio-bench-micro"
  /// Added to the context of every report, after the provenance.
  std::vector<std::pair<std::string, std::string>> context;
  /// Set by a benchmark that failed (it also calls State::SkipWithError): the exit code is 1.
  const bool* failed;
};

int bench_main(int argc, char** argv, const bench_program& program);

} // namespace zokio::tools
