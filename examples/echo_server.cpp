// echo_server: a TCP echo server on every worker.
//
//   echo_server [--host 127.0.0.1] [--port 7007] [--workers N]
//
// Worker 0 binds the address once; every other worker gets a share of that socket
// (tcp_listener::share) and runs its own accept loop on it, so the workers serve one port
// together while a second echo_server on the same port fails with "address already in use"
// (exit 1) instead of silently taking half the connections, as SO_REUSEPORT would let it. Every
// connection gets a task that echoes what it reads. `--port 0` picks a free port. Once
// listening, it prints `listening on HOST:PORT`.
// SIGINT or SIGTERM stop it: a zokio::signal::listener, made before the server listens, takes
// them (one that comes before anyone awaits it is kept, not fatal); a task waiting on it cancels
// the server task, the runtime shuts down, and the exit code says whether that was clean.

#include "flags.hpp"

#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/zokio.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using zokio::net::tcp_listener;
using zokio::net::tcp_stream;

namespace {

struct options {
  std::string host = "127.0.0.1";
  unsigned port = 7007;
  unsigned workers = 0; // one per core
};

std::atomic<std::uint64_t> g_connections{0};

options parse(int argc, char** argv) {
  const example::flags f("echo_server", "[--host ADDR] [--port N (0 = pick one)] [--workers N "
                                        "(0 = one per core)]");
  options o;
  f.parse(argc, argv, [&](const std::string& a, const char* v) {
    if (a == "--host") {
      o.host = v;
    } else if (a == "--port") {
      o.port = f.number(a, v, 0, 65535);
    } else if (a == "--workers") {
      o.workers = f.number(a, v, 0, 1024);
    } else {
      return false;
    }
    return true;
  });
  return o;
}

zokio::task<void> echo(tcp_stream s) {
  std::vector<std::byte> buf(64 * 1024);
  for (;;) {
    const zokio::result<std::size_t> n = co_await s.read_some(buf);
    if (!n.ok() || n.value() == 0) {
      co_return; // EOF, reset, or cancelled at shutdown: the stream closes here
    }
    if (!(co_await s.write_all(std::span<const std::byte>(buf.data(), n.value()))).ok()) {
      co_return;
    }
  }
}

zokio::task<void> accept_loop(tcp_listener l) {
  for (;;) {
    zokio::result<tcp_stream> s = co_await l.accept();
    if (!s.ok()) {
      if (s.error() == std::errc::operation_canceled) {
        co_return;
      }
      // Out of descriptors (or a transient error): the connection waits in the backlog. Back
      // off instead of spinning.
      std::fprintf(stderr, "echo_server: accept: %s\n", s.error().message().c_str());
      co_await zokio::sleep_for(10ms);
      continue;
    }
    g_connections.fetch_add(1, std::memory_order_relaxed);
    (void)s.value().set_nodelay(true);
    zokio::spawn(echo(std::move(s).value()), {.name = "echo"}).detach();
  }
}

/// Accepts on the current worker from a share of worker 0's listening socket.
zokio::task<void> accept_shared(zokio::net::tcp_listener_share share) {
  zokio::result<tcp_listener> l = tcp_listener::open(std::move(share));
  if (!l.ok()) {
    std::fprintf(stderr, "echo_server: a worker cannot listen: %s\n", l.error().message().c_str());
    co_return;
  }
  co_await accept_loop(std::move(l).value());
}

/// An error message as a sentence fragment: "address already in use".
std::string describe(std::error_code e) {
  std::string m = e.message();
  if (!m.empty() && m[0] >= 'A' && m[0] <= 'Z' && (m.size() < 2 || !(m[1] >= 'A' && m[1] <= 'Z'))) {
    m[0] = static_cast<char>(m[0] - 'A' + 'a');
  }
  return m;
}

/// Listens on every worker until cancelled. Returns the exit code.
zokio::task<int> serve(options o, unsigned workers) {
  // No SO_REUSEPORT: one socket, bound here, shared with the other workers below.
  zokio::result<tcp_listener> first =
      tcp_listener::bind(o.host, static_cast<std::uint16_t>(o.port), {.backlog = 1024});
  if (!first.ok()) {
    std::string why = describe(first.error());
    if (first.error() == std::errc::invalid_argument) {
      why += " (HOST must be a numeric address, \"localhost\" or \"*\")";
    }
    std::fprintf(stderr, "echo_server: cannot listen on %s:%u: %s\n", o.host.c_str(), o.port,
                 why.c_str());
    co_return 1;
  }
  const std::uint16_t port = first.value().local_port();
  std::vector<zokio::join_handle<void>> loops;
  for (unsigned w = 1; w < workers; ++w) {
    zokio::result<zokio::net::tcp_listener_share> share = first.value().share();
    if (!share.ok()) {
      std::fprintf(stderr, "echo_server: cannot share the listening socket: %s\n",
                   describe(share.error()).c_str());
      break; // the workers that have a share, and worker 0, still serve
    }
    loops.push_back(
        zokio::spawn_on(w, accept_shared(std::move(share).value()), {.name = "accept"}));
  }
  loops.push_back(zokio::spawn(accept_loop(std::move(first).value()), {.name = "accept"}));
  std::printf("listening on %s:%u (%u worker%s)\n", o.host.c_str(), port, workers,
              workers == 1 ? "" : "s");
  std::fflush(stdout);
  try {
    for (auto& h : loops) {
      co_await h;
    }
  } catch (const zokio::operation_cancelled&) {
    // A signal came (stop_on_signal cancelled us): stop accepting. Open connections are
    // cancelled by the runtime's shutdown.
    for (auto& h : loops) {
      h.cancel();
    }
  }
  co_return 0;
}

/// Waits for SIGINT or SIGTERM and cancels the server.
zokio::task<void> stop_on_signal(zokio::signal::listener* stop, zokio::join_handle<int>* server) {
  const int sig = co_await stop->recv();
  std::fprintf(stderr, "echo_server: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  server->cancel();
}

zokio::task<int> main_task(options o, unsigned workers) {
  // Watch the signals before anything listens: from here on SIGINT and SIGTERM are requests to
  // stop, also when they come before stop_on_signal awaits them.
  zokio::signal::listener stop{SIGINT, SIGTERM};
  zokio::join_handle<int> server = zokio::spawn(serve(std::move(o), workers), {.name = "server"});
  // It points into this frame: it is cancelled and awaited before the frame goes away.
  zokio::join_handle<void> watcher =
      zokio::spawn(stop_on_signal(&stop, &server), {.name = "signals"});
  int rc = 0;
  try {
    rc = co_await server;
  } catch (const zokio::operation_cancelled&) {
    rc = 0; // cancelled before it could catch it: still a requested stop
  }
  // Stop waiting for a signal: the server ended by itself (it could not listen), or a signal
  // stopped it and the watcher is done (cancelling a finished task does nothing).
  watcher.cancel();
  try {
    co_await watcher;
  } catch (const zokio::operation_cancelled&) {
  }
  co_return rc;
}

} // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);

  int rc = 0;
  bool clean = false;
  {
    zokio::runtime rt{{.workers = o.workers, .name = "echo_server"}};
    try {
      rc = rt.block_on(main_task(o, rt.workers()));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "echo_server: %s\n", e.what());
      rc = 1;
    }
    const zokio::shutdown_report report = rt.shutdown();
    clean = report.clean();
    std::printf("shutdown: %s (%llu connections served)\n", report.to_string().c_str(),
                static_cast<unsigned long long>(g_connections.load()));
  }
  return rc != 0 ? rc : (clean ? 0 : 1);
}
