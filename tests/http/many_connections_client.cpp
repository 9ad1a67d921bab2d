// many_connections_client: holds COUNT keep-alive connections to an HTTP server at once, one
// request answered on each, then closes them all; for tests/http/hello_http_10k.sh.
//
//   many_connections_client PORT COUNT SERVER_PID MAX_KIB_PER_CONNECTION
//
// 1. Warm-up: 200 connections, a request each, closed; then the server's VmRSS (from
//    /proc/SERVER_PID/status) is the baseline.
// 2. Opens COUNT connections (at most 256 connecting at a time), sends `GET /hello` on each and
//    reads its response; every connection stays open until all have been answered.
// 3. The server's VmRSS again: prints the growth per connection; fails if it is
//    MAX_KIB_PER_CONNECTION or more (0: print only). Scrapes /metrics on one more connection:
//    zokio_http_connections_open must be COUNT + 1 (the scrape's own).
// 4. Closes all COUNT; /metrics must come back to 1 (the scrape's own) within 30 s.
//
// Exit 0 when all held, 1 otherwise (each failure on one line of stderr), 2 on bad usage.

#include <zokio/zokio.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

using namespace std::chrono_literals;

namespace {

struct config {
  std::uint16_t port = 0;
  std::size_t count = 0;
  long server_pid = 0;
  double max_kib = 0;
};

std::span<const std::byte> bytes(std::string_view s) noexcept {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

/// The server's resident set in KiB, or -1.
long rss_kib(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  return -1;
}

/// One response on `s`, read whole (framed by Content-Length); its body, or nothing.
zokio::task<std::optional<std::string>> read_response(zokio::net::tcp_stream& s) {
  std::string got;
  char buf[512];
  for (;;) {
    const std::size_t end = got.find("\r\n\r\n");
    if (end != std::string::npos) {
      const std::size_t cl = got.find("Content-Length: ");
      if (cl == std::string::npos || cl > end) {
        co_return std::nullopt;
      }
      const std::size_t length = std::strtoul(got.c_str() + cl + 16, nullptr, 10);
      if (got.size() >= end + 4 + length) {
        if (got.rfind("HTTP/1.1 200 ", 0) != 0) {
          co_return std::nullopt;
        }
        co_return got.substr(end + 4, length);
      }
    }
    const zokio::result<std::size_t> n =
        co_await zokio::timeout(30s, s.read_some(std::as_writable_bytes(std::span<char>(buf))));
    if (!n.ok() || n.value() == 0) {
      co_return std::nullopt;
    }
    got.append(buf, n.value());
  }
}

/// GET `target` on a connection of its own; the body of a 200 response, or nothing.
zokio::task<std::optional<std::string>> get_once(std::uint16_t port, std::string target) {
  zokio::result<zokio::net::tcp_stream> s =
      co_await zokio::net::tcp_stream::connect(std::string("127.0.0.1"), port, {.timeout = 10s});
  if (!s.ok()) {
    co_return std::nullopt;
  }
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
  if (!(co_await s.value().write_all(bytes(req))).ok()) {
    co_return std::nullopt;
  }
  co_return co_await read_response(s.value());
}

/// zokio_http_connections_open as /metrics says it (the scrape's connection included), or -1.
zokio::task<long> open_connections(std::uint16_t port) {
  const std::optional<std::string> m = co_await get_once(port, "/metrics");
  if (!m) {
    co_return -1;
  }
  const std::string key = "\nzokio_http_connections_open ";
  const std::size_t at = m->find(key);
  co_return at == std::string::npos ? -1 : std::strtol(m->c_str() + at + key.size(), nullptr, 10);
}

struct shared {
  zokio::semaphore connecting{256};
  zokio::event close_all;
  std::size_t answered = 0;
  std::size_t failed = 0;
};

/// One held connection: connect, one request, hold until close_all, close.
zokio::task<void> hold_one(const config* c, shared* sh) {
  std::optional<zokio::net::tcp_stream> s;
  {
    zokio::semaphore_permit p = co_await sh->connecting.acquire();
    // A connect refused while the listen backlog overflows is tried again.
    for (int attempt = 0; attempt < 20 && !s; ++attempt) {
      zokio::result<zokio::net::tcp_stream> r = co_await zokio::net::tcp_stream::connect(
          std::string("127.0.0.1"), c->port, {.timeout = 10s});
      if (r.ok()) {
        s = std::move(r).value();
      } else {
        co_await zokio::sleep_for(50ms);
      }
    }
    bool ok = s.has_value() &&
              (co_await s->write_all(bytes("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"))).ok();
    if (ok) {
      const std::optional<std::string> body = co_await read_response(*s);
      ok = body && *body == "Hello, World!\n";
    }
    ++(ok ? sh->answered : sh->failed);
  }
  co_await sh->close_all.wait();
}

zokio::task<int> run(config c) {
  int failures = 0;
  auto fail = [&failures](const std::string& why) {
    std::fprintf(stderr, "many_connections_client: FAIL: %s\n", why.c_str());
    ++failures;
  };
  {
    shared warm;
    zokio::task_scope scope;
    config w = c;
    w.count = 200;
    for (std::size_t i = 0; i < w.count; ++i) {
      scope.spawn(hold_one(&w, &warm));
    }
    while (warm.answered + warm.failed < w.count) {
      co_await zokio::sleep_for(10ms);
    }
    warm.close_all.set();
    co_await scope.close();
    if (warm.failed != 0) {
      fail(std::to_string(warm.failed) + " warm-up requests failed");
    }
  }
  co_await zokio::sleep_for(200ms); // the server has closed the warm-up connections
  const long before = rss_kib(c.server_pid);

  shared sh;
  zokio::task_scope scope;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < c.count; ++i) {
    scope.spawn(hold_one(&c, &sh));
  }
  while (sh.answered + sh.failed < c.count) {
    co_await zokio::sleep_for(20ms);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long held = rss_kib(c.server_pid);
  std::printf("%zu of %zu connections open at once, each answered (%zu failed) in %.1f s\n",
              sh.answered, c.count, sh.failed, secs);
  if (sh.failed != 0) {
    fail(std::to_string(sh.failed) + " connections were not answered");
  }
  const long open_held = co_await open_connections(c.port);
  std::printf("server: zokio_http_connections_open %ld while held (the scrape's own included)\n",
              open_held);
  if (open_held != static_cast<long>(sh.answered) + 1) {
    fail("/metrics says " + std::to_string(open_held) + " open, not " +
         std::to_string(sh.answered + 1));
  }
  if (before < 0 || held < 0) {
    fail("cannot read VmRSS of pid " + std::to_string(c.server_pid));
  } else {
    const double per = static_cast<double>(held - before) / static_cast<double>(c.count);
    std::printf("server VmRSS: %ld KiB before, %ld KiB with %zu connections held: %+.2f KiB "
                "per connection\n",
                before, held, c.count, per);
    if (c.max_kib > 0 && per >= c.max_kib) {
      fail("server RSS grew by " + std::to_string(per) + " KiB per connection (limit " +
           std::to_string(c.max_kib) + ")");
    }
  }
  std::fflush(stdout);

  sh.close_all.set();
  co_await scope.close();
  long open_after = -1;
  const auto until = std::chrono::steady_clock::now() + 30s;
  while ((open_after = co_await open_connections(c.port)) != 1 &&
         std::chrono::steady_clock::now() < until) {
    co_await zokio::sleep_for(100ms);
  }
  std::printf("server: zokio_http_connections_open %ld after all closed (the scrape's own)\n",
              open_after);
  if (open_after != 1) {
    fail("/metrics says " + std::to_string(open_after) + " open after all closed, not 1");
  }
  co_return failures == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: many_connections_client PORT COUNT SERVER_PID "
                         "MAX_KIB_PER_CONNECTION\n");
    return 2;
  }
  config c;
  c.port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  c.count = std::strtoul(argv[2], nullptr, 10);
  c.server_pid = std::atol(argv[3]);
  c.max_kib = std::atof(argv[4]);
  if (c.port == 0 || c.count == 0 || c.server_pid <= 0) {
    std::fprintf(stderr, "many_connections_client: bad arguments\n");
    return 2;
  }
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &l);
  }
  if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < c.count + 64) {
    std::fprintf(stderr, "many_connections_client: %llu descriptors allowed, %zu needed\n",
                 static_cast<unsigned long long>(l.rlim_cur), c.count + 64);
    return 2;
  }
  zokio::runtime rt{{.workers = 1, .name = "many_connections_client"}};
  const int rc = rt.block_on(run(c));
  return rt.shutdown().clean() ? rc : 1;
}
