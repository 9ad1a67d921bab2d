// A stand-in peer for the tests of zokio-bench (PROTOCOL.md), not a benchmark: it measures a
// trivial loop, so the driver can be tested before and without the real peers, and it
// misbehaves on purpose so that every failure path of the driver is exercised.
//
//   bench_fake_peer --fake MODE <peer arguments>
//
// MODE: good (every workload, --serve http), zokio (good, plus the checks Zokio reports),
// cheat (zokio, but spawn_join reports sync_fallbacks 1), partial (lists spawn_join and
// yield_many only), bad (spawn_join prints garbage, yield_many exits 1, chained_spawn hangs,
// ping_pong prints two lines, spawn_many_local aborts, mpsc_ping prints nothing),
// badversion (--version exits 1), serve-badexit (the server exits 7 on SIGTERM),
// serve-noline (the server prints no listening line).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

const char* const workloads[] = {"spawn_many_local",
                                 "spawn_many_remote",
                                 "spawn_join",
                                 "yield_many",
                                 "chained_spawn",
                                 "ping_pong",
                                 "mpsc_uncontended",
                                 "mpsc_contended",
                                 "mpsc_ping",
                                 "semaphore_contended",
                                 "timer_timeout",
                                 "timers_100k_1ms",
                                 "park_memory",
                                 "multi_worker_spawn_many",
                                 "multi_worker_mpsc",
                                 "tcp_ping_pong",
                                 "tcp_echo_many",
                                 "tcp_stream",
                                 "fs_read",
                                 "timer_precision_1ms",
                                 "timer_precision_10ms",
                                 "timer_precision_1ms_loaded",
                                 "http_plaintext",
                                 "http_connections"};

using clk = std::chrono::steady_clock;

/// The CPUs this process may run on, as "0,1".
std::string allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::string out;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int i = 0; i < CPU_SETSIZE; ++i) {
      if (CPU_ISSET(i, &set)) {
        if (!out.empty()) {
          out += ',';
        }
        out += std::to_string(i);
      }
    }
  }
  return out;
}

