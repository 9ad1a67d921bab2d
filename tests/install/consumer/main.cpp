// Install test consumer: built against an installed Zokio through find_package(zokio).
// Spawns 1,000 tasks that each sleep 100 ms, joins them all, and checks that they really ran
// concurrently on the loop: done well under 2 s (one after another would take 100 s), not
// faster than one sleep, no sync fallback, and a clean shutdown. Then one HTTP request to a
// zokio::http::server (which links the installed llhttp). Exit 0 on success, 1 otherwise.
#include <zokio/http/server.hpp>
#include <zokio/zokio.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr int task_count = 1000;
constexpr auto sleep_time = 100ms;
constexpr auto deadline = 2s;

zokio::task<int> sleeper(int i) {
  co_await zokio::sleep_for(sleep_time);
  co_return i;
}

zokio::task<long> spawn_and_join_all() {
  std::vector<zokio::join_handle<int>> handles;
  handles.reserve(task_count);
  for (int i = 0; i < task_count; ++i) {
    handles.push_back(zokio::spawn(sleeper(i)));
  }
  long sum = 0;
  for (auto& h : handles) {
    sum += co_await h;
  }
  co_return sum;
}

zokio::task<zokio::http::response> hello(const zokio::http::request&) {
  co_return zokio::http::response::text(200, "hi");
}

/// One GET over loopback: true when the answer is a 200 with the body "hi".
zokio::task<bool> http_round_trip() {
  zokio::http::server srv({.host = "127.0.0.1", .port = 0});
  srv.route("GET", "/", &hello);
  if (!srv.listen().ok()) {
    co_return false;
  }
  zokio::join_handle<zokio::result<void>> served = zokio::spawn(srv.serve());
  std::string got;
  zokio::result<zokio::net::tcp_stream> s =
      co_await zokio::net::tcp_stream::connect(std::string("127.0.0.1"), srv.port());
  if (s.ok()) {
    const std::string req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    (void)co_await s.value().write_all(std::as_bytes(std::span<const char>(req)));
    char buf[1024];
    for (;;) {
      const zokio::result<std::size_t> n = co_await zokio::timeout(
          5s, s.value().read_some(std::as_writable_bytes(std::span<char>(buf))));
      if (!n.ok() || n.value() == 0) {
        break;
      }
      got.append(buf, n.value());
    }
  }
  srv.shutdown();
  const zokio::result<void> r = co_await served;
  co_return r.ok() && got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0 && got.ends_with("\r\n\r\nhi");
}

int fail(const char* what) {
  std::fprintf(stderr, "zokio_consumer: FAIL: %s\n", what);
  return 1;
}

} // namespace

int main() {
  try {
    zokio::runtime rt{{.workers = 1}};

    const auto start = std::chrono::steady_clock::now();
    const long sum = rt.block_on(spawn_and_join_all());
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();

    std::printf("zokio_consumer: %d tasks x sleep_for(100ms) joined in %lld ms\n", task_count,
                static_cast<long long>(ms));

    constexpr long expected_sum = long{task_count} * (task_count - 1) / 2;
    if (sum != expected_sum) {
      return fail("the joined results do not add up: a task was lost or returned a wrong value");
    }
    if (elapsed >= deadline) {
      return fail("took 2 s or more: the sleeps did not run concurrently");
    }
    if (elapsed < sleep_time) {
      return fail("finished faster than one sleep_for(100ms): the sleeps did not really wait");
    }

    const zokio::runtime_stats stats = rt.stats();
    std::printf("zokio_consumer: tasks_spawned=%llu sync_fallbacks=%llu\n",
                static_cast<unsigned long long>(stats.tasks_spawned),
                static_cast<unsigned long long>(stats.sync_fallbacks));
    if (stats.sync_fallbacks != 0) {
      return fail("sync_fallbacks is not 0");
    }
    if (stats.tasks_spawned < static_cast<decltype(stats.tasks_spawned)>(task_count)) {
      return fail("tasks_spawned is below the number of spawned tasks");
    }

    if (!rt.block_on(http_round_trip())) {
      return fail("the HTTP request to zokio::http::server did not get its 200");
    }
    std::printf("zokio_consumer: HTTP GET answered 200\n");

    if (!rt.shutdown().clean()) {
      return fail("shutdown was not clean (tasks or handles left)");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zokio_consumer: FAIL: exception: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "zokio_consumer: FAIL: unknown exception\n");
    return 1;
  }
  std::printf("zokio_consumer: OK\n");
  return 0;
}
