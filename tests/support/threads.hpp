#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace zokio::testing {

/// The names of this process's threads, as /proc/self/task shows them now.
inline std::vector<std::string> thread_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.push_back(name);
  }
  return names;
}

} // namespace zokio::testing
