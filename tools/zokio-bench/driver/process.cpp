#include "process.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace zokio::bench {

namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int) {
  g_stop = 1;
}

constexpr std::size_t err_keep = 4096;

void keep_tail(std::string& s, std::size_t keep) {
  if (s.size() > keep) {
    s.erase(0, s.size() - keep);
  }
}

/// Reads what is available on fd into `into` (up to `limit` bytes kept); false at EOF or error.
bool read_some(int fd, std::string& into, std::size_t limit, bool& truncated) {
  char buf[65536];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    const std::size_t room = limit > into.size() ? limit - into.size() : 0;
    into.append(buf, std::min<std::size_t>(room, static_cast<std::size_t>(n)));
    if (static_cast<std::size_t>(n) > room) {
      truncated = true;
    }
    return true;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
    return true;
  }
  return false;
}

int ms_until(clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return static_cast<int>(std::clamp<long long>(left.count(), 0, 100));
}

double seconds_of(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

void decode(int status, child_result& r) {
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
}

} // namespace

bool stop_requested() noexcept {
  return g_stop != 0;
}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; // no SA_RESTART: poll returns EINTR and the loops look at the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

pid_t spawn(const std::vector<std::string>& argv, int& out_fd, int& err_fd, int cpu,
            std::string& error) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return -1;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A group of its own: a launcher script and what it runs are killed together. Default signal
  // dispositions: the driver's SIGPIPE ignore and stop handlers are not inherited by the peer.
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const std::string& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);

  // The affinity is inherited through posix_spawn: pin this thread, spawn, restore.
  cpu_set_t saved;
  bool pinned = false;
  if (cpu >= 0 && sched_getaffinity(0, sizeof saved, &saved) == 0) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pinned = sched_setaffinity(0, sizeof one, &one) == 0;
  }
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
  if (pinned) {
    sched_setaffinity(0, sizeof saved, &saved);
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    error = "cannot start " + argv[0] + ": " + std::strerror(rc);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return -1;
  }
  out_fd = out_pipe[0];
  err_fd = err_pipe[0];
  return pid;
}

child_result run_child(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                       int cpu, std::size_t out_limit) {
  child_result r;
  int out_fd = -1;
  int err_fd = -1;
  const auto start = clock::now();
  const pid_t pid = spawn(argv, out_fd, err_fd, cpu, r.error);
  if (pid < 0) {
    return r;
  }
  r.started = true;
  const auto deadline = start + timeout;
  bool exited = false;
  bool killed = false;
  int status = 0;
  rusage usage{};
  clock::time_point exited_at{};
  bool err_truncated = false;
  std::string err;
  while (true) {
    if (!exited) {
      const pid_t w = ::wait4(pid, &status, WNOHANG, &usage);
      if (w == pid) {
        exited = true;
        exited_at = clock::now();
        r.wall_seconds = std::chrono::duration<double>(exited_at - start).count();
      }
    }
    if (exited && out_fd < 0 && err_fd < 0) {
      break;
    }
    // After the child is gone, what it left holding the pipes gets one second.
    const bool late = exited && clock::now() - exited_at > std::chrono::seconds(1);
    if (!killed && (clock::now() >= deadline || stop_requested() || late)) {
      ::kill(-pid, SIGKILL);
      killed = true;
      if (!exited) {
        r.timed_out = !stop_requested();
        r.interrupted = stop_requested();
        ::wait4(pid, &status, 0, &usage);
        exited = true;
        exited_at = clock::now();
        r.wall_seconds = std::chrono::duration<double>(exited_at - start).count();
      }
    }
    if (killed && exited) {
      // Whatever is still buffered in the pipes is read once; then stop.
      pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
      ::poll(fds, 2, 0);
      if (out_fd >= 0 && (fds[0].revents & POLLIN) != 0) {
        read_some(out_fd, r.out, out_limit, r.out_truncated);
      }
      if (err_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
        read_some(err_fd, err, 1 << 16, err_truncated);
      }
      break;
    }
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    const int n = ::poll(fds, 2, exited ? 10 : std::max(1, ms_until(deadline)));
    if (n > 0) {
      if (out_fd >= 0 && fds[0].revents != 0 &&
          !read_some(out_fd, r.out, out_limit, r.out_truncated)) {
        ::close(out_fd);
        out_fd = -1;
      }
      if (err_fd >= 0 && fds[1].revents != 0) {
        if (!read_some(err_fd, err, 1 << 16, err_truncated)) {
          ::close(err_fd);
          err_fd = -1;
        }
        keep_tail(err, err_keep);
      }
    }
  }
  if (out_fd >= 0) {
    ::close(out_fd);
  }
  if (err_fd >= 0) {
    ::close(err_fd);
  }
  keep_tail(err, err_keep);
  r.err_tail = err;
  decode(status, r);
  r.cpu_seconds = seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime);
  return r;
}

