// The io suite (PROTOCOL.md): client and server coroutines on one io_context run by one thread,
// over 127.0.0.1 with asio::ip::tcp; file reads on a thread_pool; steady_timer precision.
#include "peer.hpp"

#include <array>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace peer {
namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::size_t message_bytes = 64;

/// A connected client socket and the server's side of the same connection.
struct Connection {
  tcp::socket client;
  tcp::socket server;
};

/// Set-up: a listener on 127.0.0.1 port 0 and `count` connections to it, TCP_NODELAY on both
/// sides.
awaitable<std::vector<Connection>> connect(std::size_t count) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::vector<Connection> connections;
  for (std::size_t i = 0; i < count; ++i) {
    tcp::socket client(ex);
    co_await client.async_connect(acceptor.local_endpoint(), use_awaitable);
    tcp::socket server = co_await acceptor.async_accept(use_awaitable);
    client.set_option(tcp::no_delay(true));
    server.set_option(tcp::no_delay(true));
    connections.push_back({std::move(client), std::move(server)});
  }
  co_return connections;
}

/// async_read_some, with the end of the stream as 0 bytes rather than an error.
awaitable<std::size_t> read_some(tcp::socket& socket, asio::mutable_buffer buffer) {
  asio::error_code ec;
  const std::size_t n =
      co_await socket.async_read_some(buffer, asio::redirect_error(use_awaitable, ec));
  if (ec == asio::error::eof) {
    co_return 0;
  }
  if (ec) {
    throw asio::system_error(ec);
  }
  co_return n;
}

/// The server side of tcp_ping_pong and tcp_echo_many: writes back what it reads until the
/// client shuts down its side; counts the bytes.
awaitable<void> echo(tcp::socket socket, std::uint64_t& echoed) {
  std::array<char, 4096> buffer;
  while (const std::size_t n = co_await read_some(socket, asio::buffer(buffer))) {
    co_await asio::async_write(socket, asio::buffer(buffer.data(), n), use_awaitable);
    echoed += n;
  }
}

/// The client side: `count` times, send a 64-byte message (its number in the first 8 bytes) and
/// read the echo back, checking it. Records each round trip when `latency_us` is given.
awaitable<void> ping(tcp::socket& socket, std::uint64_t count, std::vector<double>* latency_us) {
  std::array<char, message_bytes> out{};
  std::array<char, message_bytes> in{};
  for (std::uint64_t i = 0; i < count; ++i) {
    std::memcpy(out.data(), &i, sizeof i);
    const auto sent = Clock::now();
    co_await asio::async_write(socket, asio::buffer(out), use_awaitable);
    co_await asio::async_read(socket, asio::buffer(in), use_awaitable);
    if (latency_us != nullptr) {
      latency_us->push_back(micros(Clock::now() - sent));
    }
    check(in == out, "the echo differs from the message sent");
  }
}

// --- tcp_ping_pong ------------------------------------------------------------------------

Result tcp_ping_pong(const Options& o) {
  Result r(o.size);
  std::uint64_t echoed = 0;
  r.latency_us.reserve(o.size);
  run_single([&]() -> awaitable<void> {
    auto connections = co_await connect(1);
    auto& c = connections.front();
    asio::co_spawn(c.client.get_executor(), echo(std::move(c.server), echoed), rethrow);
    const auto start = Clock::now();
    co_await ping(c.client, o.size, &r.latency_us);
    r.seconds = seconds_since(start);
    c.client.shutdown(tcp::socket::shutdown_send);
  });
  check(echoed == o.size * message_bytes, "tcp_ping_pong: the server echoed " +
                                              std::to_string(echoed) + " bytes, not " +
                                              std::to_string(o.size * message_bytes));
  return r;
}

// --- tcp_echo_many ------------------------------------------------------------------------

constexpr std::size_t echo_connections = 64;

awaitable<void> echo_client(tcp::socket& socket, std::uint64_t count, DoneLatch& latch) {
  co_await ping(socket, count, nullptr);
  latch.count_down();
}

