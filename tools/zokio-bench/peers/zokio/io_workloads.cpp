// The io suite of the Zokio peer (PROTOCOL.md, "io"): TCP over loopback with client and server
// tasks on the same worker, positional file reads through zokio::fs::file, and the lateness of
// sleeps. Connections, files and load tasks are set up before the clock starts and torn down
// after it stops.

#include "peer.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using zokio::net::tcp_listener;
using zokio::net::tcp_stream;

namespace zokio_peer {
namespace {

/// Throws check_failed with `what` and the error when `r` failed.
template <typename R>
void check_ok(const R& r, std::string_view what) {
  if (!r.ok()) {
    fail(std::string(what) + ": " + r.error().message());
  }
}

// --- connections --------------------------------------------------------------------------------

/// Both ends of one connection.
struct connection_pair {
  tcp_stream server;
  tcp_stream client;
};

/// The accepted stream whose peer is `client` (matched by the client's local port), taken out
/// of `accepted`.
tcp_stream take_peer(std::vector<tcp_stream>& accepted, const tcp_stream& client) {
  for (tcp_stream& a : accepted) {
    const zokio::result<zokio::net::socket_address> peer = a.peer_address();
    if (a.is_open() && peer.ok() && peer.value().port() == client.local_port()) {
      return std::move(a);
    }
  }
  fail("no accepted connection matches client port " + std::to_string(client.local_port()));
}

/// `n` connections to `l`, each with TCP_NODELAY on both ends.
zokio::task<std::vector<connection_pair>> connect_pairs(tcp_listener* l, std::size_t n) {
  std::vector<zokio::join_handle<zokio::result<tcp_stream>>> connecting;
  connecting.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    connecting.push_back(zokio::spawn(tcp_stream::connect("127.0.0.1", l->local_port())));
  }
  std::vector<tcp_stream> accepted;
  accepted.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    zokio::result<tcp_stream> a = co_await l->accept();
    check_ok(a, "accept");
    accepted.push_back(std::move(a).value());
  }
  std::vector<connection_pair> pairs;
  pairs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    zokio::result<tcp_stream> c = co_await connecting[i];
    check_ok(c, "connect");
    tcp_stream server = take_peer(accepted, c.value());
    pairs.push_back({std::move(server), std::move(c).value()});
    check_ok(pairs.back().server.set_nodelay(true), "TCP_NODELAY");
    check_ok(pairs.back().client.set_nodelay(true), "TCP_NODELAY");
  }
  co_return pairs;
}

zokio::task<std::vector<connection_pair>> listen_and_connect(std::size_t n) {
  zokio::result<tcp_listener> l = tcp_listener::bind("127.0.0.1", 0);
  check_ok(l, "bind 127.0.0.1:0");
  co_return co_await connect_pairs(&l.value(), n);
}

/// Echoes what `s` reads until EOF; returns the bytes echoed.
zokio::task<std::uint64_t> echo(tcp_stream s) {
  std::array<std::byte, 4096> buf{};
  std::uint64_t echoed = 0;
  for (;;) {
    const zokio::result<std::size_t> n = co_await s.read_some(buf);
    check_ok(n, "server read");
    if (n.value() == 0) {
      co_return echoed;
    }
    check_ok(co_await s.write_all(std::span<const std::byte>(buf.data(), n.value())),
             "server write");
    echoed += n.value();
  }
}

constexpr std::size_t k_message = 64;
using message = std::array<std::byte, k_message>;

/// A 64-byte message whose first 8 bytes are `tag`.
void stamp(message& m, std::uint64_t tag) {
  std::memcpy(m.data(), &tag, sizeof tag);
}

std::uint64_t tag_of(const message& m) {
  std::uint64_t tag = 0;
  std::memcpy(&tag, m.data(), sizeof tag);
  return tag;
}

// --- tcp_ping_pong ------------------------------------------------------------------------------

zokio::task<measurement> tcp_ping_pong(std::uint64_t n) {
  std::vector<connection_pair> pairs = co_await listen_and_connect(1);
  tcp_stream& c = pairs[0].client;
  auto server = zokio::spawn(echo(std::move(pairs[0].server)));
  message out{};
  message in{};
  measurement m = measured(n, 0);
  m.latency_us.reserve(n);
  const auto t0 = clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto sent = clock::now();
    stamp(out, i);
    check_ok(co_await c.write_all(out), "client write");
    check_ok(co_await c.read_exact(in), "client read");
    m.latency_us.push_back(std::chrono::duration<double, std::micro>(clock::now() - sent).count());
    if (tag_of(in) != i) {
      fail("the echo of message " + std::to_string(i) + " is wrong");
    }
  }
  m.seconds = seconds_since(t0);
  c.close();
  const std::uint64_t echoed = co_await server;
  if (echoed != n * k_message) {
    fail("the server echoed " + std::to_string(echoed) + " bytes");
  }
  co_return m;
}

