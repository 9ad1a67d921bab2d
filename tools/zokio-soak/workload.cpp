// The soak workload, in one process on loopback: an HTTP server with the hello_http routes and
// keep-alive and churning HTTP clients, a TCP echo server and its clients, timers and timeouts,
// channels closed and reopened, a contended mutex and semaphore, files written, read back and
// removed, blocking jobs, and a spawn storm every storm period; the load is open loop at a
// constant rate and latency is measured from each operation's intended start, so a stalled loop
// shows as latency instead of hiding as fewer requests (coordinated omission).
//
// Threads: one scheduler task per worker issues that worker's share of the rate; each operation
// runs on the worker that scheduled it and uses that worker's clients (an http::client and a
// tcp_stream belong to one worker). The mutex and the semaphore are shared by every worker.

#include "soak.hpp"

#include <zokio/diag/stall.hpp>
#include <zokio/http/client.hpp>
#include <zokio/http/server.hpp>
#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/zokio.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

using namespace std::chrono_literals;

namespace zokio::soak {

namespace {

using clock = std::chrono::steady_clock;

/// Every operation's own limit: past it the operation is an error (a timeout), not a hang.
constexpr auto op_timeout = 5s;

std::uint64_t ns_since(clock::time_point t) {
  const auto d = clock::now() - t;
  return d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
}

/// The mix, in percent, in the order of `op` (the storm is not scheduled by the rate).
constexpr std::array<unsigned, op_count> mix = {
    40, // get_hello
    10, // get_status
    10, // post_echo
    5,  // get_404
    5,  // tcp_echo
    5,  // sleep
    3,  // timeout_fire
    3,  // timeout_cancel
    5,  // channel
    4,  // mutex
    4,  // semaphore
    3,  // file
    3,  // blocking
    0,  // storm
};
static_assert([] {
  unsigned sum = 0;
  for (unsigned m : mix) {
    sum += m;
  }
  return sum == 100;
}());

std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (char& c : s) {
    c = static_cast<char>(rng() & 0xff);
  }
  return s;
}

std::uint64_t fnv1a(std::string_view data) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : data) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return h;
}

/// What every worker shares.
struct globals {
  shared_state* s = nullptr;
  std::uint16_t http_port = 0;
  std::uint16_t echo_port = 0;
  std::string tmp_dir;
  zokio::mutex mutex;
  std::uint64_t mutex_counter = 0; // guarded by `mutex`
  zokio::semaphore sem{3};
  std::atomic<int> sem_holders{0};
  /// Bounds the jobs on the runtime's blocking pool (blocking operations and the open and
  /// unlink of file operations): the pool starts threads on demand and never ends them, so
  /// without a bound a burst of latency after the warm-up would add threads.
  static constexpr unsigned blocking_slots = blocking_threads;
  zokio::semaphore blocking_sem{blocking_slots};
  std::string blocking_input;
  std::uint64_t blocking_expected = 0;
};

/// One worker's clients and random numbers; lives in the worker's scheduler frame.
struct worker_ctx {
  explicit worker_ctx(globals& gl, unsigned index)
      : g(gl), w(index), rng(gl.s->cfg.seed * 1000003ULL + index), ka_sem(gl.s->cfg.ka_clients),
        churn_sem(gl.s->cfg.churn_max), echo_sem(gl.s->cfg.echo_conns) {
    for (unsigned i = 0; i < gl.s->cfg.ka_clients; ++i) {
      ka.push_back(std::make_unique<zokio::http::client>(zokio::http::client_options{
          .host = "127.0.0.1", .port = gl.http_port, .timeout = op_timeout}));
      ka_free.push_back(ka.back().get());
    }
    echo.resize(gl.s->cfg.echo_conns);
    for (auto& e : echo) {
      echo_free.push_back(&e);
    }
  }
  globals& g;
  unsigned w;
  std::mt19937_64 rng;
  std::vector<std::unique_ptr<zokio::http::client>> ka;
  /// The idle keep-alive clients, least recently used first: a request takes the front one and
  /// puts it back at the end, so every client is used in turn and none sits idle long enough
  /// for the server to close its connection (with the most recently used taken first, as
  /// before, the clients deeper in the stack idled out after 60 s mid-run and connected again at
  /// the next burst, and the live bytes moved with them).
  std::deque<zokio::http::client*> ka_free;
  zokio::semaphore ka_sem;
  zokio::semaphore churn_sem;
  std::vector<zokio::net::tcp_stream> echo;
  std::vector<zokio::net::tcp_stream*> echo_free;
  zokio::semaphore echo_sem;
  std::uint64_t files = 0;
  std::vector<std::unique_ptr<char[]>> leaked; // --inject leak
  std::vector<int> leaked_fds;                 // --inject fd-leak (never closed)
  std::uint64_t ops_done = 0;
  std::uint64_t ka_connects_seen = 0;
};

// --- HTTP ----------------------------------------------------------------------------------------

struct http_reply {
  int status = 0;
  std::string body;
};

