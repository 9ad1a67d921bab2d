#pragma once

#include <cstddef>
#include <filesystem>

namespace zokio::testing {

/// How many descriptors the process has open (the entries of /proc/self/fd, counting the one
/// the count itself opens while it reads).
inline std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

} // namespace zokio::testing
