// zokio-bench-tcp: TCP over loopback, Zokio against raw libuv callbacks, in one binary.
//
// Workloads (each on both implementations, server and client in one process and one thread):
// - pingpong: one connection, 1-byte messages, one in flight; a round trip is the client writing
//   a byte and reading the server's echo of it. Items = round trips.
// - stream: one connection, the client writes 64 KiB chunks (one write in flight) and the
//   server reads them into a 64 KiB buffer; every 4 MiB the server answers one byte and the
//   client waits for it. Bytes = payload bytes.
//
// Both sides of each workload run on one event loop: Zokio's runtime with workers = 1 (server
// and client tasks on worker 0, driven by block_on on the benchmark thread), raw libuv with one
// uv_loop_t run by the benchmark thread. TCP_NODELAY is set on every socket of both. The raw
// libuv peer is written the canonical way (uv_write with a callback, reads into one buffer per
// connection); Zokio goes through its public API only (tcp_listener, tcp_stream).
//
// Rules as in zokio-bench-micro: wall-clock time (UseRealTime); a failure marks the benchmark
// errored and makes the program exit 1; a Zokio runtime that does not shut down clean() aborts.

#include "../bench_main.hpp"

#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/zokio.hpp>

#include <benchmark/benchmark.h>

#include <uv.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr std::int64_t k_batch = 100;                   // round trips per KeepRunningBatch step
constexpr std::size_t k_chunk = 64 * 1024;              // stream: bytes per write
constexpr std::size_t k_stream_bytes = 4 * 1024 * 1024; // stream: bytes per iteration (ack)

bool g_failed = false;

void report_error(benchmark::State& state, const std::string& what) {
  g_failed = true;
  state.SkipWithError(what.c_str());
}

void finish_zokio(benchmark::State& state, zokio::runtime& rt, const char* bench) {
  const zokio::runtime_stats s = rt.stats();
  if (!state.error_occurred() && (s.tasks_failed != 0 || s.sync_fallbacks != 0)) {
    report_error(state, "runtime counters: failed=" + std::to_string(s.tasks_failed) +
                            " sync_fallbacks=" + std::to_string(s.sync_fallbacks));
  }
  const zokio::shutdown_report r = rt.shutdown();
  if (!r.clean()) {
    std::fprintf(stderr, "zokio-bench-tcp: %s: runtime shutdown not clean: %s\n", bench,
                 r.to_string().c_str());
    std::abort();
  }
}

// === Zokio =======================================================================================

using zokio::net::tcp_listener;
using zokio::net::tcp_stream;

struct zokio_pair {
  tcp_stream server;
  tcp_stream client;
};

zokio::task<zokio::result<zokio_pair>> zokio_connect_pair(tcp_listener* l) {
  auto connecting = zokio::spawn(tcp_stream::connect("127.0.0.1", l->local_port()));
  zokio::result<tcp_stream> a = co_await l->accept();
  zokio::result<tcp_stream> c = co_await connecting;
  if (!a.ok()) {
    co_return a.error();
  }
  if (!c.ok()) {
    co_return c.error();
  }
  (void)a.value().set_nodelay(true);
  (void)c.value().set_nodelay(true);
  co_return zokio_pair{std::move(a).value(), std::move(c).value()};
}

/// Echoes until EOF.
zokio::task<void> zokio_echo(tcp_stream* s) {
  std::array<std::byte, 4096> buf{};
  for (;;) {
    const zokio::result<std::size_t> n = co_await s->read_some(buf);
    if (!n.ok() || n.value() == 0) {
      co_return;
    }
    if (!(co_await s->write_all(std::span<const std::byte>(buf.data(), n.value()))).ok()) {
      co_return;
    }
  }
}

/// Reads k_stream_bytes at a time and answers each with one byte, until EOF.
zokio::task<void> zokio_sink(tcp_stream* s) {
  std::vector<std::byte> buf(k_chunk);
  const std::byte ack{1};
  std::size_t got = 0;
  for (;;) {
    const zokio::result<std::size_t> n = co_await s->read_some(buf);
    if (!n.ok() || n.value() == 0) {
      co_return;
    }
    got += n.value();
    while (got >= k_stream_bytes) {
      got -= k_stream_bytes;
      if (!(co_await s->write_all(std::span<const std::byte>(&ack, 1))).ok()) {
        co_return;
      }
    }
  }
}