/// One request on a new connection that is reset (SO_LINGER 0) once the response has been read
/// to the end: the server's close comes first, so neither side keeps a TIME_WAIT socket.
zokio::task<zokio::result<http_reply>> churn_request(worker_ctx& c, std::string method,
                                                     std::string target, std::string body) {
  zokio::result<zokio::net::tcp_stream> conn = co_await zokio::net::tcp_stream::connect(
      "127.0.0.1", c.g.http_port, zokio::net::connect_options{.timeout = op_timeout});
  if (!conn.ok()) {
    co_return conn.error();
  }
  c.g.s->client_connects.fetch_add(1, std::memory_order_relaxed);
  zokio::net::tcp_stream& s = conn.value();
  const linger lg{1, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n";
  req += body;
  const zokio::result<void> w = co_await s.write_all(std::as_bytes(std::span(req)));
  if (!w.ok()) {
    co_return w.error();
  }
  std::string in;
  std::vector<std::byte> buf(16 * 1024);
  for (;;) {
    zokio::result<std::size_t> n = co_await s.read_some(buf);
    if (!n.ok()) {
      co_return n.error();
    }
    if (n.value() == 0) {
      break;
    }
    in.append(reinterpret_cast<const char*>(buf.data()), n.value());
    if (in.size() > 1024 * 1024) {
      co_return std::make_error_code(std::errc::message_size);
    }
  }
  s.close();
  const auto end = in.find("\r\n\r\n");
  if (in.compare(0, 9, "HTTP/1.1 ") != 0 || end == std::string::npos) {
    co_return std::make_error_code(std::errc::bad_message);
  }
  http_reply r;
  r.status = std::atoi(in.c_str() + 9);
  r.body = in.substr(end + 4);
  // Content-Length must frame exactly what arrived before the close.
  std::string head = in.substr(0, end);
  std::transform(head.begin(), head.end(), head.begin(),
                 [](char ch) { return static_cast<char>(std::tolower(ch)); });
  const auto cl = head.find("\r\ncontent-length:");
  if (cl == std::string::npos ||
      std::strtoull(head.c_str() + cl + 17, nullptr, 10) != r.body.size()) {
    co_return std::make_error_code(std::errc::bad_message);
  }
  co_return r;
}

zokio::task<zokio::result<http_reply>> keepalive_request(worker_ctx& c, std::string method,
                                                         std::string target, std::string body) {
  zokio::semaphore_permit permit = co_await c.ka_sem.acquire();
  zokio::http::client* cl = c.ka_free.front();
  c.ka_free.pop_front();
  const std::uint64_t before = cl->connections();
  zokio::result<zokio::http::client_response> r =
      co_await cl->request(std::move(method), std::move(target), std::move(body));
  c.g.s->client_connects.fetch_add(cl->connections() - before, std::memory_order_relaxed);
  c.ka_free.push_back(cl);
  if (!r.ok()) {
    co_return r.error();
  }
  co_return http_reply{r.value().status, std::move(r.value().body)};
}

zokio::task<bool> http_op(worker_ctx& c, op kind) {
  std::string method = "GET";
  std::string target;
  std::string body;
  switch (kind) {
  case op::get_hello:
    target = "/hello";
    break;
  case op::get_status:
    target = "/api/status";
    break;
  case op::post_echo:
    method = "POST";
    target = "/api/echo";
    body = random_bytes(c.rng, static_cast<std::size_t>(c.rng() % (16 * 1024 + 1)));
    break;
  default:
    target = "/no/such/page";
    break;
  }
  const bool churn = (c.rng() & 1) != 0;
  const std::string sent = body;
  zokio::result<http_reply> r = std::make_error_code(std::errc::invalid_argument);
  if (churn) {
    zokio::semaphore_permit permit = co_await c.churn_sem.acquire();
    r = co_await churn_request(c, method, target, std::move(body));
  } else {
    r = co_await keepalive_request(c, method, target, std::move(body));
  }
  if (!r.ok()) {
    co_return false;
  }
  switch (kind) {
  case op::get_hello:
    co_return r.value().status == 200 && r.value().body == "Hello, World!\n";
  case op::get_status:
    co_return r.value().status == 200 && !r.value().body.empty() && r.value().body[0] == '{';
  case op::post_echo:
    if (r.value().status != 200 || r.value().body != sent) {
      c.g.s->echo_mismatches.fetch_add(1, std::memory_order_relaxed);
      co_return false;
    }
    co_return true;
  default:
    co_return r.value().status == 404;
  }
}

// --- TCP echo --------------------------------------------------------------------------------

zokio::task<void> echo_conn(shared_state& s, zokio::net::tcp_stream conn) {
  std::vector<std::byte> buf(16 * 1024);
  for (;;) {
    const zokio::result<std::size_t> n = co_await conn.read_some(buf);
    if (!n.ok() || n.value() == 0) {
      break;
    }
    const zokio::result<void> w =
        co_await conn.write_all(std::span<const std::byte>(buf.data(), n.value()));
    if (!w.ok()) {
      break;
    }
  }
  s.echo_closed.fetch_add(1, std::memory_order_relaxed);
}

zokio::task<void> echo_accept(shared_state& s, zokio::net::tcp_listener l) {
  zokio::task_scope conns;
  for (;;) {
    zokio::result<zokio::net::tcp_stream> c = co_await l.accept();
    if (!c.ok()) {
      if (c.error() == std::errc::operation_canceled) {
        break;
      }
      co_await zokio::sleep_for(10ms);
      continue;
    }
    s.echo_accepted.fetch_add(1, std::memory_order_relaxed);
    conns.spawn(echo_conn(s, std::move(c).value()), {.name = "soak-echo-conn"});
  }
  l = zokio::net::tcp_listener();
  conns.cancel();
  co_await conns.close();
}

zokio::task<bool> tcp_echo_op(worker_ctx& c) {
  zokio::semaphore_permit permit = co_await c.echo_sem.acquire();
  zokio::net::tcp_stream* conn = c.echo_free.back();
  c.echo_free.pop_back();
  struct give_back {
    worker_ctx& c;
    zokio::net::tcp_stream* conn;
    ~give_back() { c.echo_free.push_back(conn); }
  } back{c, conn};
  if (!conn->is_open()) {
    zokio::result<zokio::net::tcp_stream> r = co_await zokio::net::tcp_stream::connect(
        "127.0.0.1", c.g.echo_port, zokio::net::connect_options{.timeout = op_timeout});
    if (!r.ok()) {
      co_return false;
    }
    *conn = std::move(r).value();
  }
  const std::string out = random_bytes(c.rng, 64 + c.rng() % 4033);
  std::string in(out.size(), '\0');
  const zokio::result<void> sent = co_await conn->write_all(std::as_bytes(std::span(out)));
  bool ok = sent.ok();
  if (ok) {
    const zokio::result<void> got =
        co_await conn->read_exact(std::as_writable_bytes(std::span(in.data(), in.size())));
    ok = got.ok();
  }
  if (!ok) {
    conn->close();
    co_return false;
  }
  if (in != out) {
    c.g.s->echo_mismatches.fetch_add(1, std::memory_order_relaxed);
    conn->close();
    co_return false;
  }
  co_return true;
}

// --- timers, channels, sync, files, blocking ----------------------------------------------------

zokio::task<void> sleep_forever() {
  co_await zokio::sleep_for(1h);
}

zokio::task<bool> timer_op(worker_ctx& c, op kind) {
  if (kind == op::sleep) {
    const auto d = std::chrono::milliseconds(1 + c.rng() % 100);
    const auto t0 = clock::now();
    co_await zokio::sleep_for(d);
    co_return clock::now() - t0 >= d;
  }
  if (kind == op::timeout_fire) {
    zokio::result<void> r = co_await zokio::timeout(5ms, zokio::sleep_for(1h));
    co_return !r.ok() && r.error() == std::errc::timed_out;
  }
  // timeout_cancel: a timeout whose work wins (its timer is withdrawn), then a sleeper
  // cancelled through its handle.
  zokio::result<void> r = co_await zokio::timeout(1s, zokio::sleep_for(2ms));
  if (!r.ok()) {
    co_return false;
  }
  zokio::join_handle<void> h = zokio::spawn(sleep_forever(), {.name = "soak-sleeper"});
  co_await zokio::sleep_for(1ms);
  h.cancel();
  try {
    co_await h.join();
  } catch (const zokio::operation_cancelled&) {
    co_return true;
  }
  co_return false;
}

zokio::task<void> produce(zokio::sender<int> tx, int n) {
  for (int i = 1; i <= n; ++i) {
    const bool sent = co_await tx.send(i);
    if (!sent) {
      co_return;
    }
  }
  tx.close();
}

zokio::task<bool> channel_op() {
  // A channel drained to its close...
  {
    auto [tx, rx] = zokio::make_channel<int>(4);
    zokio::join_handle<void> p =
        zokio::spawn(produce(std::move(tx), 32), {.name = "soak-producer"});
    int sum = 0;
    for (;;) {
      const std::optional<int> v = co_await rx.recv();
      if (!v) {
        break;
      }
      sum += *v;
    }
    co_await p.join();
    if (sum != 32 * 33 / 2) {
      co_return false;
    }
  }
  // ...and a new one that the receiver closes early: the producer's send then fails.
  auto [tx, rx] = zokio::make_channel<int>(2);
  zokio::sender<int> keep = tx;
  zokio::join_handle<void> p =
      zokio::spawn(produce(std::move(tx), 1000), {.name = "soak-producer"});
  const std::optional<int> first = co_await rx.recv();
  rx.close();
  co_await p.join();
  const bool sent_after_close = co_await keep.send(0);
  co_return first == 1 && !sent_after_close;
}

zokio::task<bool> mutex_op(globals& g) {
  zokio::mutex_guard guard = co_await g.mutex.lock();
  const std::uint64_t mine = ++g.mutex_counter;
  co_await zokio::yield_now(); // held across an await: the others queue
  co_return g.mutex_counter == mine;
}

zokio::task<bool> semaphore_op(globals& g) {
  zokio::semaphore_permit permit = co_await g.sem.acquire();
  const int holders = g.sem_holders.fetch_add(1) + 1;
  co_await zokio::sleep_for(1ms);
  g.sem_holders.fetch_sub(1);
  co_return holders <= 3;
}

zokio::task<bool> file_op(worker_ctx& c) {
  zokio::semaphore_permit slot = co_await c.g.blocking_sem.acquire();
  const std::string path =
      c.g.tmp_dir + "/f-" + std::to_string(c.w) + "-" + std::to_string(c.files++);
  const std::string data = random_bytes(c.rng, 1 + c.rng() % (32 * 1024));
  // (GCC 12: no co_await inside a larger expression; each result is a variable of its own.)
  const zokio::result<void> written = co_await zokio::fs::write_file(path, std::string_view(data));
  bool ok = written.ok();
  if (ok) {
    zokio::result<std::string> back = co_await zokio::fs::read_file(path);
    ok = back.ok() && back.value() == data;
  }
  // zokio::fs has no unlink: a blocking job does it.
  zokio::join_handle<int> job = zokio::spawn_blocking([path] { return ::unlink(path.c_str()); });
  const int rc = co_await job.join();
  co_return ok&& rc == 0;
}

zokio::task<bool> blocking_op(globals& g) {
  zokio::semaphore_permit slot = co_await g.blocking_sem.acquire();
  zokio::join_handle<std::uint64_t> job =
      zokio::spawn_blocking([&g] { return fnv1a(g.blocking_input); });
  const std::uint64_t h = co_await job.join();
  co_return h == g.blocking_expected;
}

// --- scheduling ----------------------------------------------------------------------------------

zokio::task<bool> dispatch(worker_ctx& c, op kind) {
  switch (kind) {
  case op::get_hello:
  case op::get_status:
  case op::post_echo:
  case op::get_404:
    co_return co_await http_op(c, kind);
  case op::tcp_echo:
    co_return co_await tcp_echo_op(c);
  case op::sleep:
  case op::timeout_fire:
  case op::timeout_cancel:
    co_return co_await timer_op(c, kind);
  case op::channel:
    co_return co_await channel_op();
  case op::mutex:
    co_return co_await mutex_op(c.g);
  case op::semaphore:
    co_return co_await semaphore_op(c.g);
  case op::file:
    co_return co_await file_op(c);
  case op::blocking:
    co_return co_await blocking_op(c.g);
  default:
    co_return false;
  }
}

zokio::task<void> run_op(worker_ctx& c, op kind, clock::time_point intended) {
  shared_state& s = *c.g.s;
  bool ok = false;
  try {
    zokio::result<bool> r = co_await zokio::timeout(op_timeout, dispatch(c, kind));
    ok = r.ok() && r.value();
  } catch (const zokio::operation_cancelled&) {
    s.in_flight.fetch_sub(1, std::memory_order_relaxed);
    throw;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zokio-soak: %s: %s\n", op_name(kind), e.what());
    ok = false;
  }
  s.ops[static_cast<std::size_t>(kind)].record(ns_since(intended), ok);
  if (s.cfg.inject == "fd-leak" && ++c.ops_done % 50 == 0) {
    // --inject fd-leak: a descriptor kept every 50 operations, never closed.
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      c.leaked_fds.push_back(fd);
    }
  }
  if (s.cfg.inject == "leak") {
    // --inject leak: memory kept per operation, never freed (touched, so RSS sees it too).
    auto block = std::make_unique<char[]>(512);
    std::memset(block.get(), 0x5a, 512);
    c.leaked.push_back(std::move(block));
    s.injected_leak_bytes.fetch_add(512, std::memory_order_relaxed);
  }
  s.in_flight.fetch_sub(1, std::memory_order_relaxed);
}

