#include <zokio_tools/output_file.hpp>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

namespace zokio::tools {

namespace {

/// The descriptor a path names without being a file of its own: /dev/stdout, /dev/stderr,
/// /dev/stdin, /dev/fd/N, /proc/self/fd/N. Re-opening such a path would start a new offset at 0
/// (overwriting what the tool already printed there), and replacing it would break the link.
std::optional<int> descriptor_of(const std::string& path) {
  if (path == "/dev/stdout") {
    return 1;
  }
  if (path == "/dev/stderr") {
    return 2;
  }
  if (path == "/dev/stdin") {
    return 0;
  }
  for (const char* prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    const std::string p = prefix;
    if (path.size() > p.size() && path.compare(0, p.size(), p) == 0) {
      const std::string digits = path.substr(p.size());
      if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
      }
      return std::atoi(digits.c_str());
    }
  }
  return std::nullopt;
}

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Follows `path` through symbolic links (also dangling ones) to the name a write must replace.
/// Empty with errno set on a loop or an unreadable link.
std::string final_target(std::string path) {
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) {
      return path; // not a link (or not there yet): this is the target
    }
    char buf[PATH_MAX];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    if (n < 0) {
      return {};
    }
    const std::string link(buf, static_cast<std::size_t>(n));
    path = !link.empty() && link[0] == '/' ? link : dir_of(path) + "/" + link;
  }
  errno = ELOOP;
  return {};
}

mode_t current_umask() {
  // Read once, before the tool starts threads (umask has no read-only form).
  static const mode_t mask = [] {
    const mode_t m = ::umask(022);
    ::umask(m);
    return m;
  }();
  return mask;
}

/// Creates a unique temporary file beside `target`; -1 with errno set on failure.
int make_temporary(const std::string& target, std::string& name) {
  name = dir_of(target) + "/." + base_of(target) + ".XXXXXX";
  return ::mkstemp(name.data());
}

/// Writes all of `text`; false with errno set on failure. A pipe whose reader has gone fails
/// with EPIPE like any other error instead of killing the tool with SIGPIPE: the signal is
/// blocked on this thread for the write, and one it raised is taken off the pending set before
/// the mask is restored (a SIGPIPE that was already pending stays pending).
bool write_all(int fd, std::string_view text) {
  sigset_t pipe_only;
  sigset_t old_mask;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  bool ok = true;
  int err = 0;
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      ok = false;
      err = errno;
      break;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  if (!ok && err == EPIPE && !was_pending) {
    const timespec none{};
    while (sigtimedwait(&pipe_only, nullptr, &none) == -1 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = err;
  return ok;
}

} // namespace

output_file output_file::open(const std::string& path) {
  output_file out;
  out.m_path = path;
  if (path.empty()) {
    throw output_error("an empty path is not a file name ('-' is standard output)");
  }
  if (path == "-" || descriptor_of(path)) {
    const int fd = path == "-" ? 1 : *descriptor_of(path);
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) {
      out.fail("not an open descriptor", errno);
    }
    if ((flags & O_ACCMODE) == O_RDONLY) {
      out.fail("descriptor " + std::to_string(fd) + " is open for reading only", 0);
    }
    out.m_kind = kind::descriptor;
    out.m_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (out.m_fd < 0) {
      out.fail("cannot duplicate descriptor " + std::to_string(fd), errno);
    }
    struct stat a {
    }, b{};
    out.m_stdout = fd == 1 || (::fstat(fd, &a) == 0 && ::fstat(1, &b) == 0 &&
                               a.st_dev == b.st_dev && a.st_ino == b.st_ino);
    return out;
  }

  const std::string target = final_target(path);
  if (target.empty()) {
    out.fail("cannot follow the symbolic link", errno);
  }
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) {
      out.fail("", EISDIR);
    }
    // A FIFO, a device or a socket: written through, never replaced. A FIFO without a reader
    // yet is opened when the document is written (blocking until a reader comes, as a shell's
    // redirection does); everything else is opened now.
    out.m_kind = kind::stream;
    out.m_target = target;
    out.m_fd = ::open(target.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (out.m_fd < 0) {
      if (!(S_ISFIFO(st.st_mode) && errno == ENXIO)) {
        out.fail("", errno);
      }
      if (::access(target.c_str(), W_OK) != 0) {
        out.fail("", errno);
      }
    } else {
      ::fcntl(out.m_fd, F_SETFL, ::fcntl(out.m_fd, F_GETFL) & ~O_NONBLOCK);
    }
    return out;
  }

  // A regular file or a new name: replaced through a temporary file beside the target.
  out.m_kind = kind::replace;
  out.m_target = target;
  if (::stat(target.c_str(), &st) == 0) {
    if (::access(target.c_str(), W_OK) != 0) {
      out.fail("", errno);
    }
    out.m_mode = st.st_mode & 07777;
    out.m_owner = std::make_pair(st.st_uid, st.st_gid);
  } else if (errno != ENOENT) {
    out.fail("", errno);
  } else {
    out.m_mode = 0666 & ~current_umask();
  }
  // Prove now that the directory takes a new file: the work that follows may take hours.
  std::string probe;
  const int fd = make_temporary(target, probe);
  if (fd < 0) {
    out.fail("cannot create a file in " + dir_of(path), errno);
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return out;
}

output_file::output_file(output_file&& other) noexcept {
  *this = std::move(other);
}

output_file& output_file::operator=(output_file&& other) noexcept {
  if (this != &other) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_path = std::move(other.m_path);
    m_target = std::move(other.m_target);
    m_kind = other.m_kind;
    m_fd = std::exchange(other.m_fd, -1);
    m_mode = other.m_mode;
    m_owner = other.m_owner;
    m_stdout = other.m_stdout;
  }
  return *this;
}

output_file::~output_file() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

void output_file::fail(const std::string& what, int err) const {
  std::string msg = m_path + ": " + what;
  if (err != 0) {
    msg += std::string(what.empty() ? "" : ": ") + std::strerror(err);
  }
  throw output_error(msg);
}

void output_file::write(std::string_view text) {
  if (m_kind == kind::replace) {
    write_replace(text);
    return;
  }
  if (m_stdout) {
    // Whatever the tool printed to standard output comes first.
    std::cout.flush();
    std::fflush(stdout);
  }
  if (m_fd < 0) {
    m_fd = ::open(m_target.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY); // a FIFO: waits for a reader
    if (m_fd < 0) {
      fail("cannot open", errno);
    }
  }
  if (!write_all(m_fd, text)) {
    fail("write failed", errno);
  }
  ::close(m_fd);
  m_fd = -1;
}

void output_file::write_replace(std::string_view text) {
  std::string tmp;
  const int fd = make_temporary(m_target, tmp);
  if (fd < 0) {
    fail("cannot create a file in " + dir_of(m_path), errno);
  }
  const auto give_up = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(what, err);
  };
  if (::fchmod(fd, m_mode) != 0) {
    give_up("cannot set permissions");
  }
  if (m_owner) {
    // Keeps the owner of the file replaced, where allowed (root replacing a user's file); a
    // user who may not chown writes a file of their own, as any editor does.
    (void)::fchown(fd, m_owner->first, m_owner->second);
  }
  if (!write_all(fd, text)) {
    give_up("write failed");
  }
  if (::fsync(fd) != 0) {
    give_up("fsync failed");
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("write failed", err);
  }
  if (::rename(tmp.c_str(), m_target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot replace", err);
  }
  // The rename itself is durable once the directory is.
  const int dir = ::open(dir_of(m_target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
}

} // namespace zokio::tools