Result tcp_echo_many(const Options& o) {
  Result r(4 * o.size);
  std::uint64_t echoed = 0;
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto connections = co_await connect(echo_connections);
    DoneLatch latch(ex, echo_connections);
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < echo_connections; ++i) {
      auto& c = connections[i];
      asio::co_spawn(ex, echo(std::move(c.server), echoed), rethrow);
      asio::co_spawn(ex, echo_client(c.client, share(o.size, echo_connections, i), latch), rethrow);
    }
    co_await latch.wait();
    r.seconds = seconds_since(start);
    for (auto& c : connections) {
      c.client.shutdown(tcp::socket::shutdown_send);
    }
  });
  check(echoed == o.size * message_bytes, "tcp_echo_many: the servers echoed " +
                                              std::to_string(echoed) + " bytes, not " +
                                              std::to_string(o.size * message_bytes));
  return r;
}

// --- tcp_stream ---------------------------------------------------------------------------

constexpr std::size_t stream_chunk = 64 * 1024;

/// Reads until the client shuts down; notes when the expected count has arrived.
awaitable<void> drain(tcp::socket socket, std::uint64_t expected, std::uint64_t& received,
                      Clock::time_point& all_received, DoneLatch& latch) {
  std::vector<char> buffer(stream_chunk);
  while (const std::size_t n = co_await read_some(socket, asio::buffer(buffer))) {
    received += n;
    if (received == expected) {
      all_received = Clock::now();
    }
  }
  latch.count_down();
}

Result tcp_stream(const Options& o) {
  Result r(o.size);
  std::uint64_t received = 0;
  Clock::time_point start;
  Clock::time_point all_received;
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto connections = co_await connect(1);
    auto& c = connections.front();
    const std::vector<char> chunk(stream_chunk, 'z');
    DoneLatch latch(ex, 1);
    start = Clock::now();
    asio::co_spawn(ex, drain(std::move(c.server), o.size, received, all_received, latch), rethrow);
    for (std::uint64_t sent = 0; sent < o.size;) {
      const std::size_t n = std::min<std::uint64_t>(stream_chunk, o.size - sent);
      co_await asio::async_write(c.client, asio::buffer(chunk.data(), n), use_awaitable);
      sent += n;
    }
    c.client.shutdown(tcp::socket::shutdown_send);
    co_await latch.wait();
  });
  check(received == o.size, "tcp_stream: the server read " + std::to_string(received) +
                                " bytes, not " + std::to_string(o.size));
  r.seconds = std::chrono::duration<double>(all_received - start).count();
  return r;
}

// --- fs_read ------------------------------------------------------------------------------

constexpr std::size_t file_bytes = 1024 * 1024;
constexpr std::size_t block_bytes = 4096;
constexpr std::uint64_t reads_in_flight = 16;
/// libuv's default thread pool size (UV_THREADPOOL_SIZE), what Zokio's file reads run on.
constexpr std::size_t file_threads = 4;

/// A 1 MiB temporary file (already unlinked) whose every 8-byte word holds its own offset.
int make_file() {
  std::string path = (std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "/tmp");
  path += "/zokio-bench-asio-XXXXXX";
  const int fd = ::mkstemp(path.data());
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "mkstemp " + path);
  }
  ::unlink(path.c_str());
  std::vector<std::uint64_t> words(file_bytes / sizeof(std::uint64_t));
  for (std::size_t i = 0; i < words.size(); ++i) {
    words[i] = i * sizeof(std::uint64_t);
  }
  if (::pwrite(fd, words.data(), file_bytes, 0) != static_cast<ssize_t>(file_bytes)) {
    throw std::system_error(errno, std::generic_category(), "writing " + path);
  }
  return fd;
}

struct FileReads {
  int fd;
  std::uint64_t total;
  std::uint64_t next = 0;
  std::uint64_t bytes = 0;
};