op pick(std::mt19937_64& rng) {
  unsigned r = static_cast<unsigned>(rng() % 100);
  for (std::size_t i = 0; i < op_count; ++i) {
    if (r < mix[i]) {
      return op_at(i);
    }
    r -= mix[i];
  }
  return op::get_hello;
}

/// One worker's share of the load: operations at their intended times, on a constant schedule
/// (late ticks issue every operation that is due at once, each keeping its intended time); then
/// the drain of that worker's operations.
zokio::task<void> scheduler(globals& g, unsigned w, clock::time_point start,
                            clock::time_point end) {
  shared_state& s = *g.s;
  worker_ctx c(g, w);
  zokio::task_scope ops;
  // Every keep-alive client and echo connection connects now, before the load: their buffers
  // are part of the baseline, not growth.
  for (zokio::http::client* k : c.ka_free) {
    const std::uint64_t before = k->connections();
    zokio::result<zokio::http::client_response> r = co_await k->get("/healthz");
    s.client_connects.fetch_add(k->connections() - before, std::memory_order_relaxed);
    (void)r;
  }
  for (zokio::net::tcp_stream& e : c.echo) {
    zokio::result<zokio::net::tcp_stream> r = co_await zokio::net::tcp_stream::connect(
        "127.0.0.1", g.echo_port, zokio::net::connect_options{.timeout = op_timeout});
    if (r.ok()) {
      e = std::move(r).value();
    }
  }
  const double per_worker = s.cfg.rate / s.cfg.workers;
  const auto period =
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / per_worker));
  // Workers are offset by a fraction of the period, so the load is spread over time.
  clock::time_point next = start + period * w / s.cfg.workers;
  // The warm-up's catch-up (soak.hpp, warmup_catchup): one late tick, on every worker at once.
  const clock::time_point catchup = start + warmup_catchup_at(s.cfg);
  bool caught_up = false;
  while (!s.stop.load(std::memory_order_relaxed) && next < end) {
    if (!caught_up && next >= catchup) {
      caught_up = true;
      co_await zokio::sleep_until(catchup + warmup_catchup);
    }
    co_await zokio::sleep_until(next);
    const auto now = clock::now();
    while (next <= now && next < end) {
      if (s.in_flight.load(std::memory_order_relaxed) >= s.cfg.max_in_flight) {
        s.shed.fetch_add(1, std::memory_order_relaxed);
      } else {
        s.in_flight.fetch_add(1, std::memory_order_relaxed);
        ops.spawn(run_op(c, pick(c.rng), next), {.name = "soak-op"});
      }
      next += in_burst(s.cfg, next - start) ? period / 3 : period;
    }
  }
  co_await ops.close();
  // Idle clients close their connections: the server's connection count must go back to 0.
  for (auto& k : c.ka) {
    k->close();
  }
  for (auto& e : c.echo) {
    e.close();
  }
  if (!c.leaked.empty()) {
    // The injected leak is really kept until the process ends.
    static std::mutex keep_mutex;
    static std::vector<std::unique_ptr<char[]>> kept;
    std::lock_guard<std::mutex> lock(keep_mutex);
    for (auto& b : c.leaked) {
      kept.push_back(std::move(b));
    }
  }
}

