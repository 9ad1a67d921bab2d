#include "bench_main.hpp"

#include <zokio_tools/exit_codes.hpp>
#include <zokio_tools/output_file.hpp>
#include <zokio_tools/provenance.hpp>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string_view>

#include <unistd.h>

#ifndef ZOKIO_BENCH_BUILD_TYPE
#ifdef NDEBUG
#define ZOKIO_BENCH_BUILD_TYPE "release (NDEBUG)"
#else
#define ZOKIO_BENCH_BUILD_TYPE "debug (no NDEBUG)"
#endif
#endif

namespace zokio::tools {

namespace {

/// What Google Benchmark's DEBUG warning is about, for --help and the report's context.
constexpr const char* library_build_note =
    "Debian's libbenchmark 1.7.1 is itself built without NDEBUG: it prints '***WARNING*** "
    "Library was built as DEBUG. Timings may be affected.' and records library_build_type "
    "\"debug\" on every run. That is the benchmark library's own build (its timing loop), not "
    "Zokio's: zokio_build_type in the context is the build of the code measured.";

/// Hands every report to the display reporter and to the JSON reporter of the output file, so the
/// library never opens a file of its own.
class tee_reporter final : public benchmark::BenchmarkReporter {
public:
  tee_reporter(benchmark::BenchmarkReporter& display, benchmark::BenchmarkReporter& file)
      : m_display(display), m_file(file) {
    SetOutputStream(&display.GetOutputStream());
    SetErrorStream(&display.GetErrorStream());
  }
  bool ReportContext(const Context& context) override {
    const bool run = m_display.ReportContext(context);
    return m_file.ReportContext(context) && run;
  }
  void ReportRuns(const std::vector<Run>& report) override {
    m_display.ReportRuns(report);
    m_file.ReportRuns(report);
  }
  void Finalize() override {
    m_display.Finalize();
    m_file.Finalize();
  }

private:
  benchmark::BenchmarkReporter& m_display;
  benchmark::BenchmarkReporter& m_file;
};

std::optional<std::string> value_of(std::string_view arg, std::string_view flag) {
  if (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag && arg[flag.size()] == '=') {
    return std::string(arg.substr(flag.size() + 1));
  }
  return std::nullopt;
}

/// A whole number >= 1 (`whole`), or a number >= 0 (with an optional "s" unit).
bool valid_number(std::string text, bool whole) {
  if (!whole && !text.empty() && text.back() == 's') {
    text.pop_back();
  }
  if (text.empty() || text.size() > 18) {
    return false;
  }
  std::size_t dots = 0;
  for (char c : text) {
    if (c == '.' && !whole) {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  if (dots > 1 || text == ".") {
    return false;
  }
  return !whole || std::stoll(text) >= 1;
}

std::unique_ptr<benchmark::BenchmarkReporter> display_reporter(const std::string& format,
                                                               bool to_terminal) {
  if (format == "json") {
    return std::make_unique<benchmark::JSONReporter>();
  }
  return std::make_unique<benchmark::ConsoleReporter>(
      to_terminal ? benchmark::ConsoleReporter::OO_Color : benchmark::ConsoleReporter::OO_None);
}

} // namespace

int bench_main(int argc, char** argv, const bench_program& program) {
  const auto usage = [&program](const std::string& why) {
    std::fprintf(stderr, "%s: %s (see --help)\n", program.name, why.c_str());
    return code(exit_status::usage);
  };

  // Our flags are taken out before Google Benchmark sees the rest.
  std::vector<char*> args{argv[0]};
  std::optional<std::string> json_path;
  std::string display_format = "console";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--version") {
      std::printf("%s %s\n", program.name, version_line().c_str());
      return code(exit_status::passed);
    }
    if (arg == "--help") {
      std::printf("%s: Zokio benchmarks (Google Benchmark).\n"
                  "  --json FILE|-          write the results as JSON ('-': standard output)\n"
                  "  --benchmark_out=FILE   the same as --json FILE\n"
                  "  --version              print the version and build commit\n"
                  "%s\n\n%s\n\nGoogle Benchmark's flags:\n",
                  program.name, exit_code_help().c_str(), library_build_note);
      std::fflush(stdout);
      args.push_back(argv[i]); // Google Benchmark prints its flags and exits 0
      continue;
    }
    if (arg == "--json") {
      if (i + 1 >= argc) {
        return usage("--json needs a file name, or '-' for standard output");
      }
      json_path = argv[++i];
      continue;
    }
    if (auto v = value_of(arg, "--json")) {
      json_path = *v;
      continue;
    }
    if (auto v = value_of(arg, "--benchmark_out")) {
      json_path = *v;
      continue;
    }
    if (auto v = value_of(arg, "--benchmark_out_format")) {
      if (*v != "json") {
        return usage("--benchmark_out_format=" + *v + ": only json is written");
      }
      continue;
    }
    if (auto v = value_of(arg, "--benchmark_format")) {
      if (*v != "console" && *v != "json") {
        return usage("--benchmark_format=" + *v + ": console or json");
      }
      display_format = *v;
    }
    // Google Benchmark 1.7.1 takes a negative or malformed number badly (a negative repetition
    // count aborts, a negative time runs): the numeric flags are checked here first.
    for (const char* flag :
         {"--benchmark_repetitions", "--benchmark_min_time", "--benchmark_min_warmup_time"}) {
      if (auto v = value_of(arg, flag)) {
        if (!valid_number(*v, std::string_view(flag) == "--benchmark_repetitions")) {
          return usage(std::string(flag) + "=" + *v +
                       (std::string_view(flag) == "--benchmark_repetitions"
                            ? ": a whole number from 1"
                            : ": a number of seconds, 0 or more"));
        }
      }
    }
    args.push_back(argv[i]);
  }
  if (json_path && json_path->empty()) {
    return usage("--json needs a file name, or '-' for standard output");
  }
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) {
    return code(exit_status::usage);
  }

