#include <zokio/http/client.hpp>

#include <zokio/http/server.hpp>
#include <zokio/net/tcp_listener.hpp>
#include <zokio/task/scope.hpp>

#include "zokio_test.hpp"

#include <string>
#include <vector>

// http::client against the HTTP server and against canned responses over real loopback
// sockets: keep-alive, reconnecting, timeouts, the size bound, chunked and EOF-framed bodies.

using namespace std::chrono_literals;
using zokio::task;
using zokio::http::request;
using zokio::http::response;

namespace {

task<response> hello(const request&) {
  co_return response::text(200, "hello\n");
}
task<response> echo(const request& r) {
  co_return response::text(200, r.body());
}
task<response> big(const request&) {
  co_return response::text(200, std::string(5000, 'b'));
}
task<response> slow(const request&) {
  co_await zokio::sleep_for(5s);
  co_return response::text(200, "late");
}
task<response> wait_a_little(const request&) {
  co_await zokio::sleep_for(100ms);
  co_return response::text(200, "waited");
}

using body_fn = task<void> (*)(zokio::http::server* srv);

task<void> with_server(zokio::http::server_options o, body_fn body) {
  o.host = "127.0.0.1";
  o.port = 0;
  o.shutdown_timeout = 100ms;
  zokio::http::server srv(std::move(o));
  srv.route("GET", "/hello", &hello);
  srv.route("POST", "/echo", &echo);
  srv.route("GET", "/big", &big);
  srv.route("GET", "/slow", &slow);
  srv.route("GET", "/wait", &wait_a_little);
  CO_REQUIRE(srv.listen().ok());
  zokio::join_handle<zokio::result<void>> h = zokio::spawn(srv.serve());
  co_await body(&srv);
  srv.shutdown();
  CO_REQUIRE((co_await zokio::timeout(20s, h)).ok());
}

void run(zokio::http::server_options o, body_fn body) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 40s, "the HTTP client test", with_server(std::move(o), body));
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(HttpClient, KeepsOneConnectionForSeveralRequests) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    const std::uint16_t port = srv->port();
    zokio::http::client c({.host = "127.0.0.1", .port = port});
    auto a = co_await c.get("/hello");
    CO_REQUIRE(a.ok());
    EXPECT_EQ(a.value().status, 200);
    EXPECT_EQ(a.value().body, "hello\n");
    EXPECT_EQ(a.value().headers.find("content-length"), "6");
    const std::string payload(100000, 'p');
    auto b = co_await c.post("/echo", payload);
    CO_REQUIRE(b.ok());
    EXPECT_EQ(b.value().body, payload);
    auto h = co_await c.request("HEAD", "/hello");
    CO_REQUIRE(h.ok());
    EXPECT_EQ(h.value().status, 200);
    EXPECT_TRUE(h.value().body.empty());
    auto d = co_await c.get("/nowhere");
    CO_REQUIRE(d.ok());
    EXPECT_EQ(d.value().status, 404);
    EXPECT_EQ(c.connections(), 1u) << "keep-alive: one connection for all";
  });
}

TEST(HttpClient, ReconnectsAfterTheServerClosed) {
  run({.idle_timeout = 100ms}, [](zokio::http::server* srv) -> task<void> {
    const std::uint16_t port = srv->port();
    zokio::http::client c({.host = "127.0.0.1", .port = port});
    CO_REQUIRE((co_await c.get("/hello")).ok());
    co_await zokio::sleep_for(500ms); // the server closes the idle connection
    auto r = co_await c.get("/hello");
    CO_REQUIRE(r.ok());
    EXPECT_EQ(r.value().body, "hello\n");
    EXPECT_EQ(c.connections(), 2u);
    // Connection: close from our side: the server closes after answering.
    zokio::http::headers close;
    close.add("Connection", "close");
    CO_REQUIRE((co_await c.request("GET", "/hello", "", close)).ok());
    CO_REQUIRE((co_await c.get("/hello")).ok());
    EXPECT_EQ(c.connections(), 3u);
  });
}

TEST(HttpClient, TimesOutAndRecovers) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    const std::uint16_t port = srv->port();
    zokio::http::client c({.host = "127.0.0.1", .port = port, .timeout = 200ms});
    auto r = co_await c.get("/slow");
    CO_REQUIRE(!r.ok());
    EXPECT_EQ(r.error(), zokio::errc::timed_out);
    auto ok = co_await c.get("/hello");
    CO_REQUIRE(ok.ok());
    EXPECT_EQ(ok.value().status, 200);
  });
}

TEST(HttpClient, RefusesResponsesOverItsBound) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    const std::uint16_t port = srv->port();
    zokio::http::client c({.host = "127.0.0.1", .port = port, .max_response_bytes = 1000});
    auto r = co_await c.get("/big");
    CO_REQUIRE(!r.ok());
    EXPECT_EQ(r.error(), std::errc::message_size);
    auto ok = co_await c.get("/hello");
    CO_REQUIRE(ok.ok());
  });
}