/// Connects to the TCP echo server from this worker and closes the connection: the loop's first
/// stream (the echo server counts it accepted, then closed).
zokio::task<void> open_one_stream(std::uint16_t echo_port) {
  zokio::result<zokio::net::tcp_stream> c = co_await zokio::net::tcp_stream::connect(
      "127.0.0.1", echo_port, zokio::net::connect_options{.timeout = op_timeout});
  if (c.ok()) {
    c.value().close();
  }
}

zokio::task<void> tiny() {
  co_await zokio::yield_now();
}

/// --cross-worker-storms: worker 0 allocates every frame, worker `w` frees its share.
zokio::task<std::uint64_t> cross_part(unsigned total, unsigned w, unsigned workers) {
  if (w != 0) {
    co_return 0;
  }
  std::vector<zokio::join_handle<void>> hs;
  hs.reserve(total);
  for (unsigned i = 0; i < total; ++i) {
    hs.push_back(zokio::spawn_on(i % workers, tiny(), {.name = "soak-storm-task"}));
  }
  for (auto& h : hs) {
    co_await h.join();
  }
  co_return total;
}

/// `n` short tasks spawned on this worker, all joined; how many finished.
zokio::task<std::uint64_t> storm_part(unsigned n) {
  std::vector<zokio::join_handle<void>> hs;
  hs.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    hs.push_back(zokio::spawn(tiny(), {.name = "soak-storm-task"}));
  }
  std::uint64_t done = 0;
  for (auto& h : hs) {
    co_await h.join();
    ++done;
  }
  co_return done;
}