measurement run_tcp_ping_pong(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(tcp_ping_pong(n));
}

// --- tcp_echo_many ------------------------------------------------------------------------------

constexpr std::size_t k_echo_connections = 64;

/// Sends `n` messages one after the other, each awaiting its echo, then closes the connection;
/// returns the messages echoed.
zokio::task<std::uint64_t> echo_client(tcp_stream c, std::uint64_t n) {
  message out{};
  message in{};
  for (std::uint64_t i = 0; i < n; ++i) {
    stamp(out, i);
    check_ok(co_await c.write_all(out), "client write");
    check_ok(co_await c.read_exact(in), "client read");
    if (tag_of(in) != i) {
      fail("the echo of message " + std::to_string(i) + " is wrong");
    }
  }
  co_return n;
}

zokio::task<measurement> tcp_echo_many(std::uint64_t n) {
  const std::uint64_t per = n / k_echo_connections;
  std::vector<connection_pair> pairs = co_await listen_and_connect(k_echo_connections);
  std::vector<zokio::join_handle<std::uint64_t>> servers;
  std::vector<zokio::join_handle<std::uint64_t>> clients;
  servers.reserve(k_echo_connections);
  clients.reserve(k_echo_connections);
  for (connection_pair& p : pairs) {
    servers.push_back(zokio::spawn(echo(std::move(p.server))));
  }
  const auto t0 = clock::now();
  for (connection_pair& p : pairs) {
    clients.push_back(zokio::spawn(echo_client(std::move(p.client), per)));
  }
  const std::uint64_t messages = co_await join_all(clients);
  const double s = seconds_since(t0);
  const std::uint64_t echoed = co_await join_all(servers); // each ends at its client's close
  const std::uint64_t total = per * k_echo_connections;
  if (!(messages == total && echoed == total * k_message)) {
    fail(std::to_string(messages) + " messages, " + std::to_string(echoed) + " bytes echoed");
  }
  // Per message: the client's write, the server's read, the server's write, the client's read.
  co_return measured(4 * total, s);
}

measurement run_tcp_echo_many(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(tcp_echo_many(n));
}

// --- tcp_stream ---------------------------------------------------------------------------------

constexpr std::size_t k_chunk = 64 * 1024;

/// Reads until EOF; returns the bytes read.
zokio::task<std::uint64_t> sink(tcp_stream s) {
  std::vector<std::byte> buf(k_chunk);
  std::uint64_t got = 0;
  for (;;) {
    const zokio::result<std::size_t> n = co_await s.read_some(buf);
    check_ok(n, "server read");
    if (n.value() == 0) {
      co_return got;
    }
    got += n.value();
  }
}

zokio::task<measurement> tcp_stream_bytes(std::uint64_t n) {
  std::vector<connection_pair> pairs = co_await listen_and_connect(1);
  tcp_stream& c = pairs[0].client;
  const std::vector<std::byte> chunk(k_chunk, std::byte{0x5a});
  const auto t0 = clock::now();
  auto server = zokio::spawn(sink(std::move(pairs[0].server)));
  for (std::uint64_t sent = 0; sent < n;) {
    const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(k_chunk, n - sent));
    check_ok(co_await c.write_all(std::span<const std::byte>(chunk.data(), len)), "client write");
    sent += len;
  }
  check_ok(co_await c.shutdown(), "client shutdown");
  const std::uint64_t got = co_await server;
  const double s = seconds_since(t0);
  if (got != n) {
    fail("the server read " + std::to_string(got) + " bytes");
  }
  co_return measured(n, s);
}

measurement run_tcp_stream(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(tcp_stream_bytes(n));
}

// --- fs_read ------------------------------------------------------------------------------------

constexpr std::size_t k_block = 4096;
constexpr std::uint64_t k_blocks = 256; // a 1 MiB file
constexpr unsigned k_in_flight = 16;

/// A new empty file in the temporary directory, removed when this goes.
struct temp_file {
  temp_file() {
    std::string pattern = (std::filesystem::temp_directory_path() / "zokio-bench-fs-XXXXXX");
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) {
      fail("cannot create a temporary file in " + pattern);
    }
    ::close(fd);
    path = pattern;
  }
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  std::string path;
};