TEST(HttpClient, SequentialRequestsUseOneConnection) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    zokio::http::client c({.host = "127.0.0.1", .port = srv->port()});
    for (int i = 0; i < 20; ++i) {
      // (Not `cond ? co_await a : co_await b`: GCC 12 miscompiles co_await in a conditional.)
      zokio::result<zokio::http::client_response> r = std::errc::invalid_argument;
      if (i % 2 == 0) {
        r = co_await c.get("/hello");
      } else {
        r = co_await c.post("/echo", "x");
      }
      CO_REQUIRE(r.ok());
      EXPECT_EQ(r.value().status, 200);
    }
    EXPECT_EQ(c.connections(), 1u);
    EXPECT_EQ(c.idle_connections(), 1u);
    EXPECT_EQ(srv->counters().connections_accepted.load(), 1u) << "the server saw one connection";
    EXPECT_EQ(srv->counters().responses(), 20u);
  });
}

task<void> get_into(zokio::http::client* c, std::string target, int* status) {
  auto r = co_await c->get(std::move(target));
  *status = r.ok() ? r.value().status : -1;
}

/// Four requests at once (each takes 100 ms on the server), `rounds` times.
task<void> four_at_once(zokio::http::client* c, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    int status[4] = {};
    zokio::task_scope scope;
    for (int& s : status) {
      scope.spawn(get_into(c, "/wait", &s));
    }
    co_await scope.close();
    for (int s : status) {
      EXPECT_EQ(s, 200);
    }
  }
}

TEST(HttpClient, ConcurrentRequestsUseSeveralConnectionsAndThePoolIsBounded) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    zokio::http::client c({.host = "127.0.0.1", .port = srv->port(), .max_idle_connections = 2});
    co_await four_at_once(&c, 1);
    EXPECT_EQ(c.connections(), 4u) << "one connection per request in flight";
    EXPECT_EQ(c.idle_connections(), 2u) << "the pool keeps max_idle_connections";
    // Two are kept, two more are opened; the server sees the other two closed.
    co_await four_at_once(&c, 1);
    EXPECT_EQ(c.connections(), 6u);
    EXPECT_EQ(c.idle_connections(), 2u);
    for (int i = 0; i < 5; ++i) {
      CO_REQUIRE((co_await c.get("/hello")).ok());
    }
    EXPECT_EQ(c.connections(), 6u) << "one after the other: a pooled connection";
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (srv->counters().connections_open.load() != 2 &&
           std::chrono::steady_clock::now() < until) {
      co_await zokio::sleep_for(10ms);
    }
    EXPECT_EQ(srv->counters().connections_open.load(), 2u) << "the pool's two, the rest closed";
    c.close();
    EXPECT_EQ(c.idle_connections(), 0u);
    CO_REQUIRE((co_await c.get("/hello")).ok());
    EXPECT_EQ(c.connections(), 7u) << "after close(), a new connection";

    zokio::http::client none({.host = "127.0.0.1", .port = srv->port(), .max_idle_connections = 0});
    for (int i = 0; i < 3; ++i) {
      CO_REQUIRE((co_await none.get("/hello")).ok());
    }
    EXPECT_EQ(none.connections(), 3u) << "no pool: a connection per request";
    EXPECT_EQ(none.idle_connections(), 0u);
  });
}

TEST(HttpClient, AConnectionTheServerClosedIsNotUsed) {
  run({.idle_timeout = 100ms}, [](zokio::http::server* srv) -> task<void> {
    zokio::http::client c({.host = "127.0.0.1", .port = srv->port()});
    CO_REQUIRE((co_await c.get("/hello")).ok());
    co_await zokio::sleep_for(500ms); // the server closes the idle connection
    // A POST is never sent twice; it works because the closed connection is seen before it.
    auto r = co_await c.post("/echo", "once");
    CO_REQUIRE(r.ok());
    EXPECT_EQ(r.value().body, "once");
    EXPECT_EQ(c.connections(), 2u);
    EXPECT_EQ(srv->counters().responses(), 2u);
  });
}

TEST(HttpClient, PooledConnectionsExpireAfterTheClientsIdleTimeout) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    zokio::http::client c({.host = "127.0.0.1", .port = srv->port(), .idle_timeout = 100ms});
    CO_REQUIRE((co_await c.get("/hello")).ok());
    CO_REQUIRE((co_await c.get("/hello")).ok());
    EXPECT_EQ(c.connections(), 1u);
    co_await zokio::sleep_for(300ms);
    CO_REQUIRE((co_await c.get("/hello")).ok());
    EXPECT_EQ(c.connections(), 2u) << "the kept one was too old: closed, a new one opened";
    EXPECT_EQ(c.idle_connections(), 1u);
  });
}