/// Every storm period: `storm_tasks` short tasks over every worker, all joined.
zokio::task<void> storms(shared_state& s, clock::time_point start, clock::time_point end,
                         unsigned workers) {
  // The first storm comes early in the warm-up, so that what a storm leaves in the runtime's
  // pools (frames, task records) is there before the samples are judged.
  clock::time_point next = start + std::min<clock::duration>(1s, s.cfg.warmup / 2);
  while (next < end && !s.stop.load(std::memory_order_relaxed)) {
    co_await zokio::sleep_until(next);
    if (s.stop.load(std::memory_order_relaxed)) {
      break;
    }
    s.in_flight.fetch_add(1, std::memory_order_relaxed);
    // Each worker spawns and joins its share itself: a frame allocated on one worker and freed
    // on another joins the freeing thread's frame cache (up to 4 MiB per size class per
    // thread), which a storm spawned from one worker onto the others grows storm after storm
    // until that cap (see README.md, "What a run found").
    std::vector<zokio::join_handle<std::uint64_t>> parts;
    for (unsigned w = 0; w < workers && s.cfg.cross_worker_storms; ++w) {
      parts.push_back(
          zokio::spawn_on(w, cross_part(s.cfg.storm_tasks, w, workers), {.name = "soak-storm"}));
    }
    for (unsigned w = 0; w < workers && !s.cfg.cross_worker_storms; ++w) {
      const unsigned share =
          s.cfg.storm_tasks / workers + (w < s.cfg.storm_tasks % workers ? 1 : 0);
      parts.push_back(zokio::spawn_on(w, storm_part(share), {.name = "soak-storm"}));
    }
    bool ok = true;
    std::uint64_t done = 0;
    for (auto& h : parts) {
      try {
        done += co_await h.join();
      } catch (const zokio::operation_cancelled&) {
        throw;
      } catch (const std::exception&) {
        ok = false;
      }
    }
    ok = ok && done == s.cfg.storm_tasks;
    s.ops[static_cast<std::size_t>(op::storm)].record(ns_since(next), ok);
    s.in_flight.fetch_sub(1, std::memory_order_relaxed);
    next =
        next < start + s.cfg.storm_period ? start + s.cfg.storm_period : next + s.cfg.storm_period;
  }
}

void raise_max(std::atomic<std::uint64_t>& a, std::uint64_t v) {
  std::uint64_t prev = a.load(std::memory_order_relaxed);
  while (v > prev && !a.compare_exchange_weak(prev, v)) {
  }
}

/// Each worker's pulse: how late its loop runs a 50 ms timer (the stall measure) and when it
/// last did (the watchdog's "this worker makes progress").
zokio::task<void> heartbeat(shared_state& s, unsigned w) {
  constexpr auto tick = 50ms;
  auto last = clock::now();
  std::int64_t last_runq = thread_runqueue_ns(0);
  s.heartbeat_tid[w].store(static_cast<int>(::gettid()));
  // Cancelled at the teardown: from then on the sampler must not count the ticks that no longer
  // come as the loop's lateness (the last sample, taken after the teardown, did: 150 to 270 ms
  // of "own" loop lag in every run on a slow day).
  struct stop_mark {
    std::atomic<std::int64_t>& beat;
    ~stop_mark() { beat.store(shared_state::heartbeat_stopped, std::memory_order_relaxed); }
  } mark{s.heartbeat_ns[w]};
  for (;;) {
    s.heartbeat_runq_ns[w].store(last_runq, std::memory_order_relaxed);
    s.heartbeat_ns[w].store(last.time_since_epoch().count(), std::memory_order_relaxed);
    co_await zokio::sleep_for(tick);
    const auto now = clock::now();
    const std::int64_t runq = thread_runqueue_ns(0);
    const auto lag = now - last - tick;
    const auto lag_ns = static_cast<std::uint64_t>(std::max<std::int64_t>(0, lag.count()));
    raise_max(s.max_lag_ns, lag_ns);
    // The loop's own part: the lateness less the time this thread waited for a CPU.
    const std::int64_t waited = runq >= 0 && last_runq >= 0 ? runq - last_runq : 0;
    raise_max(s.max_own_lag_ns,
              static_cast<std::uint64_t>(std::max<std::int64_t>(0, lag.count() - waited)));
    last = now;
    last_runq = runq;
  }
}