int serve(const std::string& mode) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  const int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(lfd, 4096) != 0) {
    std::perror("fake peer: bind/listen");
    return 1;
  }
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  if (mode == "serve-noline") {
    std::printf("ready\n");
  } else {
    std::printf("{\"listening\":%d}\n", ntohs(a.sin_port));
  }
  std::fflush(stdout);
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = sfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
  std::map<int, std::string> in;
  static const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                      "Content-Length: 13\r\n\r\nHello, World!";
  epoll_event events[256];
  while (true) {
    const int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == sfd) {
        return mode == "serve-badexit" ? 7 : 0;
      }
      if (fd == lfd) {
        while (true) {
          const int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
          if (c < 0) {
            break;
          }
          ev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
          in[c];
        }
        continue;
      }
      char buf[8192];
      const ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        close(fd);
        in.erase(fd);
        continue;
      }
      std::string& s = in[fd];
      s.append(buf, static_cast<std::size_t>(r));
      std::string out;
      for (auto end = s.find("\r\n\r\n"); end != std::string::npos; end = s.find("\r\n\r\n")) {
        s.erase(0, end + 4);
        out += response;
      }
      if (!out.empty() && write(fd, out.data(), out.size()) < 0) {
        close(fd);
        in.erase(fd);
      }
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3 || std::string(argv[1]) != "--fake") {
    std::fprintf(stderr, "usage: bench_fake_peer --fake MODE ...\n");
    return 2;
  }
  const std::string mode = argv[2];
  std::vector<std::string> args(argv + 3, argv + argc);
  if (args.empty()) {
    std::fprintf(stderr, "fake peer: no command\n");
    return 2;
  }
  if (args[0] == "--version") {
    if (mode == "badversion") {
      std::fprintf(stderr, "fake peer: cannot tell my version\n");
      return 1;
    }
    std::printf("fake-%s 1.0 (test stand-in)\n", mode.c_str());
    return 0;
  }
  if (args[0] == "--list") {
    for (const char* w : workloads) {
      if (mode != "partial" || std::strcmp(w, "spawn_join") == 0 ||
          std::strcmp(w, "yield_many") == 0) {
        std::printf("%s\n", w);
      }
    }
    return 0;
  }
  if (args[0] == "--serve") {
    return serve(mode);
  }
  if (args[0] != "--run" || args.size() < 4 || args[2] != "--size") {
    std::fprintf(stderr, "fake peer: bad arguments\n");
    return 2;
  }
  const std::string w = args[1];
  if (std::find_if(std::begin(workloads), std::end(workloads),
                   [&w](const char* x) { return w == x; }) == std::end(workloads)) {
    std::fprintf(stderr, "fake peer: unknown workload %s\n", w.c_str());
    return 2;
  }
  const long long n = std::atoll(args[3].c_str());
  if (mode == "bad") {
    if (w == "spawn_join") {
      std::printf("this is not JSON\n");
      return 0;
    }
    if (w == "yield_many") {
      std::fprintf(stderr, "fake peer: count wrong: 3 of %lld\n", n);
      return 1;
    }
    if (w == "chained_spawn") {
      std::this_thread::sleep_for(std::chrono::hours(1));
      return 0;
    }
    if (w == "ping_pong") {
      std::printf("{\"workload\":\"ping_pong\",\"ops\":%lld,\"seconds\":0.1}\n", n);
      std::printf("{\"workload\":\"ping_pong\",\"ops\":%lld,\"seconds\":0.1}\n", n);
      return 0;
    }
    if (w == "spawn_many_local") {
      std::abort();
    }
    if (w == "mpsc_ping") {
      return 0;
    }
  }
  // The "work": a dependent loop of n steps, timed; sleeps for the timer workloads.
  std::string latency;
  const auto start = clk::now();
  if (w.rfind("timer_precision", 0) == 0) {
    const auto period = std::chrono::milliseconds(w == "timer_precision_10ms" ? 10 : 1);
    std::vector<double> late;
    for (long long i = 0; i < n; ++i) {
      const auto t = clk::now();
      std::this_thread::sleep_for(period);
      late.push_back(std::chrono::duration<double, std::micro>(clk::now() - t - period).count());
    }
    std::sort(late.begin(), late.end());
    const auto rank = [&late](double p) {
      const auto k = static_cast<std::size_t>(std::max(1.0, p * static_cast<double>(late.size())));
      return late[std::min(late.size(), k) - 1];
    };
    char buf[256];
    std::snprintf(buf, sizeof buf, ",\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f}",
                  rank(0.5), rank(0.99), late.back());
    latency = buf;
  } else {
    volatile unsigned long long x = 1;
    for (long long i = 0; i < n; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }
  }
  const double seconds = std::max(1e-9, std::chrono::duration<double>(clk::now() - start).count());
  std::string checks;
  if (mode == "zokio" || mode == "cheat") {
    checks = std::string(",\"checks\":{\"sync_fallbacks\":") +
             (mode == "cheat" && w == "spawn_join" ? "1" : "0") + ",\"clean_shutdown\":true}";
  }
  // park_memory's figure is the RSS growth the peer reports (the "bad" peer leaves it out).
  // Every good run reports the CPUs it was allowed on, for the test of --pin.
  std::string extra;
  if (mode != "bad") {
    extra = ",\"extra\":{\"allowed_cpus\":\"" + allowed_cpus() + "\"";
    if (w == "park_memory") {
      extra += ",\"rss_growth_bytes\":" + std::to_string(n * 200);
    }
    extra += "}";
  }
  std::printf("{\"workload\":\"%s\",\"ops\":%lld,\"seconds\":%.9f%s%s%s}\n", w.c_str(), n, seconds,
              latency.c_str(), checks.c_str(), extra.c_str());
  return 0;
}
