// echo_client: load for echo_server, with every byte checked.
//
//   echo_client [--host 127.0.0.1] [--port 7007] [--clients 50] [--messages 100] [--size 4096]
//               [--workers 1]
//
// The defaults meet echo_server's: both use 127.0.0.1:7007. A host name is resolved once up front
// (uv_getaddrinfo, on libuv's thread pool); one that does not resolve ends the run with
// `echo_client: cannot resolve "NAME": ...` and exit 1.
//
// Connects `--clients` clients at once (spread over the workers); each sends `--messages`
// messages of random sizes from 1 to `--size` bytes, reads each echo back and compares it. Prints
// one summary line; exits 0 when every client finished and every byte matched, 1 otherwise, 2 on
// bad flags.

#include "flags.hpp"

#include <zokio/net/address.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/zokio.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using zokio::net::tcp_stream;

namespace {

struct options {
  std::string host = "127.0.0.1";
  unsigned port = 7007; // echo_server's default
  unsigned clients = 50;
  unsigned messages = 100;
  unsigned size = 4096;
  unsigned workers = 1;
};

options parse(int argc, char** argv) {
  const example::flags f("echo_client", "[--host NAME|ADDR] [--port N (7007)] [--clients N] "
                                        "[--messages N] [--size BYTES] [--workers N]");
  options o;
  f.parse(argc, argv, [&](const std::string& a, const char* v) {
    if (a == "--host") {
      o.host = v;
    } else if (a == "--port") {
      o.port = f.number(a, v, 1, 65535);
    } else if (a == "--clients") {
      o.clients = f.number(a, v, 1, 100000);
    } else if (a == "--messages") {
      o.messages = f.number(a, v, 0, 100000000);
    } else if (a == "--size") {
      o.size = f.number(a, v, 1, 64 * 1024 * 1024);
    } else if (a == "--workers") {
      o.workers = f.number(a, v, 1, 1024);
    } else {
      return false;
    }
    return true;
  });
  return o;
}

struct report {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t mismatches = 0;
  std::string error;
};

zokio::task<report> client(std::string host, std::uint16_t port, unsigned id, unsigned messages,
                           unsigned max_size) {
  report r;
  zokio::result<tcp_stream> c = co_await tcp_stream::connect(host, port);
  if (!c.ok()) {
    // connect resolves the name again: a name that stopped resolving says so, with the name.
    r.error = c.error().category() == zokio::net::resolve_category()
                  ? "cannot resolve \"" + host + "\": " + c.error().message()
                  : "connect: " + c.error().message();
    co_return r;
  }
  tcp_stream s = std::move(c).value();
  (void)s.set_nodelay(true);
  std::mt19937 rng(id * 7919u + 1u);
  // Messages are random windows of a random pattern twice the largest message.
  std::vector<std::byte> pattern(2 * static_cast<std::size_t>(max_size));
  for (auto& b : pattern) {
    b = static_cast<std::byte>(rng());
  }
  std::vector<std::byte> in(max_size);
  std::uniform_int_distribution<std::size_t> size_of(1, max_size);
  std::uniform_int_distribution<std::size_t> offset_of(0, max_size);
  for (unsigned m = 0; m < messages; ++m) {
    const std::size_t n = size_of(rng);
    const std::span<const std::byte> out(pattern.data() + offset_of(rng), n);
    if (const zokio::result<void> w = co_await s.write_all(out); !w.ok()) {
      r.error = "write: " + w.error().message();
      co_return r;
    }
    const std::span<std::byte> back(in.data(), n);
    if (const zokio::result<void> rd = co_await s.read_exact(back); !rd.ok()) {
      r.error = "read: " + rd.error().message();
      co_return r;
    }
    if (std::memcmp(out.data(), back.data(), n) != 0) {
      ++r.mismatches;
    }
    ++r.messages;
    r.bytes += n;
  }
  co_return r;
}

zokio::task<report> run(options o) {
  report total;
  // Resolve the name once, so that a name that does not resolve is one clear message (which
  // name, and why) instead of one connect error per client. The error code alone does not say
  // which name it was: the program that asked knows, and says it.
  zokio::result<std::vector<zokio::net::socket_address>> addresses =
      co_await zokio::net::resolve(o.host, static_cast<std::uint16_t>(o.port));
  if (!addresses.ok()) {
    total.error = "cannot resolve \"" + o.host + "\": " + addresses.error().message();
    std::fprintf(stderr, "echo_client: %s\n", total.error.c_str());
    co_return total;
  }
  std::vector<zokio::join_handle<report>> hs;
  hs.reserve(o.clients);
  for (unsigned i = 0; i < o.clients; ++i) {
    hs.push_back(zokio::spawn_on(
        i % o.workers, client(o.host, static_cast<std::uint16_t>(o.port), i, o.messages, o.size),
        {.name = "client"}));
  }
  unsigned failed = 0;
  for (auto& h : hs) {
    const report r = co_await h;
    total.messages += r.messages;
    total.bytes += r.bytes;
    total.mismatches += r.mismatches;
    if (!r.error.empty()) {
      if (++failed <= 5) {
        std::fprintf(stderr, "echo_client: %s\n", r.error.c_str());
      }
      total.error = std::to_string(failed) + " client(s) failed";
    }
  }
  co_return total;
}

} // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  zokio::runtime rt{{.workers = o.workers, .name = "echo_client"}};
  const auto start = std::chrono::steady_clock::now();
  report r;
  try {
    r = rt.block_on(run(o));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_client: %s\n", e.what());
    return 1;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool clean = rt.shutdown().clean();
  const bool ok = r.error.empty() && r.mismatches == 0 && clean &&
                  r.messages == std::uint64_t{o.clients} * o.messages;
  std::printf("%s: clients=%u messages=%llu bytes=%llu mismatches=%llu errors=%s elapsed=%.3fs "
              "rate=%.0f msg/s %.1f MB/s\n",
              ok ? "ok" : "FAILED", o.clients, static_cast<unsigned long long>(r.messages),
              static_cast<unsigned long long>(r.bytes),
              static_cast<unsigned long long>(r.mismatches),
              r.error.empty() ? "none" : r.error.c_str(), secs,
              secs > 0 ? static_cast<double>(r.messages) / secs : 0.0,
              secs > 0 ? static_cast<double>(r.bytes) / secs / 1e6 : 0.0);
  return ok ? 0 : 1;
}
