#pragma once

// The one writer of every document a tool produces (JSON reports, benchmark results): checked
// before the work starts, written at the end.
//
//   "-"                      standard output
//   /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N
//                            the descriptor the tool already holds (a pipe from `>(jq .)`, a
//                            terminal, or the file the shell redirected to), written at its
//                            current offset; the path itself is never replaced
//   a FIFO, a device, a socket
//                            opened and written through; it stays what it is
//   a regular file, or a new name
//                            replaced atomically: a unique temporary file from mkstemp beside
//                            it, fsync, rename; the old file's permissions (and, where
//                            allowed, its owner) are kept
//   a symbolic link          followed to its final target, which is written as above; the link
//                            stays a link
//
// Errors name the path the user gave, never a temporary file.
//
// Threads: an output_file is used by one thread at a time.

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>

namespace zokio::tools {

/// A path that cannot be written; what() is one line that starts with the user's path.
class output_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

class output_file {
public:
  /// Checks that `path` can be written, before any work: the directory exists and accepts a new
  /// file, an existing file is writable, a descriptor path names an open writable descriptor.
  /// Opens a device or a FIFO that already has a reader. Throws output_error.
  static output_file open(const std::string& path);

  output_file(output_file&& other) noexcept;
  output_file& operator=(output_file&& other) noexcept;
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  ~output_file();

  /// Writes the whole document (once). Throws output_error.
  void write(std::string_view text);

  /// The path as the user gave it.
  const std::string& path() const noexcept { return m_path; }
  /// True when the document goes to the process's standard output ("-", /dev/stdout,
  /// /dev/fd/1): a tool then prints its human output to standard error.
  bool is_stdout() const noexcept { return m_stdout; }

private:
  enum class kind { descriptor, stream, replace };
  output_file() = default;
  [[noreturn]] void fail(const std::string& what, int err) const;
  void write_replace(std::string_view text);

  std::string m_path;   ///< as given
  std::string m_target; ///< kind::replace: the final target; kind::stream: the path to open
  kind m_kind = kind::replace;
  int m_fd = -1;        ///< kind::descriptor, kind::stream: the open descriptor, or -1 until opened
  mode_t m_mode = 0644; ///< kind::replace: the permissions of the file written
  /// kind::replace of an existing file: its owner and group, kept where allowed.
  std::optional<std::pair<uid_t, gid_t>> m_owner;
  bool m_stdout = false;
};

} // namespace zokio::tools
