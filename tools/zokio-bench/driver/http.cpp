#include "http.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace zokio::bench {

namespace {

/// done() of wrk's Lua API: one JSON line with what wrk measured (latency in microseconds).
constexpr const char* wrk_script = R"lua(
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%.1f,"p99":%.1f,"p999":%.1f,"max":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
)lua";

failure fail(std::string why) {
  failure f;
  f.reason = std::move(why);
  f.interrupted = stop_requested();
  return f;
}

/// The processes of the server's group (a launcher script and what it runs): summed CPU ticks
/// (utime + stime, /proc/PID/stat) and VmRSS in KiB (/proc/PID/status).
struct group_usage {
  long long ticks = 0;
  long long rss_kib = 0;
};

group_usage usage_of_group(pid_t group) {
  group_usage g;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) {
    return g;
  }
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') {
      continue;
    }
    const std::string dir = std::string("/proc/") + e->d_name;
    std::ifstream stat(dir + "/stat");
    std::string text;
    std::getline(stat, text);
    const auto paren = text.rfind(')');
    if (paren == std::string::npos) {
      continue;
    }
    // After the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    // utime stime (fields 3 to 15).
    std::istringstream fields(text.substr(paren + 2));
    std::string state;
    long long ppid = 0, pgrp = 0, skip = 0, utime = 0, stime = 0;
    fields >> state >> ppid >> pgrp;
    if (pgrp != group) {
      continue;
    }
    for (int i = 0; i < 8; ++i) {
      fields >> skip;
    }
    fields >> utime >> stime;
    g.ticks += utime + stime;
    std::ifstream status(dir + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("VmRSS:", 0) == 0) {
        g.rss_kib += std::atoll(line.c_str() + 6);
      }
    }
  }
  ::closedir(d);
  return g;
}

/// Starts the peer's server; the port, or a failure.
std::variant<int, failure> start_server(server_child& server, const peer& p, const run_options& o,
                                        int cpu) {
  if (!server.start(
          {p.path, "--serve", "http", "--port", "0", "--workers", std::to_string(o.workers)},
          cpu)) {
    return fail(server.error());
  }
  const int wait_s = std::min(o.timeout_s, 30);
  const auto line = server.read_line(clock::now() + std::chrono::seconds(wait_s));
  if (!line) {
    const std::string err = last_line(server.err_tail());
    return fail("--serve http printed no listening line within " + std::to_string(wait_s) + " s" +
                (err.empty() ? "" : ": " + err));
  }
  const auto j = nlohmann::json::parse(*line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("listening") ||
      !j["listening"].is_number_integer() || j["listening"].get<int>() <= 0 ||
      j["listening"].get<int>() > 65535) {
    return fail("--serve http: not a listening line: '" + line->substr(0, 80) + "'");
  }
  return j["listening"].get<int>();
}

/// SIGTERM; the server must exit 0 within 5 s. Empty when it did.
std::string stop_server(server_child& server) {
  const auto status = server.stop(SIGTERM, clock::now() + std::chrono::seconds(5));
  if (!status) {
    return "the server did not exit within 5 s of SIGTERM (killed)";
  }
  if (*status != 0) {
    const std::string err = last_line(server.err_tail());
    return "the server exited " + std::to_string(*status) + " after SIGTERM, not 0" +
           (err.empty() ? "" : ": " + err);
  }
  return "";
}

/// The CPUs for the server and the load generator: each its own where there are two and the
/// server runs one worker (-1: not pinned; a server of W workers pinned to one CPU would run
/// them all on it).
std::pair<int, int> cpus(int workers) {
  cpu_set_t set;
  if (workers != 1 || sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2) {
    return {-1, -1};
  }
  std::vector<int> ids;
  for (int i = 0; i < CPU_SETSIZE && ids.size() < 2; ++i) {
    if (CPU_ISSET(i, &set)) {
      ids.push_back(i);
    }
  }
  return {ids[0], ids[1]};
}

std::string script_path() {
  static std::string path = [] {
    char name[] = "/tmp/zokio-bench-wrk-XXXXXX.lua";
    const int fd = ::mkstemps(name, 4);
    if (fd < 0) {
      return std::string();
    }
    const std::string text = wrk_script;
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!ok) {
      return std::string();
    }
    std::atexit([] { ::unlink(script_path().c_str()); });
    return std::string(name);
  }();
  return path;
}

} // namespace

std::string wrk_missing() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && ::access((dir + "/wrk").c_str(), X_OK) == 0) {
      return "";
    }
  }
  return "wrk not found in PATH (Debian package wrk)";
}

