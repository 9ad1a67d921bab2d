// hello_http: an HTTP/1.1 server on every worker, with the routes of the original project.
//
//   hello_http [--host 127.0.0.1] [--port 8080] [--workers N] [--max-connections 10000]
//
//   GET  /            a small HTML page
//   GET  /hello       "Hello, World!" as text
//   GET  /api/status  the runtime's counters as JSON
//   POST /api/echo    the request body, echoed
//   GET  /metrics     Prometheus text: runtime counters and HTTP counters
//   GET  /healthz     "ok"
//
// `--port 0` picks a free port. `--max-connections` bounds the open connections (over it a new
// one is closed at once); the descriptor limit (RLIMIT_NOFILE) is raised to its hard limit at
// start, so that the bound, not the default of 1024 descriptors, is what holds.
// Once listening it prints `listening on HOST:PORT`. SIGINT or
// SIGTERM stop it gracefully: no new connection is accepted, idle connections are closed,
// requests in flight (also one half received) get their response; then the runtime shuts down
// and the exit code says whether that was clean.

#include "flags.hpp"

#include <zokio/zokio.hpp>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace std::chrono_literals;
using zokio::http::request;
using zokio::http::response;

namespace {

struct options {
  std::string host = "127.0.0.1";
  unsigned port = 8080;
  unsigned workers = 0; // one per core
  unsigned max_connections = 10000;
};

options parse(int argc, char** argv) {
  const example::flags f("hello_http", "[--host ADDR] [--port N (0 = pick one)] [--workers N "
                                       "(0 = one per core)] [--max-connections N]");
  options o;
  f.parse(argc, argv, [&](const std::string& a, const char* v) {
    if (a == "--host") {
      o.host = v;
    } else if (a == "--port") {
      o.port = f.number(a, v, 0, 65535);
    } else if (a == "--workers") {
      o.workers = f.number(a, v, 0, 1024);
    } else if (a == "--max-connections") {
      o.max_connections = f.number(a, v, 1, 1000000);
    } else {
      return false;
    }
    return true;
  });
  return o;
}

zokio::runtime* g_runtime = nullptr; // outlives every request: set before serving

zokio::task<response> index_page(const request&) {
  co_return response::html(200, "<!doctype html>\n<html><head><title>Zokio</title></head><body>\n"
                                "<h1>Hello from Zokio</h1>\n<ul>\n"
                                "<li><a href=\"/hello\">/hello</a></li>\n"
                                "<li><a href=\"/api/status\">/api/status</a></li>\n"
                                "<li><a href=\"/metrics\">/metrics</a></li>\n"
                                "<li><a href=\"/healthz\">/healthz</a></li>\n"
                                "</ul>\n</body></html>\n");
}

zokio::task<response> hello(const request&) {
  co_return response::text(200, "Hello, World!\n");
}

zokio::task<response> status(const request&) {
  co_return response::json(200, zokio::diag::to_json(g_runtime->stats()) + "\n");
}

zokio::task<response> echo(const request& r) {
  response out;
  out.body = r.body();
  out.headers.add("Content-Type",
                  std::string(r.header("Content-Type").value_or("application/octet-stream")));
  co_return out;
}

/// Waits for SIGINT or SIGTERM and starts the graceful shutdown.
zokio::task<void> stop_on_signal(zokio::signal::listener* stop, zokio::http::server* srv) {
  const int sig = co_await stop->recv();
  std::fprintf(stderr, "hello_http: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  srv->shutdown();
}

zokio::task<int> main_task(options o, unsigned workers) {
  // Watch the signals before anything listens: from here on SIGINT and SIGTERM are requests to
  // stop, also when they come before stop_on_signal awaits them.
  zokio::signal::listener stop{SIGINT, SIGTERM};
  zokio::http::server srv({.host = o.host,
                           .port = static_cast<std::uint16_t>(o.port),
                           .workers = workers,
                           .max_connections = o.max_connections});
  srv.route("GET", "/", &index_page);
  srv.route("GET", "/hello", &hello);
  srv.route("GET", "/api/status", &status);
  srv.route("POST", "/api/echo", &echo);
  srv.add_observability_routes([] { return g_runtime->stats(); });
  if (const zokio::result<void> l = srv.listen(); !l.ok()) {
    std::fprintf(stderr, "hello_http: cannot listen on %s:%u: %s\n", o.host.c_str(), o.port,
                 l.error().message().c_str());
    co_return 1;
  }
  std::printf("listening on %s:%u (%u worker%s)\n", o.host.c_str(), srv.port(), workers,
              workers == 1 ? "" : "s");
  std::fflush(stdout);
  // It points into this frame: it is cancelled and awaited before the frame goes away.
  zokio::join_handle<void> watcher = zokio::spawn(stop_on_signal(&stop, &srv), {.name = "signals"});
  int rc = 0;
  const zokio::result<void> served = co_await srv.serve();
  if (!served.ok()) {
    std::fprintf(stderr, "hello_http: %s\n", served.error().message().c_str());
    rc = 1;
  }
  watcher.cancel();
  try {
    co_await watcher;
  } catch (const zokio::operation_cancelled&) {
  }
  const auto& k = srv.counters();
  std::printf("served %llu responses on %llu connections\n",
              static_cast<unsigned long long>(k.responses()),
              static_cast<unsigned long long>(k.connections_accepted.load()));
  co_return rc;
}

/// Raises the soft descriptor limit to the hard one: each connection is a descriptor.
void raise_descriptor_limit() {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &l);
  }
}

} // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  raise_descriptor_limit();
  int rc = 0;
  bool clean = false;
  {
    zokio::runtime rt{{.workers = o.workers, .name = "hello_http"}};
    g_runtime = &rt;
    try {
      rc = rt.block_on(main_task(o, rt.workers()));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "hello_http: %s\n", e.what());
      rc = 1;
    }
    const zokio::shutdown_report report = rt.shutdown();
    clean = report.clean();
    std::printf("shutdown: %s\n", report.to_string().c_str());
  }
  return rc != 0 ? rc : (clean ? 0 : 1);
}
