// Fuzz target: the argument parsing of zokio-bench (tools/zokio-bench/driver/cli.cpp) and
// zokio-soak (tools/zokio-soak/cli.cpp), the pure functions their main() calls before anything
// else. The first input byte picks the tool ('b' zokio-bench, 's' zokio-soak); the rest is the
// arguments, separated by NUL bytes. Whatever the arguments, parse_cli must return (never throw
// but std::bad_alloc, never exit: libFuzzer reports an exit as a failure), and its result must
// keep the tool's promises: a usage error is one non-empty line with exit 2, without a control
// byte (an argument echoed back must not move a terminal's cursor); --help and
// --version exit 0 with their text; a run's options are within the ranges the tool documents
// (and checks nowhere else), and the same arguments parse the same way twice.
//
// Built with libFuzzer in the sanitizer tree (tests/fuzz/CMakeLists.txt); every tree also builds
// a replay of the committed corpus (tests/fuzz/corpus/tool_args).

#include "zokio-bench/driver/cli.hpp"
#include "zokio-soak/cli.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "tool_args_fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

template <class Result>
void check_common(const Result& r, const std::string& args) {
  using kind = typename Result::kind;
  if (r.what == kind::usage) {
    if (r.exit_code != 2) {
      fail("a usage error that does not exit 2", args);
    }
    const bool control = std::any_of(r.text.begin(), r.text.end(), [](char ch) {
      return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
    });
    if (r.text.empty() || control) {
      fail("a usage error that is not one non-empty line of printable text",
           args + "\n-> " + r.text);
    }
  } else if (r.what == kind::exit) {
    if (r.exit_code != 0 || r.text.empty()) {
      fail("--help or --version without text or with a non-zero exit", args);
    }
  } else if (r.exit_code != 0) {
    fail("a run with a non-zero exit code", args);
  }
}

void check_bench(const zokio::bench::cli_result& r, const std::string& args) {
  check_common(r, args);
  using kind = zokio::bench::cli_result::kind;
  if (r.what == kind::compare) {
    const auto& c = r.compare;
    if (!(c.threshold >= 0 && c.threshold <= 10)) {
      fail("compare with a threshold outside 0 to 1000%", args);
    }
    return;
  }
  if (r.what != kind::run) {
    return;
  }
  const zokio::bench::cli_run& o = r.run;
  const std::string values = args + "\n-> repetitions " + std::to_string(o.repetitions) +
                             " scale " + std::to_string(o.scale) + " workers " +
                             std::to_string(o.workers) + " timeout " + std::to_string(o.timeout_s) +
                             " format " + o.format;
  if (o.repetitions < 1 || o.repetitions > 1000 || !(o.scale > 0 && o.scale <= 100) ||
      o.workers < 1 || o.workers > 256 || o.timeout_s < 1 || o.timeout_s > 86400) {
    fail("a run with a number out of its range", values);
  }
  if (o.format != "json" && o.format != "github" && o.format != "markdown") {
    fail("a run with an unknown format", values);
  }
  if (o.selected.empty() || o.peers.empty()) {
    fail("a run that selects no workload or no peer", values);
  }
  for (std::size_t i = 0; i < o.peers.size(); ++i) {
    if (std::find(o.peers.begin(), o.peers.begin() + static_cast<long>(i), o.peers[i]) !=
        o.peers.begin() + static_cast<long>(i)) {
      fail("a run with a peer twice", values);
    }
  }
  for (const std::string* p : {&o.html_path, &o.markdown_path, &o.github_path}) {
    if (*p == "-") {
      fail("a run that writes --html, --markdown or --github to standard output", values);
    }
  }
}

void check_soak(const zokio::soak::cli_result& r, const std::string& args) {
  check_common(r, args);
  if (r.what != zokio::soak::cli_result::kind::run) {
    return;
  }
  using zokio::soak::ms;
  const zokio::soak::config& c = r.cfg;
  if (!c.resume_dir.empty()) {
    // --resume DIR: the settings come from DIR's checkpoint later (load_checkpoint); the parse
    // only names the directory, which is also the output directory.
    if (c.out_dir != c.resume_dir) {
      fail("a resumed run that writes somewhere else than its directory", args);
    }
    return;
  }
  const std::string values =
      args + "\n-> duration " + std::to_string(c.duration.count()) + " ms rate " +
      std::to_string(c.rate) + " workers " + std::to_string(c.workers) + " sample " +
      std::to_string(c.sample_interval.count()) + " ms warmup " + std::to_string(c.warmup.count()) +
      " ms window " + std::to_string(c.drift_window.count());
  if (c.duration < ms(5000) || c.duration > ms(30LL * 24 * 3600 * 1000)) {
    fail("a run shorter than 5 s or longer than 30 days", values);
  }
  if (!(c.rate >= 1 && c.rate <= 100000) || c.workers < 1 || c.workers > 64) {
    fail("a run with a rate or a worker count out of its range", values);
  }
  if (c.profile != "full" && c.profile != "ci") {
    fail("a run with an unknown profile", values);
  }
  // What run_child divides by and sizes its buffers from. (A warm-up as long as a short run is
  // allowed: the report then says "fewer than 5 samples after the warm-up: not judged".)
  if (c.sample_interval < ms(1000) || c.drift_window <= ms(0) || c.warmup <= ms(0) ||
      c.storm_period <= ms(0) || c.burst_period <= ms(0)) {
    fail("a run whose profile gives a period that cannot work", values);
  }
  const std::vector<std::string> kinds = {"",         "leak", "fd-leak", "stall",
                                          "slowdown", "hang", "preempt"};
  if (std::find(kinds.begin(), kinds.end(), c.inject) == kinds.end()) {
    fail("a run with an unknown --inject kind", values);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 4096) {
    return 0;
  }
  const char tool = static_cast<char>(data[0]);
  if (tool != 'b' && tool != 's') {
    return 0;
  }
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> args = {tool == 'b' ? "zokio-bench" : "zokio-soak"};
  if (!text.empty()) {
    for (std::size_t pos = 0;;) {
      const std::size_t end = text.find('\0', pos);
      args.emplace_back(text.substr(pos, end == std::string_view::npos ? end : end - pos));
      if (end == std::string_view::npos || args.size() > 64) {
        break;
      }
      pos = end + 1;
    }
  }
  std::vector<const char*> argv;
  std::string shown;
  for (const std::string& a : args) {
    argv.push_back(a.c_str());
    shown += (shown.empty() ? "" : " ") + ("'" + a + "'");
  }
  argv.push_back(nullptr);
  const int argc = static_cast<int>(args.size());
  try {
    if (tool == 'b') {
      const zokio::bench::cli_result r = zokio::bench::parse_cli(argc, argv.data());
      check_bench(r, shown);
      const zokio::bench::cli_result again = zokio::bench::parse_cli(argc, argv.data());
      if (again.what != r.what || again.text != r.text) {
        fail("the same arguments parsed differently twice", shown);
      }
    } else {
      const zokio::soak::cli_result r = zokio::soak::parse_cli(argc, argv.data());
      check_soak(r, shown);
      const zokio::soak::cli_result again = zokio::soak::parse_cli(argc, argv.data());
      if (again.what != r.what || again.text != r.text) {
        fail("the same arguments parsed differently twice", shown);
      }
    }
  } catch (const std::bad_alloc&) {
    return 0;
  } catch (const std::exception& e) {
    fail("parse_cli threw", shown + "\n-> " + e.what());
  } catch (...) {
    fail("parse_cli threw", shown + "\n-> (not a std::exception)");
  }
  return 0;
}