server_child::~server_child() {
  if (m_pid > 0) {
    ::kill(-m_pid, SIGKILL);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
  }
  if (m_out >= 0) {
    ::close(m_out);
  }
  if (m_err >= 0) {
    ::close(m_err);
  }
}

bool server_child::start(const std::vector<std::string>& argv, int cpu) {
  m_pid = spawn(argv, m_out, m_err, cpu, m_error);
  if (m_pid > 0) {
    ::fcntl(m_err, F_SETFL, ::fcntl(m_err, F_GETFL) | O_NONBLOCK);
  }
  return m_pid > 0;
}

void server_child::drain_err() {
  if (m_err < 0) {
    return;
  }
  bool truncated = false;
  while (true) {
    pollfd p{m_err, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) {
      break;
    }
    if (!read_some(m_err, m_err_text, 1 << 16, truncated)) {
      ::close(m_err);
      m_err = -1;
      break;
    }
    keep_tail(m_err_text, err_keep);
  }
}

std::string server_child::err_tail() {
  drain_err();
  return m_err_text;
}

std::optional<std::string> server_child::read_line(clock::time_point deadline) {
  bool truncated = false;
  while (true) {
    const auto nl = m_buffer.find('\n');
    if (nl != std::string::npos) {
      std::string line = m_buffer.substr(0, nl);
      m_buffer.erase(0, nl + 1);
      return line;
    }
    if (m_out < 0 || clock::now() >= deadline || stop_requested()) {
      return std::nullopt;
    }
    drain_err();
    pollfd p{m_out, POLLIN, 0};
    if (::poll(&p, 1, std::max(1, ms_until(deadline))) > 0 &&
        !read_some(m_out, m_buffer, 1 << 16, truncated)) {
      ::close(m_out);
      m_out = -1;
    }
  }
}

std::optional<int> server_child::stop(int sig, clock::time_point deadline) {
  if (m_pid <= 0) {
    return std::nullopt;
  }
  ::kill(m_pid, sig);
  int status = 0;
  while (clock::now() < deadline) {
    const pid_t w = ::waitpid(m_pid, &status, WNOHANG);
    if (w == m_pid) {
      m_pid = -1;
      drain_err();
      // What it started in its group goes with it.
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    drain_err();
    ::usleep(10000);
  }
  ::kill(-m_pid, SIGKILL);
  ::waitpid(m_pid, &status, 0);
  m_pid = -1;
  return std::nullopt;
}

std::string last_line(const std::string& text) {
  std::size_t end = text.size();
  while (end > 0) {
    while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' ')) {
      --end;
    }
    const std::size_t begin = text.rfind('\n', end == 0 ? 0 : end - 1);
    const std::size_t from = begin == std::string::npos ? 0 : begin + 1;
    if (end > from) {
      std::string line = text.substr(from, end - from);
      if (line.size() > 200) {
        line = line.substr(0, 200) + "...";
      }
      return line;
    }
    if (begin == std::string::npos) {
      break;
    }
    end = begin;
  }
  return "";
}

} // namespace zokio::bench