/// --inject stall: after the warm-up, stalls this worker's loop for 1.5 s every 3 s, a stall
/// under the watchdog's limit, which the loop-lag criterion must see; in turn blocked in a
/// system call (a sleep) and computing (a spin on the CPU), the two kinds of stall that are the
/// loop's own doing, which the loop-stalls criterion must see.
zokio::task<void> stall_repeatedly(shared_state& s, clock::time_point from, clock::time_point end) {
  co_await zokio::sleep_until(from);
  bool spin = false;
  while (clock::now() < end && !s.stop.load()) {
    if (spin) {
      const auto until = clock::now() + 1500ms;
      std::uint64_t x = 1;
      while (clock::now() < until) {
        for (int i = 0; i < 1000; ++i) {
          x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        }
      }
      s.stall_spin_sink.fetch_add(x, std::memory_order_relaxed);
    } else {
      std::this_thread::sleep_for(1500ms);
    }
    spin = !spin;
    co_await zokio::sleep_for(3s);
  }
}

/// --inject slowdown: the extra time an HTTP handler takes, growing from 0 at the end of the
/// warm-up to 40 ms at the end of the load: latency that drifts.
std::chrono::microseconds slowdown(const shared_state& s) {
  if (s.cfg.inject != "slowdown" || !s.started.load()) {
    return std::chrono::microseconds(0);
  }
  const double steady = std::chrono::duration<double>(s.cfg.duration - s.cfg.warmup).count();
  const double into =
      std::chrono::duration<double>(clock::now() - s.load_start - s.cfg.warmup).count();
  const double frac = std::clamp(into / std::max(steady, 1.0), 0.0, 1.0);
  return std::chrono::microseconds(static_cast<long long>(frac * 40000));
}

/// --inject hang: blocks a worker's loop for good; only the watchdog ends the run.
zokio::task<void> hang_forever() {
  for (;;) {
    std::this_thread::sleep_for(1s);
  }
  co_return;
}

/// --inject preempt: threads that compete with a worker for its CPU on demand. Started before
/// the load (so the thread count stays constant) and idle until asked.
class cpu_hogs {
public:
  explicit cpu_hogs(unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      m_threads.emplace_back([this] { run(); });
    }
  }
  ~cpu_hogs() {
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      m_quit = true;
      m_round = ~0ULL;
    }
    m_cv.notify_all();
    for (std::thread& t : m_threads) {
      t.join();
    }
  }
  cpu_hogs(const cpu_hogs&) = delete;
  cpu_hogs& operator=(const cpu_hogs&) = delete;

  /// On the calling thread: pins it and every hog to its current CPU, spins until this thread
  /// has had `cpu` of CPU time (or 900 ms have passed), then lets the hogs rest and restores its
  /// affinity. The thread spends most of the spin waiting for its CPU: a preempted stall.
  void preempted_spin(std::chrono::milliseconds cpu) {
    cpu_set_t old;
    CPU_ZERO(&old);
    ::sched_getaffinity(0, sizeof old, &old);
    const int here = ::sched_getcpu();
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(here < 0 ? 0 : here, &one);
    ::sched_setaffinity(0, sizeof one, &one);
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      m_cpu = one;
      m_spin = true;
      ++m_round;
    }
    m_cv.notify_all();
    const auto wall_end = clock::now() + 900ms;
    const auto thread_cpu = [] {
      timespec ts{};
      ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    };
    const auto cpu_end = thread_cpu() + cpu;
    while (thread_cpu() < cpu_end && clock::now() < wall_end) {
    }
    m_spin.store(false);
    ::sched_setaffinity(0, sizeof old, &old);
  }

private:
  void run() {
    std::uint64_t seen = 0;
    for (;;) {
      cpu_set_t cpu;
      {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_cv.wait(lock, [&] { return m_round != seen; });
        if (m_quit) {
          return;
        }
        seen = m_round;
        cpu = m_cpu;
      }
      ::pthread_setaffinity_np(::pthread_self(), sizeof cpu, &cpu);
      while (m_spin.load(std::memory_order_relaxed)) {
      }
    }
  }
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::uint64_t m_round = 0; // guarded by m_mutex
  bool m_quit = false;       // guarded by m_mutex
  cpu_set_t m_cpu{};         // guarded by m_mutex
  std::atomic<bool> m_spin{false};
  std::vector<std::thread> m_threads;
};

/// --inject preempt: after the warm-up, every 3 s, this worker's loop computes for 60 ms of CPU
/// time while 3 hogs share its CPU: a resume of about 240 ms wall time (a stall by wall time)
/// spent mostly waiting for the CPU, which the loop-stalls criterion must excuse.
zokio::task<void> preempt_repeatedly(shared_state& s, cpu_hogs& hogs, clock::time_point from,
                                     clock::time_point end) {
  co_await zokio::sleep_until(from);
  while (clock::now() < end && !s.stop.load()) {
    hogs.preempted_spin(60ms);
    co_await zokio::sleep_for(3s);
  }
}