/// One of the 16 readers: takes the next read until all are taken. Each read is a pread on the
/// thread_pool, awaited from the io_context (co_spawn onto the pool, completion back here).
awaitable<void> file_reader(FileReads& f, asio::thread_pool& pool, DoneLatch& latch) {
  std::array<char, block_bytes> block;
  while (f.next < f.total) {
    const std::uint64_t offset = (f.next++ * 7919 % 256) * block_bytes;
    const ssize_t n = co_await asio::co_spawn(
        pool,
        [&]() -> awaitable<ssize_t> {
          co_return ::pread(f.fd, block.data(), block.size(), static_cast<off_t>(offset));
        },
        use_awaitable);
    std::uint64_t first = 0;
    std::memcpy(&first, block.data(), sizeof first);
    check(n == static_cast<ssize_t>(block_bytes) && first == offset,
          "fs_read: a read at offset " + std::to_string(offset) + " returned wrong data");
    f.bytes += static_cast<std::uint64_t>(n);
  }
  latch.count_down();
}

Result fs_read(const Options& o) {
  Result r(o.size);
  FileReads f{make_file(), o.size};
  asio::thread_pool pool(file_threads);
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    DoneLatch latch(ex, reads_in_flight);
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < reads_in_flight; ++i) {
      asio::co_spawn(ex, file_reader(f, pool, latch), rethrow);
    }
    co_await latch.wait();
    r.seconds = seconds_since(start);
  });
  pool.join();
  ::close(f.fd);
  check(f.bytes == o.size * block_bytes, "fs_read: read " + std::to_string(f.bytes) +
                                             " bytes, not " + std::to_string(o.size * block_bytes));
  return r;
}

// --- timer_precision_* --------------------------------------------------------------------

/// `count` sequential sleeps of `duration` on one steady_timer; the lateness of each wake-up.
awaitable<void> sleep_many(std::uint64_t count, Clock::duration duration,
                           std::vector<double>& lateness_us) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto deadline = Clock::now() + duration;
    timer.expires_at(deadline);
    co_await timer.async_wait(use_awaitable);
    lateness_us.push_back(micros(Clock::now() - deadline));
  }
}

/// The load of timer_precision_1ms_loaded: a task that yields until told to stop.
awaitable<void> spin(const bool& stop, DoneLatch& latch) {
  auto ex = co_await asio::this_coro::executor;
  while (!stop) {
    co_await asio::post(ex, use_awaitable);
  }
  latch.count_down();
}

Result timer_precision(const Options& o, Clock::duration duration, std::uint64_t spinners) {
  Result r(o.size);
  r.latency_us.reserve(o.size);
  run_single([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    bool stop = false;
    DoneLatch latch(ex, spinners + 1);
    for (std::uint64_t i = 0; i < spinners; ++i) {
      asio::co_spawn(ex, spin(stop, latch), rethrow);
    }
    const auto start = Clock::now();
    co_await sleep_many(o.size, duration, r.latency_us);
    r.seconds = seconds_since(start);
    stop = true;
    latch.count_down();
    co_await latch.wait();
  });
  check(r.latency_us.size() == o.size, "timer_precision: " + std::to_string(r.latency_us.size()) +
                                           " sleeps woke, not " + std::to_string(o.size));
  return r;
}

Result timer_precision_1ms(const Options& o) {
  return timer_precision(o, 1ms, 0);
}
Result timer_precision_10ms(const Options& o) {
  return timer_precision(o, 10ms, 0);
}
Result timer_precision_1ms_loaded(const Options& o) {
  return timer_precision(o, 1ms, 64);
}

constexpr Workload workloads[] = {
    {"tcp_ping_pong", 20000, tcp_ping_pong},
    {"tcp_echo_many", 100000, tcp_echo_many},
    {"tcp_stream", 268435456, tcp_stream},
    {"fs_read", 20000, fs_read},
    {"timer_precision_1ms", 200, timer_precision_1ms},
    {"timer_precision_10ms", 50, timer_precision_10ms},
    {"timer_precision_1ms_loaded", 200, timer_precision_1ms_loaded},
};

} // namespace

std::span<const Workload> io_workloads() {
  return workloads;
}

} // namespace peer