zokio::task<std::string> zokio_pingpong(benchmark::State* state) {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind: " + l.error().message();
  }
  zokio::result<zokio_pair> p = co_await zokio_connect_pair(&l.value());
  if (!p.ok()) {
    co_return "connect: " + p.error().message();
  }
  auto server = zokio::spawn(zokio_echo(&p.value().server));
  tcp_stream& c = p.value().client;
  std::array<std::byte, 4096> buf{};
  const std::byte ping{42};
  while (state->KeepRunningBatch(k_batch)) {
    for (std::int64_t i = 0; i < k_batch; ++i) {
      if (!(co_await c.write_all(std::span<const std::byte>(&ping, 1))).ok()) {
        co_return "write failed";
      }
      const zokio::result<std::size_t> n = co_await c.read_some(buf);
      if (!n.ok() || n.value() != 1 || buf[0] != ping) {
        co_return "bad echo";
      }
    }
  }
  c.close();
  co_await server;
  co_return "";
}

zokio::task<std::string> zokio_stream(benchmark::State* state) {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  if (!l.ok()) {
    co_return "bind: " + l.error().message();
  }
  zokio::result<zokio_pair> p = co_await zokio_connect_pair(&l.value());
  if (!p.ok()) {
    co_return "connect: " + p.error().message();
  }
  auto server = zokio::spawn(zokio_sink(&p.value().server));
  tcp_stream& c = p.value().client;
  std::vector<std::byte> chunk(k_chunk, std::byte{0x5a});
  std::array<std::byte, 1> ack{};
  for (auto _ : *state) {
    for (std::size_t sent = 0; sent < k_stream_bytes; sent += k_chunk) {
      if (!(co_await c.write_all(chunk)).ok()) {
        co_return "write failed";
      }
    }
    if (!(co_await c.read_exact(ack)).ok()) {
      co_return "no ack";
    }
  }
  c.close();
  co_await server;
  co_return "";
}

void run_zokio(benchmark::State& state, zokio::task<std::string> (*body)(benchmark::State*),
               const char* bench) {
  zokio::runtime rt{{.workers = 1}};
  try {
    const std::string err = rt.block_on(body(&state));
    if (!err.empty()) {
      report_error(state, err);
    }
  } catch (const std::exception& e) {
    report_error(state, std::string("block_on threw: ") + e.what());
  }
  finish_zokio(state, rt, bench);
}

void BM_tcp_pingpong_zokio(benchmark::State& state) {
  run_zokio(state, zokio_pingpong, "BM_tcp_pingpong_zokio");
  state.SetItemsProcessed(state.iterations());
}

void BM_tcp_stream_zokio(benchmark::State& state) {
  run_zokio(state, zokio_stream, "BM_tcp_stream_zokio");
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(k_stream_bytes));
}

// === raw libuv ===================================================================================

// One loop; a listener, the accepted connection (server side) and the client connection. All
// handles are members of one heap object that outlives the loop's last callback.
struct uv_bench {
  enum class mode { pingpong, stream };

  uv_loop_t loop{};
  uv_tcp_t listener{};
  uv_tcp_t server{};
  uv_tcp_t client{};
  uv_connect_t connect_req{};
  uv_write_t server_write{};
  uv_write_t client_write{};
  bool server_write_busy = false;
  bool connected = false;
  bool accepted = false;
  int error = 0;
  mode m = mode::pingpong;

  std::vector<char> server_buf = std::vector<char>(k_chunk);
  std::vector<char> client_buf = std::vector<char>(k_chunk);
  std::vector<char> chunk = std::vector<char>(k_chunk, 0x5a);
  char ping = 42;
  char ack = 1;

  std::int64_t pongs_left = 0; // pingpong: round trips left in this batch
  std::size_t to_send = 0;     // stream: bytes the client still writes in this iteration
  std::size_t server_got = 0;  // stream: bytes the server read since the last ack
  bool all_written = false;    // stream: this iteration's chunks are all written
  int acks = 0;                // stream: acks received and not yet matched with an iteration

  /// Stream: an iteration ends once its bytes are written and their ack has arrived.
  void maybe_end_iteration() {
    if (all_written && acks > 0) {
      all_written = false;
      --acks;
      uv_stop(&loop);
    }
  }

  static uv_bench* of(uv_handle_t* h) { return static_cast<uv_bench*>(h->loop->data); }
  void fail(int status) {
    if (error == 0) {
      error = status;
    }
    uv_stop(&loop);
  }
};

void uv_alloc_server(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  uv_bench* b = uv_bench::of(h);
  *buf = uv_buf_init(b->server_buf.data(), static_cast<unsigned>(b->server_buf.size()));
}