/// Reads one request's head (no body) from `s` into `buf`; false on EOF, error or 5 s of nothing.
task<bool> read_request(zokio::net::tcp_stream& s, std::string& buf) {
  std::size_t end = 0;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    char tmp[4096];
    auto r = co_await zokio::timeout(5s, s.read_some(std::as_writable_bytes(std::span<char>(tmp))));
    if (!r.ok() || r.value() == 0) {
      co_return false;
    }
    buf.append(tmp, r.value());
  }
  buf.erase(0, end + 4);
  co_return true;
}

/// A server that closes a kept connection just as the next request arrives: on connection i it
/// answers `answered[i]` requests, then reads one more and closes without an answer (or, for a
/// negative count, answers until the client closes). `seen` counts the requests it read.
task<void> closes_under_a_request(zokio::net::tcp_listener* l, std::vector<int> answered,
                                  int* seen) {
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  for (int n : answered) {
    auto s = co_await l->accept();
    CO_REQUIRE(s.ok());
    std::string buf;
    for (int i = 0; n < 0 || i < n; ++i) {
      if (!co_await read_request(s.value(), buf)) {
        break;
      }
      ++*seen;
      CO_REQUIRE(
          (co_await s.value().write_all(std::as_bytes(std::span<const char>(ok.data(), ok.size()))))
              .ok());
    }
    if (n >= 0 && co_await read_request(s.value(), buf)) {
      ++*seen; // read, and dropped with the connection
    }
  }
}

task<void> resend_case(std::string method, bool resent) {
  auto l = zokio::net::tcp_listener::bind("127.0.0.1", 0);
  CO_REQUIRE(l.ok());
  int seen = 0;
  std::vector<int> answered = {1};
  if (resent) {
    answered.push_back(-1);
  }
  zokio::join_handle<void> srv = zokio::spawn(closes_under_a_request(&l.value(), answered, &seen));
  {
    zokio::http::client c({.host = "127.0.0.1", .port = l.value().local_port(), .timeout = 2s});
    CO_REQUIRE((co_await c.request(method, "/")).ok());
    auto r = co_await c.request(method, "/");
    if (resent) {
      CO_REQUIRE(r.ok());
      EXPECT_EQ(r.value().body, "ok");
      EXPECT_EQ(c.connections(), 2u) << method << " is sent again on a new connection";
    } else {
      CO_REQUIRE(!r.ok());
      EXPECT_EQ(r.error(), std::errc::connection_reset);
      EXPECT_EQ(c.connections(), 1u) << method << " may have been acted on: not sent again";
    }
  }
  co_await srv;
  EXPECT_EQ(seen, resent ? 3 : 2) << method;
}

TEST(HttpClient, OnlyIdempotentRequestsAreSentAgainAfterTheServerClosedUnderThem) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 30s, "resending", []() -> task<void> {
    co_await resend_case("GET", true);
    co_await resend_case("PUT", true);
    co_await resend_case("POST", false);
    co_await resend_case("PATCH", false);
  }());
  zokio::testing::expect_clean_shutdown(rt);
}

/// Answers one request on each of `n` connections with `canned`, then closes.
task<void> canned_server(zokio::net::tcp_listener* l, std::string canned, int n) {
  for (int i = 0; i < n; ++i) {
    auto s = co_await l->accept();
    CO_REQUIRE(s.ok());
    char buf[4096];
    std::string got;
    while (got.find("\r\n\r\n") == std::string::npos) {
      auto r = co_await zokio::timeout(
          5s, s.value().read_some(std::as_writable_bytes(std::span<char>(buf))));
      CO_REQUIRE(r.ok() && r.value() > 0);
      got.append(buf, r.value());
    }
    CO_REQUIRE((co_await s.value().write_all(
                    std::as_bytes(std::span<const char>(canned.data(), canned.size()))))
                   .ok());
  }
}

task<void> canned_case(std::string canned, std::string want_body) {
  auto l = zokio::net::tcp_listener::bind("127.0.0.1", 0);
  CO_REQUIRE(l.ok());
  zokio::join_handle<void> srv = zokio::spawn(canned_server(&l.value(), canned, 1));
  zokio::http::client c({.host = "127.0.0.1", .port = l.value().local_port()});
  auto r = co_await c.get("/");
  CO_REQUIRE(r.ok());
  EXPECT_EQ(r.value().status, 200);
  EXPECT_EQ(r.value().body, want_body);
  co_await srv;
}

TEST(HttpClient, ParsesChunkedAndEofFramedBodies) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "canned responses", []() -> task<void> {
    co_await canned_case("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                         "hello world");
    co_await canned_case(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok");
    co_await canned_case("HTTP/1.0 200 OK\r\n\r\nuntil the end", "until the end");
  }());
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