  // Before any benchmark runs: a path that cannot be written fails now.
  std::optional<output_file> out;
  if (json_path) {
    try {
      out = output_file::open(*json_path);
    } catch (const output_error& e) {
      std::fprintf(stderr, "%s: --json %s\n", program.name, e.what());
      return code(exit_status::usage);
    }
  }

  const provenance& build = build_provenance();
  benchmark::AddCustomContext("zokio_version", build.version);
  benchmark::AddCustomContext("zokio_git_commit", build.git_commit);
  benchmark::AddCustomContext("zokio_git_dirty", build.git_dirty ? "true" : "false");
  // Beside Google Benchmark's library_build_type, which is the library's build, not Zokio's.
  benchmark::AddCustomContext("zokio_build_type", ZOKIO_BENCH_BUILD_TYPE);
  benchmark::AddCustomContext("library_build_type_note", library_build_note);
  for (const auto& [key, value] : program.context) {
    benchmark::AddCustomContext(key, value);
  }

  // With the JSON on standard output, the human display goes to standard error.
  const bool display_to_stderr = out && out->is_stdout();
  const auto display = display_reporter(display_format, ::isatty(display_to_stderr ? 2 : 1) != 0);
  if (display_to_stderr) {
    display->SetOutputStream(&std::cerr);
  }
  if (out) {
    std::ostringstream json;
    benchmark::JSONReporter file;
    file.SetOutputStream(&json);
    file.SetErrorStream(&json);
    tee_reporter tee(*display, file);
    benchmark::RunSpecifiedBenchmarks(&tee);
    benchmark::Shutdown();
    try {
      out->write(json.str());
    } catch (const output_error& e) {
      std::fprintf(stderr, "%s: --json %s\n", program.name, e.what());
      return code(exit_status::usage);
    }
  } else {
    benchmark::RunSpecifiedBenchmarks(display.get());
    benchmark::Shutdown();
  }
  if (*program.failed) {
    std::fprintf(stderr, "%s: at least one benchmark failed (see above)\n", program.name);
    return code(exit_status::failed);
  }
  return code(exit_status::passed);
}

} // namespace zokio::tools