void uv_alloc_client(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  uv_bench* b = uv_bench::of(h);
  *buf = uv_buf_init(b->client_buf.data(), static_cast<unsigned>(b->client_buf.size()));
}

void uv_server_wrote(uv_write_t* req, int status) {
  uv_bench* b = static_cast<uv_bench*>(req->data);
  b->server_write_busy = false;
  if (status < 0) {
    b->fail(status);
  }
}

void uv_server_write(uv_bench* b, const char* data, std::size_t n) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(n));
  // One write of the server is in flight at most (a ping-pong or an ack); a spare request
  // covers the case where its callback has not run yet.
  uv_write_t* req = &b->server_write;
  if (b->server_write_busy) {
    req = new uv_write_t;
    req->data = b;
    const int rc = uv_write(req, reinterpret_cast<uv_stream_t*>(&b->server), &buf, 1,
                            [](uv_write_t* r, int status) {
                              uv_bench* bb = static_cast<uv_bench*>(r->data);
                              delete r;
                              if (status < 0) {
                                bb->fail(status);
                              }
                            });
    if (rc < 0) {
      delete req;
      b->fail(rc);
    }
    return;
  }
  b->server_write_busy = true;
  req->data = b;
  if (const int rc =
          uv_write(req, reinterpret_cast<uv_stream_t*>(&b->server), &buf, 1, uv_server_wrote);
      rc < 0) {
    b->server_write_busy = false;
    b->fail(rc);
  }
}

void uv_server_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  uv_bench* b = uv_bench::of(reinterpret_cast<uv_handle_t*>(s));
  if (nread <= 0) {
    if (nread < 0 && nread != UV_EOF) {
      b->fail(static_cast<int>(nread));
    }
    return;
  }
  if (b->m == uv_bench::mode::pingpong) {
    uv_server_write(b, buf->base, static_cast<std::size_t>(nread)); // echo
    return;
  }
  b->server_got += static_cast<std::size_t>(nread);
  while (b->server_got >= k_stream_bytes) {
    b->server_got -= k_stream_bytes;
    uv_server_write(b, &b->ack, 1);
  }
}

void uv_client_send(uv_bench* b);

void uv_client_wrote(uv_write_t* req, int status) {
  uv_bench* b = static_cast<uv_bench*>(req->data);
  if (status < 0) {
    b->fail(status);
    return;
  }
  if (b->m == uv_bench::mode::stream) {
    uv_client_send(b); // the next chunk, one write in flight
  }
}

void uv_client_send(uv_bench* b) {
  uv_buf_t buf{};
  if (b->m == uv_bench::mode::pingpong) {
    buf = uv_buf_init(&b->ping, 1);
  } else {
    if (b->to_send == 0) {
      b->all_written = true;
      b->maybe_end_iteration();
      return;
    }
    buf = uv_buf_init(b->chunk.data(), static_cast<unsigned>(k_chunk));
    b->to_send -= k_chunk;
  }
  b->client_write.data = b;
  if (const int rc = uv_write(&b->client_write, reinterpret_cast<uv_stream_t*>(&b->client), &buf, 1,
                              uv_client_wrote);
      rc < 0) {
    b->fail(rc);
  }
}

void uv_client_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  uv_bench* b = uv_bench::of(reinterpret_cast<uv_handle_t*>(s));
  if (nread <= 0) {
    if (nread < 0) {
      b->fail(static_cast<int>(nread));
    }
    return;
  }
  if (b->m == uv_bench::mode::pingpong) {
    if (nread != 1 || buf->base[0] != b->ping) {
      b->fail(UV_EPROTO);
      return;
    }
    if (--b->pongs_left > 0) {
      uv_client_send(b);
    } else {
      uv_stop(&b->loop); // the batch is done
    }
    return;
  }
  b->acks += static_cast<int>(nread); // one byte per k_stream_bytes received by the server
  b->maybe_end_iteration();
}