zokio::task<void> soak_main(zokio::runtime& rt, shared_state& s) {
  globals g;
  g.s = &s;
  g.blocking_input = std::string(64 * 1024, 'z');
  g.blocking_expected = fnv1a(g.blocking_input);
  char tmpl[] = "/tmp/zokio-soak-XXXXXX";
  const char* made = ::mkdtemp(tmpl);
  if (made == nullptr) {
    throw std::runtime_error(std::string("cannot create a temporary directory: ") +
                             std::strerror(errno));
  }
  g.tmp_dir = made;
  const unsigned workers = rt.workers();

  // The servers.
  auto srv = std::make_unique<zokio::http::server>(zokio::http::server_options{
      .host = "127.0.0.1", .port = 0, .workers = workers, .max_connections = 10000});
  srv->route("GET", "/", [](const zokio::http::request&) -> zokio::task<zokio::http::response> {
    co_return zokio::http::response::html(200, "<!doctype html><h1>Hello from Zokio</h1>\n");
  });
  srv->route("GET", "/hello",
             [&s](const zokio::http::request&) -> zokio::task<zokio::http::response> {
               if (const auto extra = slowdown(s); extra.count() > 0) {
                 co_await zokio::sleep_for(extra);
               }
               co_return zokio::http::response::text(200, "Hello, World!\n");
             });
  srv->route("GET", "/api/status",
             [&rt](const zokio::http::request&) -> zokio::task<zokio::http::response> {
               co_return zokio::http::response::json(200, zokio::diag::to_json(rt.stats()) + "\n");
             });
  srv->route("POST", "/api/echo",
             [&s](const zokio::http::request& r) -> zokio::task<zokio::http::response> {
               if (const auto extra = slowdown(s); extra.count() > 0) {
                 co_await zokio::sleep_for(extra);
               }
               zokio::http::response out;
               out.body = r.body();
               out.headers.add("Content-Type", "application/octet-stream");
               co_return out;
             });
  srv->add_observability_routes([&rt] { return rt.stats(); });
  if (zokio::result<void> l = srv->listen(); !l.ok()) {
    throw std::runtime_error("cannot listen for HTTP: " + l.error().message());
  }
  g.http_port = srv->port();
  s.server.store(&srv->counters());
  zokio::join_handle<zokio::result<void>> serving =
      zokio::spawn(srv->serve(), {.name = "soak-http"});

  zokio::result<zokio::net::tcp_listener> el = zokio::net::tcp_listener::bind("127.0.0.1", 0);
  if (!el.ok()) {
    throw std::runtime_error("cannot listen for TCP echo: " + el.error().message());
  }
  g.echo_port = el.value().local_port();
  zokio::join_handle<void> echo_server =
      zokio::spawn(echo_accept(s, std::move(el).value()), {.name = "soak-echo"});

  std::vector<zokio::join_handle<void>> beats;
  for (unsigned w = 0; w < workers; ++w) {
    beats.push_back(zokio::spawn_on(w, heartbeat(s, w), {.name = "soak-heartbeat"}));
  }
  // libuv keeps one descriptor per loop open from the loop's first stream on (on /dev/null, kept
  // for its EMFILE trick until the loop closes): every worker opens a stream now, so that those
  // are in the count before the load rather than counted as descriptors the load left (they
  // were: two with 2 workers, at the limit of fds_after_drain).
  {
    std::vector<zokio::join_handle<void>> streams;
    for (unsigned w = 0; w < workers; ++w) {
      streams.push_back(
          zokio::spawn_on(w, open_one_stream(g.echo_port), {.name = "soak-first-stream"}));
    }
    for (auto& h : streams) {
      co_await h.join();
    }
  }
  // The blocking pool's threads start now (each job waits until all are running, so each has
  // a thread of its own), and the libuv pool's with a first file operation: the thread count
  // is then constant for the whole run.
  {
    std::atomic<unsigned> running{0};
    std::vector<zokio::join_handle<void>> starters;
    for (unsigned i = 0; i < globals::blocking_slots; ++i) {
      starters.push_back(zokio::spawn_blocking([&running] {
        running.fetch_add(1);
        const auto until = std::chrono::steady_clock::now() + 2s;
        while (running.load() < globals::blocking_slots &&
               std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(1ms);
        }
      }));
    }
    for (auto& h : starters) {
      co_await h.join();
    }
    const std::string probe = g.tmp_dir + "/probe";
    const zokio::result<void> w = co_await zokio::fs::write_file(probe, std::string_view("probe"));
    const zokio::result<std::string> r = co_await zokio::fs::read_file(probe);
    ::unlink(probe.c_str());
    (void)w;
    (void)r;
  }
  co_await zokio::sleep_for(200ms);

  drain_report d;
  d.tasks_live_before = rt.stats().tasks_live;
  d.handles_before = rt.stats().handles_active;
  d.fds_before = count_fds();

  // --inject preempt's hogs start before the load: the thread count after the warm-up is judged.
  std::optional<cpu_hogs> hogs;
  if (s.cfg.inject == "preempt") {
    hogs.emplace(3);
  }
  const auto start = clock::now();
  const auto end = start + s.cfg.duration;
  s.load_start = start;
  s.started.store(true);
  std::vector<zokio::join_handle<void>> schedulers;
  for (unsigned w = 0; w < workers; ++w) {
    schedulers.push_back(zokio::spawn_on(w, scheduler(g, w, start, end), {.name = "soak-load"}));
  }
  zokio::join_handle<void> storm =
      zokio::spawn(storms(s, start, end, workers), {.name = "soak-storms"});
  std::optional<zokio::join_handle<void>> stalls;
  if (s.cfg.inject == "stall") {
    stalls = zokio::spawn(stall_repeatedly(s, start + s.cfg.warmup + 1s, end),
                          {.name = "soak-inject-stall"});
  }
  if (s.cfg.inject == "preempt") {
    stalls = zokio::spawn(preempt_repeatedly(s, *hogs, start + s.cfg.warmup + 1s, end),
                          {.name = "soak-inject-preempt"});
  }
  std::optional<zokio::join_handle<void>> hang;
  if (s.cfg.inject == "hang") {
    co_await zokio::sleep_until(std::min(end, start + s.cfg.warmup + 1s));
    hang = zokio::spawn_on(workers - 1, hang_forever(), {.name = "soak-inject-hang"});
  }

  // The load runs until `end` (or a stop signal); then every scheduler drains its operations.
  while (clock::now() < end && !s.stop.load()) {
    co_await zokio::sleep_for(std::min<clock::duration>(100ms, end - clock::now()));
  }
  s.load_done.store(true);
  const auto drain_start = clock::now();
  const auto drain_end = drain_start + s.cfg.drain_limit;
  auto joined = [](zokio::join_handle<void>& h) -> zokio::task<void> { co_await h.join(); };
  bool reached = true;
  for (auto& h : schedulers) {
    zokio::result<void> r = co_await zokio::timeout_at(drain_end, joined(h));
    reached = reached && r.ok();
  }
  const zokio::result<void> storm_done = co_await zokio::timeout_at(drain_end, joined(storm));
  reached = reached && storm_done.ok();
  if (stalls) {
    stalls->cancel();
    try {
      co_await stalls->join();
    } catch (const zokio::operation_cancelled&) {
    }
  }
  // The server's side of the closed connections goes away within a few loop turns.
  const auto settle_end = clock::now() + 5s;
  while (clock::now() < settle_end && (srv->counters().connections_open.load() != 0 ||
                                       s.echo_closed.load() != s.echo_accepted.load() ||
                                       rt.stats().tasks_live > d.tasks_live_before ||
                                       rt.stats().handles_active > d.handles_before)) {
    co_await zokio::sleep_for(20ms);
  }
  d.reached = reached;
  d.drain_s = std::chrono::duration<double>(clock::now() - drain_start).count();
  d.in_flight = s.in_flight.load();
  d.tasks_live_after = rt.stats().tasks_live;
  d.handles_after = rt.stats().handles_active;
  d.fds_after = count_fds();
  d.server_open_after = srv->counters().connections_open.load();
  d.server_accepted = srv->counters().connections_accepted.load();
  d.client_connects = s.client_connects.load();
  d.echo_accepted = s.echo_accepted.load();
  d.echo_closed = s.echo_closed.load();
  {
    std::lock_guard<std::mutex> lock(s.report_mutex);
    s.drain = d;
  }
  s.phase.store(3);

  // Teardown.
  srv->shutdown();
  co_await serving.join();
  echo_server.cancel();
  try {
    co_await echo_server.join();
  } catch (const zokio::operation_cancelled&) {
  }
  for (auto& b : beats) {
    b.cancel();
    try {
      co_await b.join();
    } catch (const zokio::operation_cancelled&) {
    }
  }
  s.server.store(nullptr);
  ::rmdir(g.tmp_dir.c_str());
}

} // namespace

