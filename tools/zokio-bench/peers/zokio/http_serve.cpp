// `--serve http` of the Zokio peer (PROTOCOL.md, "http"): zokio::http::server on W workers,
// GET /plaintext -> "Hello, World!" as text/plain; SIGTERM or SIGINT stop it gracefully.

#include "peer.hpp"

#include <zokio/http/server.hpp>

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

namespace zokio_peer {
namespace {

zokio::task<zokio::http::response> plaintext(const zokio::http::request&) {
  co_return zokio::http::response::text(200, "Hello, World!");
}

/// Waits for SIGTERM or SIGINT, then starts the server's graceful shutdown.
zokio::task<void> stop_on_signal(zokio::signal::listener* stop, zokio::http::server* srv) {
  co_await stop->recv();
  srv->shutdown();
}

zokio::task<int> serve(unsigned port, unsigned workers) {
  // Watched from here on: a signal that comes before the watcher awaits it is kept, not fatal.
  zokio::signal::listener stop{SIGTERM, SIGINT};
  zokio::http::server srv({.host = "127.0.0.1",
                           .port = static_cast<std::uint16_t>(port),
                           .workers = workers,
                           .max_connections = 100000});
  srv.route("GET", "/plaintext", &plaintext);
  if (const zokio::result<void> l = srv.listen(); !l.ok()) {
    std::fprintf(stderr, "zokio-bench-peer-zokio: cannot listen on 127.0.0.1:%u: %s\n", port,
                 l.error().message().c_str());
    co_return 1;
  }
  std::printf("{\"listening\":%u}\n", static_cast<unsigned>(srv.port()));
  std::fflush(stdout);
  // It points into this frame: cancelled and awaited before the frame goes away.
  zokio::join_handle<void> watcher = zokio::spawn(stop_on_signal(&stop, &srv), {.name = "signals"});
  const zokio::result<void> served = co_await srv.serve();
  watcher.cancel();
  try {
    co_await watcher;
  } catch (const zokio::operation_cancelled&) {
  }
  if (!served.ok()) {
    std::fprintf(stderr, "zokio-bench-peer-zokio: serve: %s\n", served.error().message().c_str());
    co_return 1;
  }
  co_return 0;
}

} // namespace

int serve_http(unsigned port, unsigned workers) {
  int rc = 0;
  zokio::shutdown_report report;
  {
    zokio::runtime rt{{.workers = workers, .name = "peer-http"}};
    try {
      rc = rt.block_on(serve(port, workers));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "zokio-bench-peer-zokio: serve: %s\n", e.what());
      rc = 1;
    }
    report = rt.shutdown();
  }
  if (rc == 0 && !report.clean()) {
    std::fprintf(stderr, "zokio-bench-peer-zokio: runtime shutdown not clean: %s\n",
                 report.to_string().c_str());
    rc = 1;
  }
  return rc;
}

} // namespace zokio_peer