/// Sets up the connection; returns a libuv status.
int uv_setup(uv_bench* b) {
  if (int rc = uv_loop_init(&b->loop); rc != 0) {
    return rc;
  }
  b->loop.data = b;
  uv_tcp_init(&b->loop, &b->listener);
  uv_tcp_init(&b->loop, &b->server);
  uv_tcp_init(&b->loop, &b->client);
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (int rc = uv_tcp_bind(&b->listener, reinterpret_cast<const sockaddr*>(&addr), 0); rc != 0) {
    return rc;
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&b->listener), 16,
                         [](uv_stream_t* l, int status) {
                           uv_bench* bb = uv_bench::of(reinterpret_cast<uv_handle_t*>(l));
                           if (status < 0 ||
                               uv_accept(l, reinterpret_cast<uv_stream_t*>(&bb->server)) != 0) {
                             bb->fail(status < 0 ? status : UV_ECONNABORTED);
                             return;
                           }
                           uv_tcp_nodelay(&bb->server, 1);
                           uv_read_start(reinterpret_cast<uv_stream_t*>(&bb->server),
                                         uv_alloc_server, uv_server_read);
                           bb->accepted = true;
                           if (bb->connected) {
                             uv_stop(&bb->loop);
                           }
                         });
      rc != 0) {
    return rc;
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&b->listener, reinterpret_cast<sockaddr*>(&bound), &len);
  if (int rc = uv_tcp_connect(&b->connect_req, &b->client, reinterpret_cast<sockaddr*>(&bound),
                              [](uv_connect_t* req, int status) {
                                uv_bench* bb =
                                    uv_bench::of(reinterpret_cast<uv_handle_t*>(req->handle));
                                if (status < 0) {
                                  bb->fail(status);
                                  return;
                                }
                                uv_tcp_nodelay(&bb->client, 1);
                                uv_read_start(reinterpret_cast<uv_stream_t*>(&bb->client),
                                              uv_alloc_client, uv_client_read);
                                bb->connected = true;
                                if (bb->accepted) {
                                  uv_stop(&bb->loop);
                                }
                              });
      rc != 0) {
    return rc;
  }
  while (!(b->connected && b->accepted) && b->error == 0) {
    uv_run(&b->loop, UV_RUN_DEFAULT);
  }
  return b->error;
}

/// Closes everything and requires uv_loop_close() == 0.
bool uv_teardown(uv_bench* b) {
  uv_walk(
      &b->loop,
      [](uv_handle_t* h, void*) {
        if (uv_is_closing(h) == 0) {
          uv_close(h, nullptr);
        }
      },
      nullptr);
  uv_run(&b->loop, UV_RUN_DEFAULT);
  return uv_loop_close(&b->loop) == 0;
}

void BM_tcp_pingpong_libuv(benchmark::State& state) {
  auto b = std::make_unique<uv_bench>();
  b->m = uv_bench::mode::pingpong;
  if (const int rc = uv_setup(b.get()); rc != 0) {
    report_error(state, std::string("setup: ") + uv_strerror(rc));
    uv_teardown(b.get());
    return;
  }
  while (state.KeepRunningBatch(k_batch)) {
    b->pongs_left = k_batch;
    uv_client_send(b.get());
    uv_run(&b->loop, UV_RUN_DEFAULT); // until the batch's last pong stops it
    if (b->error != 0) {
      report_error(state, std::string("pingpong: ") + uv_strerror(b->error));
      break;
    }
  }
  if (!uv_teardown(b.get())) {
    report_error(state, "uv_loop_close failed");
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_tcp_stream_libuv(benchmark::State& state) {
  auto b = std::make_unique<uv_bench>();
  b->m = uv_bench::mode::stream;
  if (const int rc = uv_setup(b.get()); rc != 0) {
    report_error(state, std::string("setup: ") + uv_strerror(rc));
    uv_teardown(b.get());
    return;
  }
  for (auto _ : state) {
    b->to_send = k_stream_bytes;
    uv_client_send(b.get());
    uv_run(&b->loop, UV_RUN_DEFAULT); // until the ack stops it
    if (b->error != 0) {
      report_error(state, std::string("stream: ") + uv_strerror(b->error));
      break;
    }
  }
  if (!uv_teardown(b.get())) {
    report_error(state, "uv_loop_close failed");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(k_stream_bytes));
}

// Interleaved so that both implementations see the same machine state in one run.
BENCHMARK(BM_tcp_pingpong_libuv)->UseRealTime()->Unit(benchmark::kNanosecond);
BENCHMARK(BM_tcp_pingpong_zokio)->UseRealTime()->Unit(benchmark::kNanosecond);
BENCHMARK(BM_tcp_stream_libuv)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_tcp_stream_zokio)->UseRealTime()->Unit(benchmark::kMicrosecond);

} // namespace

int main(int argc, char** argv) {
  return zokio::tools::bench_main(
      argc, argv,
      {.name = "zokio-bench-tcp",
       .context = {{"zokio_workers", "1 (server and client tasks on worker 0)"},
                   {"libuv_loops", "1 (server and client callbacks on one loop)"},
                   {"transport", "TCP over 127.0.0.1, TCP_NODELAY"},
                   {"libuv_version", uv_version_string()}},
       .failed = &g_failed});
}