long long raise_fd_limit() {
  rlimit l{};
  if (::getrlimit(RLIMIT_NOFILE, &l) != 0) {
    return 1024;
  }
  if (l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &l);
    ::getrlimit(RLIMIT_NOFILE, &l);
  }
  return static_cast<long long>(l.rlim_cur);
}

outcome run_http_plaintext(const peer& p, long long seconds, const run_options& o) {
  const std::string script = script_path();
  if (script.empty()) {
    return fail("cannot write wrk's Lua script in /tmp");
  }
  const auto [server_cpu, load_cpu] = cpus(o.workers);
  server_child server;
  auto port = start_server(server, p, o, server_cpu);
  if (std::holds_alternative<failure>(port)) {
    return std::get<failure>(port);
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(std::get<int>(port)) + "/plaintext";
  const group_usage before = usage_of_group(server.pid());
  // wrk on the other CPU than the server.
  const child_result r = run_child(
      {"wrk", "-t1", "-c64", "-d" + std::to_string(seconds) + "s", "--latency", "-s", script, url},
      std::chrono::seconds(seconds + std::max(o.timeout_s, 10)), load_cpu);
  const group_usage after = usage_of_group(server.pid());
  const std::string stopped = stop_server(server);
  if (!r.started || r.timed_out || r.interrupted || r.exit_code != 0) {
    failure f = fail("wrk " + (!r.started      ? r.error
                               : r.timed_out   ? "timed out (killed by the watchdog)"
                               : r.interrupted ? "interrupted"
                                               : "exited " + std::to_string(r.exit_code) + ": " +
                                                     last_line(r.err_tail + "\n" + r.out)));
    f.timed_out = r.timed_out;
    return f;
  }
  const auto at = r.out.find("{\"requests\"");
  const auto j =
      at == std::string::npos
          ? nlohmann::json()
          : nlohmann::json::parse(r.out.substr(at, r.out.find('\n', at) - at), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("requests")) {
    return fail("wrk printed no result line: " + last_line(r.out));
  }
  const long long requests = j["requests"].get<long long>();
  const double duration = j["duration_us"].get<double>() / 1e6;
  const auto& errors = j["errors"];
  if (requests <= 0 || duration <= 0) {
    return fail("wrk completed no request against " + url);
  }
  if (errors["connect"].get<long long>() > 0 || errors["status"].get<long long>() > 0) {
    return fail("wrk: " + errors["connect"].dump() + " connect errors, " + errors["status"].dump() +
                " non-2xx/3xx responses");
  }
  if (!stopped.empty()) {
    return fail(stopped);
  }
  sample s;
  s.ops = requests;
  s.seconds = duration;
  s.value = static_cast<double>(requests) / duration;
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  s.cpu_seconds = static_cast<double>(after.ticks - before.ticks) / tick;
  for (const auto& [k, v] : j["latency_us"].items()) {
    s.latency_us[k] = v.get<double>();
  }
  s.extra["server_cpu_us_per_request"] = s.cpu_seconds / static_cast<double>(requests) * 1e6;
  s.extra["wrk_errors"] = errors;
  s.extra["wrk"] = "wrk -t1 -c64 -d" + std::to_string(seconds) + "s";
  s.extra["server_cpu"] = server_cpu;
  s.extra["load_cpu"] = load_cpu;
  return s;
}

namespace {

struct connection {
  int fd = -1;
  enum { connecting, writing, reading, done } stage = connecting;
  std::string in;
  std::size_t written = 0;
};

constexpr std::string_view request =
    "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n";

/// True when `in` holds a whole response (headers and Content-Length bytes of body).
bool complete(const std::string& in, std::string& error) {
  const auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) {
    return false;
  }
  if (in.rfind("HTTP/1.1 200", 0) != 0 && in.rfind("HTTP/1.0 200", 0) != 0) {
    error = "answered '" + in.substr(0, in.find('\r')) + "'";
    return true;
  }
  std::string head = in.substr(0, end);
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto cl = head.find("\r\ncontent-length:");
  if (cl == std::string::npos) {
    error = "a response without Content-Length";
    return true;
  }
  const long long length = std::atoll(head.c_str() + cl + 17);
  return static_cast<long long>(in.size() - end - 4) >= length;
}

} // namespace

