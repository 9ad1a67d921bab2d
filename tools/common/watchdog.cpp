#include <zokio_tools/exit_codes.hpp>
#include <zokio_tools/watchdog.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace zokio::tools {

namespace {

using clock = std::chrono::steady_clock;

int tool_error(const watchdog_options& o, const std::string& what, int err) {
  std::fprintf(stderr, "%s: watchdog: %s: %s\n", o.tool.c_str(), what.c_str(), std::strerror(err));
  return code(exit_status::tool_error);
}

/// The exit code of a child's wait status.
int code_of(const watchdog_options& o, int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    std::fprintf(stderr, "%s: watchdog: the watched run died of signal %d (%s)\n", o.tool.c_str(),
                 sig, strsignal(sig));
  }
  return code(exit_status::tool_error);
}

} // namespace

int run_watched(int argc, char** argv, const watchdog_options& o, watched_exit* how) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return tool_error(o, "pipe", errno);
  }
  // The child's end survives exec: a descriptor without FD_CLOEXEC of its own.
  const int child_fd = ::fcntl(fds[1], F_DUPFD, 3);
  ::close(fds[1]);
  if (child_fd < 0) {
    ::close(fds[0]);
    return tool_error(o, "dup", errno);
  }
  std::vector<std::string> args(argv, argv + argc);
  args.push_back(o.child_flag);
  args.push_back(std::to_string(child_fd));
  std::vector<char*> cargs;
  for (std::string& a : args) {
    cargs.push_back(a.data());
  }
  cargs.push_back(nullptr);

  // SIGINT, SIGTERM, SIGUSR1 and SIGCHLD come through a signalfd; the child starts with them
  // unblocked.
  sigset_t watched;
  sigemptyset(&watched);
  sigaddset(&watched, SIGINT);
  sigaddset(&watched, SIGTERM);
  sigaddset(&watched, SIGUSR1);
  sigaddset(&watched, SIGCHLD);
  sigset_t old;
  ::sigprocmask(SIG_BLOCK, &watched, &old);
  const int sfd = ::signalfd(-1, &watched, SFD_CLOEXEC);
  if (sfd < 0) {
    ::close(fds[0]);
    ::close(child_fd);
    return tool_error(o, "signalfd", errno);
  }

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigmask(&attr, &old);
  posix_spawnattr_setpgroup(&attr, 0); // a process group of its own: signals come through us
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  pid_t child = -1;
  const int err = ::posix_spawn(&child, "/proc/self/exe", nullptr, &attr, cargs.data(), environ);
  posix_spawnattr_destroy(&attr);
  ::close(child_fd);
  if (err != 0) {
    ::close(fds[0]);
    ::close(sfd);
    return tool_error(o, "cannot start the watched run", err);
  }

  const int dump_signal = o.dump_signal != 0 ? o.dump_signal : SIGUSR2;
  auto last_beat = clock::now();
  bool pipe_open = true;
  std::optional<clock::time_point> killing_at; // set once a hang was declared
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(child, &status, WNOHANG);
    if (w == child) {
      break;
    }
    pollfd p[2] = {{sfd, POLLIN, 0}, {pipe_open ? fds[0] : -1, POLLIN, 0}};
    const int n = ::poll(p, 2, 200);
    if (n < 0 && errno != EINTR) {
      return tool_error(o, "poll", errno);
    }
    if (p[0].revents & POLLIN) {
      signalfd_siginfo si{};
      if (::read(sfd, &si, sizeof si) == sizeof si &&
          (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGUSR1)) {
        ::kill(child, static_cast<int>(si.ssi_signo));
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP)) {
      char buf[256];
      const ssize_t r = ::read(fds[0], buf, sizeof buf);
      if (r > 0) {
        last_beat = clock::now();
      } else if (r == 0) {
        pipe_open = false; // the child is exiting (or closed it); waitpid tells
      }
    }
    const auto now = clock::now();
    if (!killing_at && now - last_beat >= o.silence_limit) {
      std::fprintf(stderr,
                   "%s: watchdog: no progress for %lld ms: a hang; asking the run for a task "
                   "dump (signal %d)\n",
                   o.tool.c_str(), static_cast<long long>(o.silence_limit.count()), dump_signal);
      ::kill(child, dump_signal);
      killing_at = now + o.kill_grace;
    }
    if (killing_at && now >= *killing_at) {
      std::fprintf(stderr, "%s: watchdog: the run did not exit after the dump; killing it\n",
                   o.tool.c_str());
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      break;
    }
  }
  ::close(fds[0]);
  ::close(sfd);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  if (how != nullptr) {
    how->hang = killing_at.has_value();
    how->signal = !killing_at && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }
  if (killing_at) {
    return code(exit_status::interrupted); // a hang, whatever the child said
  }
  return code_of(o, status);
}

watchdog_heartbeat::watchdog_heartbeat(int fd) noexcept : m_fd(fd) {
  ::signal(SIGPIPE, SIG_IGN);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void watchdog_heartbeat::beat() const noexcept {
  if (m_fd >= 0) {
    const char c = '.';
    (void)!::write(m_fd, &c, 1); // a full pipe already says "alive"
  }
}

} // namespace zokio::tools