const char* op_name(op o) noexcept {
  static constexpr std::array<const char*, op_count> names = {
      "get_hello", "get_status",   "post_echo",      "get_404", "tcp_echo",
      "sleep",     "timeout_fire", "timeout_cancel", "channel", "mutex",
      "semaphore", "file",         "blocking",       "storm"};
  const auto i = static_cast<std::size_t>(o);
  return i < names.size() ? names[i] : "?";
}

void run_workload(zokio::runtime& rt, shared_state& s) {
  rt.block_on(soak_main(rt, s));
}

void record_stall(shared_state& s, const zokio::diag::stall_report& r) {
  if (!s.started.load() || s.load_done.load() || clock::now() - s.load_start < s.cfg.warmup) {
    return;
  }
  stall_class c = stall_class::on_cpu;
  if (r.preempted()) {
    c = stall_class::preempted;
  } else if (r.blocked()) {
    c = stall_class::blocked;
  } else if (r.watched.count() <= 0 || !r.on_cpu_busy()) {
    // Nothing watched and not asleep: on a CPU or waiting for one, not known; or it neither ran
    // nor slept for most of what was watched (a virtual CPU its host did not run, no steal on
    // record).
    c = stall_class::undetermined;
  }
  s.stall_classes[static_cast<unsigned>(c)].fetch_add(1);
  if (c == stall_class::on_cpu || c == stall_class::blocked) {
    std::lock_guard<std::mutex> lock(s.report_mutex);
    if (s.stall_evidence.empty()) {
      s.stall_evidence = zokio::diag::format_stall(r);
    }
  }
}

// --- process facts -------------------------------------------------------------------------------

std::int64_t thread_runqueue_ns(int tid) {
  const std::string path = tid == 0 ? "/proc/thread-self/schedstat"
                                    : "/proc/self/task/" + std::to_string(tid) + "/schedstat";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return -1;
  }
  unsigned long long on_cpu = 0, waited = 0;
  const int n = std::fscanf(f, "%llu %llu", &on_cpu, &waited);
  std::fclose(f);
  return n == 2 ? static_cast<std::int64_t>(waited) : -1;
}

std::uint64_t read_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) {
    return 0;
  }
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

std::uint64_t read_heap_live_bytes() {
  const struct mallinfo2 mi = ::mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

std::uint64_t count_fds() {
  // getdents through the directory stream. A descriptor open on a /proc file is not counted:
  // the stream's own, and those the tool opens for a moment to read its samples (the sampler
  // thread, and each worker's heartbeat every 50 ms), which a count taken meanwhile would see
  // and which made the drain's count one to three above the one before the load at random.
  std::uint64_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    char target[16];
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') {
        continue;
      }
      const ssize_t len = ::readlinkat(::dirfd(d), e->d_name, target, sizeof target);
      if (len >= 6 && std::memcmp(target, "/proc/", 6) == 0) {
        continue;
      }
      ++n;
    }
    ::closedir(d);
  }
  return n;
}

std::uint64_t count_threads() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) {
    return 0;
  }
  char line[256];
  std::uint64_t n = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "Threads:", 8) == 0) {
      n = std::strtoull(line + 8, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return n;
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

} // namespace zokio::soak