/// Reads i = first, first + stride, ... < n: 4 KiB at block (i * 7919) mod 256, one at a time.
zokio::task<std::uint64_t> reader(const zokio::fs::file* f, std::uint64_t first,
                                  std::uint64_t stride, std::uint64_t n) {
  std::array<std::byte, k_block> buf{};
  std::uint64_t bytes = 0;
  for (std::uint64_t i = first; i < n; i += stride) {
    const std::uint64_t block = (i * 7919) % k_blocks;
    const zokio::result<std::size_t> r = co_await f->read_at(buf, block * k_block);
    check_ok(r, "read_at");
    std::uint64_t stamp = 0;
    std::memcpy(&stamp, buf.data(), sizeof stamp);
    if (r.value() != k_block || stamp != block) {
      fail("read " + std::to_string(r.value()) + " bytes of block " + std::to_string(stamp) +
           ", not 4096 of " + std::to_string(block));
    }
    bytes += r.value();
  }
  co_return bytes;
}

/// Writes the 1 MiB file (each 4 KiB block begins with its index), then times the n reads.
zokio::task<measurement> fs_read(std::uint64_t n, const std::string* path) {
  std::vector<std::byte> content(k_blocks * k_block, std::byte{0x5a});
  for (std::uint64_t b = 0; b < k_blocks; ++b) {
    std::memcpy(content.data() + b * k_block, &b, sizeof b);
  }
  check_ok(co_await zokio::fs::write_file(*path, content), "write " + *path);
  zokio::result<zokio::fs::file> f = co_await zokio::fs::file::open(*path);
  check_ok(f, "open " + *path);
  // 16 readers, each with one read in flight: 16 reads in flight until the last ones.
  std::vector<zokio::join_handle<std::uint64_t>> readers;
  readers.reserve(k_in_flight);
  const auto t0 = clock::now();
  for (unsigned k = 0; k < k_in_flight; ++k) {
    readers.push_back(zokio::spawn(reader(&f.value(), k, k_in_flight, n)));
  }
  const std::uint64_t bytes = co_await join_all(readers);
  const double s = seconds_since(t0);
  check_ok(co_await f.value().close(), "close " + *path);
  if (bytes != n * k_block) {
    fail("read " + std::to_string(bytes) + " bytes");
  }
  co_return measured(n, s);
}

measurement run_fs_read(zokio::runtime& rt, std::uint64_t n) {
  const temp_file file;
  return rt.block_on(fs_read(n, &file.path));
}

// --- timer_precision_* --------------------------------------------------------------------------

/// Yields until `*stop`; returns how often.
zokio::task<std::uint64_t> spin(const bool* stop) {
  std::uint64_t yields = 0;
  while (!*stop) {
    co_await zokio::yield_now();
    ++yields;
  }
  co_return yields;
}

/// `n` sequential sleeps of `d`; samples are the lateness (woke - requested), while `load`
/// other tasks on this worker loop on yield_now.
zokio::task<measurement> timer_precision(std::uint64_t n, std::chrono::milliseconds d,
                                         unsigned load) {
  bool stop = false;
  std::vector<zokio::join_handle<std::uint64_t>> spinners;
  spinners.reserve(load);
  for (unsigned i = 0; i < load; ++i) {
    spinners.push_back(zokio::spawn(spin(&stop)));
  }
  co_await zokio::yield_now(); // the load is running
  measurement m = measured(n, 0);
  m.latency_us.reserve(n);
  const auto t0 = clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto asked = clock::now();
    co_await zokio::sleep_for(d);
    m.latency_us.push_back(
        std::chrono::duration<double, std::micro>(clock::now() - asked - d).count());
  }
  m.seconds = seconds_since(t0);
  stop = true;
  const std::uint64_t yields = co_await join_all(spinners);
  if (m.latency_us.size() != n) {
    fail("samples: " + std::to_string(m.latency_us.size()));
  }
  if (load > 0) {
    m.extra.emplace_back("load_yields", static_cast<double>(yields));
  }
  co_return m;
}

measurement run_timer_precision_1ms(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(timer_precision(n, 1ms, 0));
}

measurement run_timer_precision_10ms(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(timer_precision(n, 10ms, 0));
}

measurement run_timer_precision_1ms_loaded(zokio::runtime& rt, std::uint64_t n) {
  return rt.block_on(timer_precision(n, 1ms, 64));
}

} // namespace

const std::vector<workload>& io_workloads() {
  static const std::vector<workload> all = {
      {"tcp_ping_pong", false, 1, run_tcp_ping_pong},
      {"tcp_echo_many", false, k_echo_connections, run_tcp_echo_many},
      {"tcp_stream", false, 1, run_tcp_stream},
      {"fs_read", false, 1, run_fs_read},
      {"timer_precision_1ms", false, 1, run_timer_precision_1ms},
      {"timer_precision_10ms", false, 1, run_timer_precision_10ms},
      {"timer_precision_1ms_loaded", false, 1, run_timer_precision_1ms_loaded},
  };
  return all;
}

} // namespace zokio_peer