outcome run_http_connections(const peer& p, long long n, const run_options& o) {
  const long long limit = raise_fd_limit();
  if (n + 64 > limit) {
    return fail("needs " + std::to_string(n + 64) + " file descriptors; RLIMIT_NOFILE is " +
                std::to_string(limit) + " (use a smaller --scale)");
  }
  const auto [server_cpu, load_cpu] = cpus(o.workers);
  (void)load_cpu;
  server_child server;
  auto port_or = start_server(server, p, o, server_cpu);
  if (std::holds_alternative<failure>(port_or)) {
    return std::get<failure>(port_or);
  }
  const int port = std::get<int>(port_or);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<connection> conns(static_cast<std::size_t>(n + 1));
  const auto close_all = [&conns, ep] {
    for (connection& c : conns) {
      if (c.fd >= 0) {
        ::close(c.fd);
        c.fd = -1;
      }
    }
    ::close(ep);
  };
  // Opens connections [from, to) and has each do one GET; a failure's reason, or empty.
  const auto open_range = [&](std::size_t from, std::size_t to,
                              clock::time_point deadline) -> std::string {
    constexpr std::size_t in_flight_max = 256;
    std::size_t next = from;
    std::size_t in_flight = 0;
    std::size_t finished = 0;
    epoll_event events[256];
    while (finished < to - from) {
      while (next < to && in_flight < in_flight_max) {
        connection& c = conns[next];
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd < 0) {
          return "socket: " + std::string(std::strerror(errno));
        }
        const int r = ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        if (r != 0 && errno != EINPROGRESS) {
          return "connection " + std::to_string(next) + ": connect: " + std::strerror(errno);
        }
        epoll_event ev{};
        ev.events = EPOLLOUT | EPOLLIN;
        ev.data.u64 = next;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
        ++next;
        ++in_flight;
      }
      if (clock::now() >= deadline) {
        return "timed out with " + std::to_string(finished) + " of " + std::to_string(to - from) +
               " connections answered";
      }
      if (stop_requested()) {
        return "interrupted";
      }
      const int k = ::epoll_wait(ep, events, 256, 100);
      for (int e = 0; e < k; ++e) {
        const std::size_t id = events[e].data.u64;
        connection& c = conns[id];
        if (c.stage == connection::connecting) {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            return "connection " + std::to_string(id) + ": connect: " + std::strerror(err);
          }
          c.stage = connection::writing;
        }
        if (c.stage == connection::writing) {
          const ssize_t w =
              ::send(c.fd, request.data() + c.written, request.size() - c.written, MSG_NOSIGNAL);
          if (w < 0 && errno != EAGAIN) {
            return "connection " + std::to_string(id) + ": write: " + std::strerror(errno);
          }
          c.written += w > 0 ? static_cast<std::size_t>(w) : 0;
          if (c.written == request.size()) {
            c.stage = connection::reading;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = id;
            ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
          }
          continue;
        }
        if (c.stage == connection::reading) {
          char buf[4096];
          const ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
          if (r == 0 || (r < 0 && errno != EAGAIN)) {
            return "connection " + std::to_string(id) + ": " +
                   (r == 0 ? std::string("closed by the server before its response")
                           : std::string("read: ") + std::strerror(errno));
          }
          if (r > 0) {
            c.in.append(buf, static_cast<std::size_t>(r));
          }
          std::string error;
          if (complete(c.in, error)) {
            if (!error.empty()) {
              return "connection " + std::to_string(id) + ": " + error;
            }
            c.stage = connection::done;
            c.in.clear();
            c.in.shrink_to_fit();
            ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
            --in_flight;
            ++finished;
          }
        }
      }
    }
    return "";
  };

  const auto deadline = clock::now() + std::chrono::seconds(o.timeout_s);
  // One connection first, so the server's request path is paged in before the baseline.
  std::string error = open_range(0, 1, deadline);
  if (!error.empty()) {
    close_all();
    return fail("warm-up: " + error);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const group_usage before = usage_of_group(server.pid());
  const auto start = clock::now();
  error = open_range(1, conns.size(), deadline);
  const double open_seconds = std::chrono::duration<double>(clock::now() - start).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const group_usage after = usage_of_group(server.pid());
  close_all();
  const std::string stopped = stop_server(server);
  if (!error.empty()) {
    failure f = fail(error);
    f.timed_out = error.rfind("timed out", 0) == 0;
    return f;
  }
  if (!stopped.empty()) {
    return fail(stopped);
  }
  if (before.rss_kib <= 0 || after.rss_kib <= 0) {
    return fail("cannot read the server's VmRSS from /proc");
  }
  sample s;
  s.ops = n;
  s.seconds = open_seconds;
  s.value = static_cast<double>(after.rss_kib - before.rss_kib) * 1024.0 / static_cast<double>(n);
  s.extra["rss_before_kib"] = before.rss_kib;
  s.extra["rss_after_kib"] = after.rss_kib;
  s.extra["connections"] = n;
  return s;
}

} // namespace zokio::bench
