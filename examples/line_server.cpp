// line_server: a line-based TCP server in Zokio's API, beside line_server.rs (the same program
// with Tokio, for comparison; not built). Each line a client sends comes back upper-cased; a
// client silent for --idle-ms is dropped; SIGINT or SIGTERM stops accepting, cancels the
// clients, waits for them, and exits 0 after a clean shutdown.
//
//   line_server [PORT (0 = pick one; default 7008)] [IDLE_MS (default 10000)]

#include <zokio/zokio.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

zokio::task<void> serve_client(zokio::net::tcp_stream s, std::chrono::milliseconds idle) {
  zokio::io::buffered_reader in(s);
  for (;;) {
    zokio::result<std::string> line = co_await zokio::timeout(idle, in.read_line());
    if (!line) {
      co_return; // idle too long, EOF, a line over the limit, or the network failed
    }
    std::ranges::transform(*line, line->begin(), [](unsigned char c) { return std::toupper(c); });
    if (!co_await s.write_all(std::as_bytes(std::span(*line += '\n')))) {
      co_return;
    }
  }
}

zokio::task<void> accept_clients(zokio::net::tcp_listener& l, zokio::task_scope& clients,
                                 std::chrono::milliseconds idle) {
  while (auto s = co_await l.accept()) { // an error ends it: cancelled by select, or failed
    clients.spawn(serve_client(std::move(*s), idle));
  }
}

zokio::task<int> serve(unsigned port, std::chrono::milliseconds idle) {
  zokio::signal::listener stop{SIGINT, SIGTERM};
  auto l = zokio::net::tcp_listener::bind("127.0.0.1", static_cast<std::uint16_t>(port));
  if (!l) {
    std::fprintf(stderr, "line_server: cannot listen: %s\n", l.error().message().c_str());
    co_return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", l->local_port());
  std::fflush(stdout); // a test reads the port
  zokio::task_scope clients;
  co_await zokio::select(accept_clients(*l, clients, idle), stop.recv()); // a signal wins
  clients.cancel();
  co_await clients.close();
  co_return 0;
}

int main(int argc, char** argv) {
  const unsigned port = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 7008;
  const std::chrono::milliseconds idle(argc > 2 ? std::atoi(argv[2]) : 10000);
  zokio::runtime rt{{.workers = 1}};
  const int rc = rt.block_on(serve(port, idle));
  return rt.shutdown().clean() ? rc : 1; // clean: no task and no handle left
}
