#pragma once

// Test helpers for files: a temporary directory, and counts of this process's descriptors (a
// leaked descriptor shows up as one more).

#include <zokio/runtime/runtime.hpp>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace zokio::testing {

/// A fresh directory under the system's temp dir, removed with everything in it.
class temp_dir {
public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "zokio-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    m_path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  std::string file(const char* name) const { return (m_path / name).string(); }
  const std::filesystem::path& path() const noexcept { return m_path; }

private:
  std::filesystem::path m_path;
};

/// Open descriptors of this process.
inline std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

/// What the descriptors are, for a failure message.
inline std::string fd_targets() {
  std::string out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    out += e.path().filename().string() + " -> " +
           std::filesystem::read_symlink(e.path(), ec).string() + "\n";
  }
  return out;
}

/// Open descriptors once libuv's process-wide ones (its signal lock pipe) exist.
inline std::size_t baseline_fds() {
  { zokio::runtime warm_up{{.workers = 1}}; }
  return open_fds();
}

} // namespace zokio::testing
