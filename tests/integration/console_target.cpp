// A small Zokio program for the live console's tests (console-cases.sh): it runs until the file
// STOP exists, with something for each part of a snapshot to show, then shuts down and says
// whether the shutdown was clean.
//
//   console_target STOP [SOCKET]
//
// SOCKET given: runtime_options::console = SOCKET; otherwise ZOKIO_CONSOLE (if set) names it.
// Tasks: "ticker" (a timer every 20 ms), "waiter" (waits on an event until STOP), "spinner"
// (one 200 ms busy resume: a stall past the 50 ms threshold), "joins-first" and "joins-second"
// (each joining the other: a deadlock cycle, cancelled at STOP), "yielder" (200 yield_now, then
// a 5 ms sleep, in a loop: woken mostly by itself), and a TCP listener on
// 127.0.0.1 (its libuv handle is a uv_poll: "poll" among the open handles). Exit 0 after a clean
// shutdown with the socket file gone, 1 if not.

#include <zokio/zokio.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

using namespace std::chrono_literals;

namespace {

std::atomic<bool> g_stop{false};

zokio::task<void> ticker() {
  while (!g_stop.load()) {
    co_await zokio::sleep_for(20ms);
  }
}

zokio::task<void> waiter(std::shared_ptr<zokio::event> ev) {
  co_await ev->wait();
}

/// Busy for 200 ms in one resume, without yielding.
[[gnu::noinline]] void spin_200ms() {
  const auto end = std::chrono::steady_clock::now() + 200ms;
  while (std::chrono::steady_clock::now() < end) {
  }
}

zokio::task<void> spinner() {
  co_await zokio::sleep_for(10ms);
  spin_200ms();
  while (!g_stop.load()) {
    co_await zokio::sleep_for(20ms);
  }
}

/// Woken mostly by itself: 200 yields, then a 5 ms sleep (the woken_without_progress lint).
zokio::task<void> yielder() {
  while (!g_stop.load()) {
    for (int i = 0; i < 200; ++i) {
      co_await zokio::yield_now();
    }
    co_await zokio::sleep_for(5ms);
  }
}

zokio::task<void> join_the_other(std::shared_ptr<zokio::event> go,
                                 zokio::join_handle<void>* other) {
  co_await go->wait();
  co_await other->join();
}

zokio::task<int> main_task(std::string stop_file) {
  auto listener = zokio::net::tcp_listener::bind("127.0.0.1", 0);
  if (!listener) {
    std::fprintf(stderr, "console_target: cannot listen on 127.0.0.1\n");
    co_return 1;
  }
  auto ev = std::make_shared<zokio::event>();
  auto go = std::make_shared<zokio::event>();
  auto t = zokio::spawn(ticker(), {.name = "ticker"});
  auto w = zokio::spawn(waiter(ev), {.name = "waiter"});
  auto s = zokio::spawn_on(1, spinner(), {.name = "spinner"});
  auto y = zokio::spawn_on(0, yielder(), {.name = "yielder"});
  zokio::join_handle<void> first;
  zokio::join_handle<void> second;
  first = zokio::spawn_on(0, join_the_other(go, &second), {.name = "joins-second"});
  second = zokio::spawn_on(1, join_the_other(go, &first), {.name = "joins-first"});
  go->set();
  while (!std::filesystem::exists(stop_file)) {
    co_await zokio::sleep_for(20ms);
  }
  g_stop.store(true);
  ev->set();
  first.cancel(); // cancellation withdraws each join; the tasks end cancelled
  second.cancel();
  while (!first.is_finished() || !second.is_finished()) {
    co_await zokio::sleep_for(1ms);
  }
  co_await t.join();
  co_await w.join();
  co_await s.join();
  co_await y.join();
  co_return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: console_target STOP [SOCKET]\n");
    return 2;
  }
  zokio::runtime_options o;
  o.workers = 2;
  o.stall_threshold = 50ms;
  o.deadlock_grace = 0ms; // the planted cycle is for the console to find, not block_on
  o.name = "console-target";
  std::string socket;
  if (argc == 3) {
    o.console = socket = argv[2];
  } else if (const char* env = std::getenv("ZOKIO_CONSOLE"); env != nullptr) {
    socket = env;
  }
  int code = 1;
  zokio::shutdown_report report;
  {
    zokio::runtime rt(o);
    code = rt.block_on(main_task(argv[1]));
    report = rt.shutdown();
  }
  const bool gone = socket.empty() || !std::filesystem::exists(socket);
  std::printf("shutdown: %s; socket file %s\n", report.to_string().c_str(),
              gone ? "removed" : "still there");
  return code == 0 && report.clean() && gone ? 0 : 1;
}
