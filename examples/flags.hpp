#pragma once

// Flag parsing shared by the examples: "--name VALUE" pairs and -h/--help. A bad flag or value
// is one line on standard error and exit 2; --help prints the usage and exits 0.

#include <cstdio>
#include <cstdlib>
#include <string>

namespace example {

class flags {
public:
  /// `program` names the messages; `synopsis` is the usage line after the program's name.
  flags(const char* program, const char* synopsis) noexcept
      : m_program(program), m_synopsis(synopsis) {}

  [[noreturn]] void usage(const std::string& why) const {
    if (!why.empty()) {
      std::fprintf(stderr, "%s: %s\n", m_program, why.c_str());
    }
    std::fprintf(why.empty() ? stdout : stderr, "usage: %s %s\n", m_program, m_synopsis);
    std::exit(why.empty() ? 0 : 2);
  }

  /// `text` as a whole decimal number in [min, max], else a usage error naming `flag`.
  unsigned number(const std::string& flag, const char* text, unsigned min, unsigned max) const {
    char* end = nullptr;
    const unsigned long v = std::strtoul(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || v < min || v > max) {
      usage("bad value for " + flag + ": " + text);
    }
    return static_cast<unsigned>(v);
  }

  /// Calls `take(flag, value)` for each pair; `take` returns false for a flag it does not know.
  template <typename Take>
  void parse(int argc, char** argv, Take take) const {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        usage("");
      }
      if (i + 1 >= argc) {
        usage("missing value for " + a);
      }
      if (!take(a, argv[++i])) {
        usage("unknown flag " + a);
      }
    }
  }

private:
  const char* m_program;
  const char* m_synopsis;
};

} // namespace example
