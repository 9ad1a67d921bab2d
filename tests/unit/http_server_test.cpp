#include <zokio/http/server.hpp>

#include "http_client.hpp"
#include "zokio_test.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// The HTTP server over real loopback sockets, spoken to byte by byte: routing, keep-alive,
// pipelining, HEAD, limits, timeouts, max_connections and graceful shutdown.

using namespace std::chrono_literals;
using zokio::task;
using zokio::http::request;
using zokio::http::response;
using zokio::testing::raw_client;
using zokio::testing::raw_response;

namespace {

task<response> hello(const request&) {
  co_return response::text(200, "hello\n");
}

task<response> echo(const request& r) {
  co_return response::text(200, r.body());
}

task<response> boom(const request&) {
  throw std::runtime_error("handler failure");
  co_return response::text(200, "unreachable");
}

task<response> slow(const request&) {
  co_await zokio::sleep_for(300ms);
  co_return response::text(200, "slow done");
}

constexpr std::size_t big_size = 2 * 1024 * 1024;

task<response> big(const request&) {
  co_return response::text(200, std::string(big_size, 'b'));
}

void add_routes(zokio::http::server& srv) {
  srv.route("GET", "/hello", &hello);
  srv.route("POST", "/echo", &echo);
  srv.route("GET", "/boom", &boom);
  srv.route("GET", "/slow", &slow);
  srv.route("GET", "/big", &big);
}

using body_fn = task<void> (*)(zokio::http::server*);

/// Runs a server on a free port and `body` against it, then shuts the server down gracefully
/// and checks that serve() returned; the runtime must then shut down clean.
task<void> with_server(zokio::http::server_options o, body_fn body) {
  o.host = "127.0.0.1";
  o.port = 0;
  zokio::http::server srv(std::move(o));
  add_routes(srv);
  CO_REQUIRE(srv.listen().ok());
  CO_REQUIRE(srv.port() != 0);
  zokio::join_handle<zokio::result<void>> h = zokio::spawn(srv.serve());
  co_await body(&srv);
  srv.shutdown();
  const zokio::result<zokio::result<void>> r = co_await zokio::timeout(20s, h);
  CO_REQUIRE(r.ok());
}

void run(zokio::http::server_options o, body_fn body, unsigned workers = 1) {
  zokio::runtime rt{{.workers = workers}};
  zokio::testing::block_on_within(rt, 40s, "the HTTP test", with_server(std::move(o), body));
  zokio::testing::expect_clean_shutdown(rt);
}

task<std::optional<raw_client>> connect(zokio::http::server* srv) {
  co_return co_await raw_client::connect(srv->port());
}

/// Sends `bytes` on a connection of its own (closed after) and reads one response.
task<std::optional<raw_response>> answer_on_new_connection(zokio::http::server* srv,
                                                           std::string bytes) {
  auto c = co_await connect(srv);
  if (!c || !co_await c->send(std::move(bytes))) {
    co_return std::nullopt;
  }
  co_return co_await c->response();
}

/// GET /hello on a connection of its own: whether it got "hello".
task<bool> hello_on_new_connection(zokio::http::server* srv) {
  const auto r = co_await answer_on_new_connection(srv, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  co_return r && r->status == 200 && r->body == "hello\n";
}

TEST(HttpServer, RoutesAnswerWithStatusDateAndLength) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    auto c = co_await connect(srv);
    CO_REQUIRE(c.has_value());
    CO_REQUIRE(co_await c->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = co_await c->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->reason, "OK");
    EXPECT_EQ(r->body, "hello\n");
    EXPECT_EQ(r->header("Content-Length"), "6");
    EXPECT_TRUE(r->header("Date").has_value());
    EXPECT_EQ(r->header("Content-Type"), "text/plain; charset=utf-8");

    CO_REQUIRE(co_await c->send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = co_await c->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->reason, "Not Found");
    EXPECT_TRUE(r->header("Date").has_value());

    CO_REQUIRE(co_await c->send("DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = co_await c->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->reason, "Method Not Allowed");
    EXPECT_EQ(r->header("Allow"), "GET, HEAD");

    CO_REQUIRE(co_await c->send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = co_await c->response(true);
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("Content-Length"), "6") << "HEAD: the GET response's headers";
    EXPECT_TRUE(r->body.empty());
    // Nothing after the HEAD response's headers: the next response follows at once.
    CO_REQUIRE(co_await c->send("GET /hello?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = co_await c->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello\n");
    EXPECT_GE(srv->counters().responses_of_class(2), 3u);
    EXPECT_EQ(srv->counters().responses_of_class(4), 2u);
  });
}

TEST(HttpServer, ThrowingHandlerGets500AndTheConnectionSurvives) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    auto c = co_await connect(srv);
    CO_REQUIRE(c.has_value());
    CO_REQUIRE(co_await c->send("GET /boom HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = co_await c->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(r->reason, "Internal Server Error");
    CO_REQUIRE(co_await c->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = co_await c->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(srv->counters().handler_errors.load(), 1u);
  });
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    auto c = co_await connect(srv);
    CO_REQUIRE(c.has_value());
    CO_REQUIRE(co_await c->send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
                                "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto a = co_await c->response();
    auto b = co_await c->response();
    auto d = co_await c->response();
    CO_REQUIRE(a && b && d);
    EXPECT_EQ(a->body, "slow done");
    EXPECT_EQ(b->body, "first");
    EXPECT_EQ(d->body, "hello\n");
  });
}

/// Sends a request line, then `fields` header lines 150 ms apart (never the blank line), and
/// reads the response.
task<std::optional<raw_response>> slow_headers(raw_client& c, int fields) {
  if (!co_await c.send("GET /hello HTTP/1.1\r\n")) {
    co_return std::nullopt;
  }
  for (int i = 0; i < fields; ++i) {
    co_await zokio::sleep_for(150ms);
    if (!co_await c.send("X-A: b\r\n")) {
      break;
    }
  }
  co_return co_await c.response();
}

// Small bodies travel in the connection's output buffer behind their heads, bigger ones (over
// 1 KiB) from their own strings, all in one writev per batch: pipelined, every response comes
// whole and in order, and bytes_out counts exactly what was sent.
TEST(HttpServer, PipelinedSmallAndBigBodiesKeepTheirOrder) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    auto c = co_await connect(srv);
    CO_REQUIRE(c.has_value());
    const std::string kib(1024, 'k');         // at the inline bound
    const std::string over(1025, 'o');        // one byte over it
    const std::string large(100 * 1024, 'l'); // far over it
    auto post = [](const std::string& body) {
      return "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n\r\n" + body;
    };
    const std::uint64_t out_before = srv->counters().bytes_out.load();
    CO_REQUIRE(co_await c->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" + post(kib) + post(over) +
                                "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" + post(large) +
                                "GET /big HTTP/1.1\r\nHost: x\r\n\r\n" +
                                "HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n" +
                                "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::vector<std::string> expected = {"hello\n", kib,   over, "hello\n",
                                               large,     "big", "",   "hello\n"};
    std::uint64_t received = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      auto r = co_await c->response(i == 6);
      CO_REQUIRE(r.has_value());
      EXPECT_EQ(r->status, 200) << "response " << i;
      if (expected[i] == "big") {
        EXPECT_EQ(r->body, std::string(big_size, 'b')) << "response " << i;
      } else {
        EXPECT_EQ(r->body, expected[i]) << "response " << i;
      }
      // What came on the wire for it: the server writes "Name: value" fields, no padding.
      std::uint64_t wire =
          std::string_view("HTTP/1.1 200 ").size() + r->reason.size() + 2 + 2 + r->body.size();
      for (const auto& [name, value] : r->headers) {
        wire += name.size() + 2 + value.size() + 2;
      }
      received += wire;
    }
    EXPECT_EQ(srv->counters().bytes_out.load() - out_before, received);
  });
}

// The header timeout of a later request on a keep-alive connection runs from that request's
// first byte: not from the previous request (a connection idle for longer than header_timeout
// still gets its next request served when it comes in pieces), and it still cuts a request
// whose headers come too slowly.
TEST(HttpServer, HeaderTimeoutOfALaterRequestStartsWithIt) {
  run({.header_timeout = 300ms, .idle_timeout = 10s}, [](zokio::http::server* srv) -> task<void> {
    auto c = co_await connect(srv);
    CO_REQUIRE(c.has_value());
    CO_REQUIRE(co_await c->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto first = co_await c->response();
    CO_REQUIRE(first.has_value());
    EXPECT_EQ(first->status, 200);
    co_await zokio::sleep_for(500ms); // idle past header_timeout
    CO_REQUIRE(co_await c->send("GET /hello HTTP/1.1\r\n"));
    co_await zokio::sleep_for(100ms);
    CO_REQUIRE(co_await c->send("Host: x\r\n\r\n"));
    auto second = co_await c->response();
    CO_REQUIRE(second.has_value());
    EXPECT_EQ(second->status, 200) << "a request in two pieces after an idle pause";
    EXPECT_EQ(srv->counters().timeouts.load(), 0u);
    auto third = co_await slow_headers(*c, 4);
    CO_REQUIRE(third.has_value());
    EXPECT_EQ(third->status, 408) << "a later request's headers, too slowly";
    EXPECT_TRUE(co_await c->closed());
    EXPECT_EQ(srv->counters().timeouts.load(), 1u);
  });
}

TEST(HttpServer, KeepAliveHttp10AndConnectionClose) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    // HTTP/1.1 keeps the connection: the same socket serves several requests.
    auto c = co_await connect(srv);
    CO_REQUIRE(c.has_value());
    for (int i = 0; i < 3; ++i) {
      CO_REQUIRE(co_await c->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
      auto r = co_await c->response();
      CO_REQUIRE(r.has_value());
      EXPECT_EQ(r->status, 200);
      EXPECT_FALSE(r->header("Connection").has_value());
    }
    EXPECT_EQ(srv->counters().connections_accepted.load(), 1u);
    // Connection: close: answered, then closed.
    CO_REQUIRE(co_await c->send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    auto r = co_await c->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_TRUE(co_await c->closed());
    // HTTP/1.0: closes unless asked to keep alive.
    auto d = co_await connect(srv);
    CO_REQUIRE(d.has_value());
    CO_REQUIRE(co_await d->send("GET /hello HTTP/1.0\r\n\r\n"));
    r = co_await d->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(co_await d->closed());
    auto e = co_await connect(srv);
    CO_REQUIRE(e.has_value());
    CO_REQUIRE(co_await e->send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    r = co_await e->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->header("Connection"), "keep-alive");
    CO_REQUIRE(co_await e->send("GET /hello HTTP/1.0\r\n\r\n"));
    r = co_await e->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(co_await e->closed());
  });
}

TEST(HttpServer, BodiesByLengthChunkedAndExpectContinue) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    auto c = co_await connect(srv);
    CO_REQUIRE(c.has_value());
    CO_REQUIRE(
        co_await c->send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"));
    auto r = co_await c->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->body, "hello, world");
    // Expect: 100-continue: the interim response comes before the body is sent.
    CO_REQUIRE(co_await c->send(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
    r = co_await c->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 100);
    CO_REQUIRE(co_await c->send("ping"));
    r = co_await c->response();
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ping");
  });
}

TEST(HttpServer, LimitsAnswer413And431AndClose) {
  run({.max_header_bytes = 1024, .max_body_bytes = 1000},
      [](zokio::http::server* srv) -> task<void> {
        {
          // Refused from the headers: no body byte is sent, the answer comes anyway.
          auto c = co_await connect(srv);
          CO_REQUIRE(c.has_value());
          CO_REQUIRE(
              co_await c->send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n"));
          auto r = co_await c->response();
          CO_REQUIRE(r.has_value());
          EXPECT_EQ(r->status, 413);
          EXPECT_EQ(r->header("Connection"), "close");
          EXPECT_TRUE(co_await c->closed());
        }
        {
          auto c = co_await connect(srv);
          CO_REQUIRE(c.has_value());
          CO_REQUIRE(co_await c->send(
              "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3e8\r\n" +
              std::string(1000, 'a') + "\r\n1\r\nb\r\n0\r\n\r\n"));
          auto r = co_await c->response();
          CO_REQUIRE(r.has_value());
          EXPECT_EQ(r->status, 413) << "a chunked body over the limit";
        }
        {
          auto c = co_await connect(srv);
          CO_REQUIRE(c.has_value());
          CO_REQUIRE(co_await c->send(
              "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'x') + "\r\n\r\n"));
          auto r = co_await c->response();
          CO_REQUIRE(r.has_value());
          EXPECT_EQ(r->status, 431);
          EXPECT_EQ(r->reason, "Request Header Fields Too Large");
          EXPECT_TRUE(co_await c->closed());
        }
        // The header limit is exact over a socket too: a header section of max_header_bytes
        // is served, one byte more is 431.
        for (const std::size_t size : {std::size_t{1024}, std::size_t{1025}}) {
          const std::string start = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: ";
          const std::string req = start + std::string(size - start.size() - 4, 'p') + "\r\n\r\n";
          CO_REQUIRE(req.size() == size);
          auto c = co_await connect(srv);
          CO_REQUIRE(c.has_value());
          CO_REQUIRE(co_await c->send(req));
          auto r = co_await c->response();
          CO_REQUIRE(r.has_value());
          EXPECT_EQ(r->status, size == 1024 ? 200 : 431) << size << " header bytes";
        }
        // Exactly at the body limit is fine.
        auto c = co_await connect(srv);
        CO_REQUIRE(c.has_value());
        CO_REQUIRE(
            co_await c->send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" +
                             std::string(1000, 'z')));
        auto r = co_await c->response();
        CO_REQUIRE(r.has_value());
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body.size(), 1000u);
        EXPECT_EQ(srv->counters().parse_errors.load(), 4u);
      });
}

TEST(HttpServer, SmugglingAndGarbageGet400AndClose) {
  run({}, [](zokio::http::server* srv) -> task<void> {
    const char* bad[] = {
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "GET /hello HTTP/9.9\r\n\r\n",
        "G@T /hello HTTP/1.1\r\n\r\n",
    };
    for (const char* b : bad) {
      auto c = co_await connect(srv);
      CO_REQUIRE(c.has_value());
      CO_REQUIRE(co_await c->send(b));
      auto r = co_await c->response();
      CO_REQUIRE(r.has_value());
      EXPECT_EQ(r->status, 400) << b;
      EXPECT_TRUE(co_await c->closed()) << b;
    }
  });
}

TEST(HttpServer, SlowHeadersGet408) {
  run({.header_timeout = 300ms}, [](zokio::http::server* srv) -> task<void> {
    auto c = co_await connect(srv);
    CO_REQUIRE(c.has_value());
    auto r = co_await slow_headers(*c, 3);
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 408);
    EXPECT_TRUE(co_await c->closed());
    EXPECT_GE(srv->counters().timeouts.load(), 1u);
  });
}

/// Sends `bytes` to `c` one byte every `gap` until all are sent or a send fails.
task<void> trickle(raw_client* c, std::string bytes, std::chrono::milliseconds gap) {
  for (char b : bytes) {
    co_await zokio::sleep_for(gap);
    if (!co_await c->send(std::string(1, b))) {
      co_return;
    }
  }
}

TEST(HttpServer, ABodyMustArriveWithinTheBodyTimeout) {
  run({.idle_timeout = 200ms, .body_timeout = 500ms}, [](zokio::http::server* srv) -> task<void> {
    // A byte every idle_timeout / 2: no pause is too long, but the body as a whole is late.
    auto c = co_await connect(srv);
    CO_REQUIRE(c.has_value());
    CO_REQUIRE(co_await c->send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n"));
    const auto t0 = std::chrono::steady_clock::now();
    zokio::join_handle<void> slow = zokio::spawn(trickle(&*c, std::string(40, 'a'), 100ms));
    auto r = co_await c->response();
    const auto took = std::chrono::steady_clock::now() - t0;
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 408);
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_TRUE(co_await c->closed());
    co_await slow;
    EXPECT_GE(took, 450ms);
    EXPECT_LT(took, 3s);
    EXPECT_EQ(srv->counters().timeouts.load(), 1u);
    // A pause longer than idle_timeout within a body: 408 too.
    r = co_await answer_on_new_connection(
        srv, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab");
    CO_REQUIRE(r.has_value());
    EXPECT_EQ(r->status, 408);
    EXPECT_EQ(srv->counters().timeouts.load(), 2u);
    // A body in time, in pieces (with 100-continue), is answered; and the deadline is per
    // request: the next body on the same connection has its own.
    auto e = co_await connect(srv);
    CO_REQUIRE(e.has_value());
    for (int i = 0; i < 2; ++i) {
      CO_REQUIRE(co_await e->send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                  "Expect: 100-continue\r\n\r\n"));
      r = co_await e->response();
      CO_REQUIRE(r.has_value());
      EXPECT_EQ(r->status, 100);
      co_await trickle(&*e, "xyz", 100ms);
      r = co_await e->response();
      CO_REQUIRE(r.has_value());
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->body, "xyz");
    }
    EXPECT_TRUE(co_await hello_on_new_connection(srv));
  });
}

TEST(HttpServer, IdleConnectionsAreClosedAfterTheirTimeout) {
  run({.header_timeout = 200ms, .idle_timeout = 200ms}, [](zokio::http::server* srv) -> task<void> {
    // Served once, then silent: closed by the idle timeout, without a response.
    auto c = co_await connect(srv);
    CO_REQUIRE(c.has_value());
    CO_REQUIRE(co_await c->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    CO_REQUIRE((co_await c->response()).has_value());
    // Never a byte: closed by the header timeout (counted from the accept), silently.
    auto d = co_await connect(srv);
    CO_REQUIRE(d.has_value());
    EXPECT_FALSE((co_await c->response()).has_value());
    EXPECT_TRUE(c->buffered().empty());
    EXPECT_FALSE((co_await d->response()).has_value());
    EXPECT_TRUE(d->buffered().empty());
    EXPECT_EQ(srv->counters().timeouts.load(), 2u);
    // A connection that keeps busy is not cut: requests 50 ms apart, past the idle timeout in
    // total.
    auto e = co_await connect(srv);
    CO_REQUIRE(e.has_value());
    for (int i = 0; i < 10; ++i) {
      CO_REQUIRE(co_await e->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
      auto r = co_await e->response();
      CO_REQUIRE(r.has_value());
      EXPECT_EQ(r->status, 200);
      co_await zokio::sleep_for(50ms);
    }
  });
}

/// Polls `srv`'s open connections until they are `n` or `within` has passed.
task<bool> open_connections_become(zokio::http::server* srv, std::uint64_t n,
                                   std::chrono::milliseconds within) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (srv->counters().connections_open.load() != n) {
    if (std::chrono::steady_clock::now() > until) {
      co_return false;
    }
    co_await zokio::sleep_for(10ms);
  }
  co_return true;
}

TEST(HttpServer, APeerThatNeverReadsIsClosedByTheWriteTimeout) {
  run({.write_timeout = 300ms}, [](zokio::http::server* srv) -> task<void> {
    // 64 pipelined requests for 2 MiB each, and never a byte read.
    auto hog = co_await connect(srv);
    CO_REQUIRE(hog.has_value());
    std::string requests;
    for (int i = 0; i < 64; ++i) {
      requests += "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    }
    const auto t0 = std::chrono::steady_clock::now();
    CO_REQUIRE(co_await hog->send(requests));
    co_await zokio::sleep_for(100ms);
    EXPECT_TRUE(co_await hello_on_new_connection(srv)) << "meanwhile everybody else is served";
    // The stuck connection is closed once a write has waited write_timeout (the sweeper runs
    // every write_timeout / 4), and the server holds no connection any more.
    EXPECT_TRUE(co_await open_connections_become(srv, 0, 5s));
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 3s);
    EXPECT_EQ(srv->counters().timeouts.load(), 1u);
    // While the write waited, no further request was parsed: of the 64, only those whose
    // responses the socket buffers took (a few MiB) were answered; not a batch of 16.
    const std::uint64_t answered = srv->counters().responses_of_class(2) - 1; // minus /hello
    EXPECT_GE(answered, 1u);
    EXPECT_LE(answered, 8u) << "responses produced for a peer that does not read";
    EXPECT_TRUE(co_await hog->closed()) << "the peer finds the connection closed";
    EXPECT_TRUE(co_await hello_on_new_connection(srv)) << "the server still serves";
  });
}

TEST(HttpServer, ConnectionsOverTheLimitAreClosedAndCounted) {
  run({.max_connections = 2}, [](zokio::http::server* srv) -> task<void> {
    auto a = co_await connect(srv);
    auto b = co_await connect(srv);
    CO_REQUIRE(a && b);
    // Make sure both are accepted (served) before the third comes.
    for (auto* c : {&*a, &*b}) {
      CO_REQUIRE(co_await c->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
      CO_REQUIRE((co_await c->response()).has_value());
    }
    auto extra = co_await connect(srv);
    CO_REQUIRE(extra.has_value());
    EXPECT_TRUE(co_await extra->closed());
    EXPECT_EQ(srv->counters().connections_rejected.load(), 1u);
    EXPECT_EQ(srv->counters().connections_open.load(), 2u);
  });
}

task<void> half_then_rest(raw_client* c, bool* got) {
  co_await zokio::sleep_for(200ms); // the shutdown has begun
  CO_REQUIRE(co_await c->send("st: x\r\nContent-Length: 4\r\n\r\nbody"));
  auto r = co_await c->response();
  CO_REQUIRE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "body");
  EXPECT_EQ(r->header("Connection"), "close");
  *got = true;
}

TEST(HttpServer, GracefulShutdownFinishesAHalfReceivedRequestAndClosesIdleOnes) {
  zokio::runtime rt{{.workers = 2}};
  zokio::testing::block_on_within(rt, 30s, "graceful shutdown", []() -> task<void> {
    zokio::http::server srv({.host = "127.0.0.1", .port = 0, .workers = 2});
    add_routes(srv);
    CO_REQUIRE(srv.listen().ok());
    zokio::join_handle<zokio::result<void>> h = zokio::spawn(srv.serve());
    auto idle = co_await raw_client::connect(srv.port());
    auto half = co_await raw_client::connect(srv.port());
    CO_REQUIRE(idle && half);
    CO_REQUIRE(co_await idle->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    CO_REQUIRE((co_await idle->response()).has_value());
    CO_REQUIRE(co_await half->send("POST /echo HTTP/1.1\r\nHo"));
    co_await zokio::sleep_for(100ms); // the server has read the first half
    bool got = false;
    zokio::join_handle<void> rest = zokio::spawn(half_then_rest(&*half, &got));
    srv.shutdown();
    EXPECT_TRUE(co_await idle->closed()) << "an idle connection is closed at shutdown";
    co_await rest;
    EXPECT_TRUE(got);
    const zokio::result<zokio::result<void>> r = co_await zokio::timeout(20s, h);
    CO_REQUIRE(r.ok());
    EXPECT_TRUE(r.value().ok());
    // Nothing listens any more.
    auto late = co_await zokio::net::tcp_stream::connect(std::string("127.0.0.1"), srv.port());
    EXPECT_FALSE(late.ok());
  }());
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(HttpServer, ServeRefusesMoreWorkersThanTheRuntimeHas) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 20s, "serve with bad workers", []() -> task<void> {
    for (unsigned workers : {0u, 2u}) {
      zokio::http::server srv({.host = "127.0.0.1", .port = 0, .workers = workers});
      const zokio::result<void> r = co_await srv.serve();
      CO_REQUIRE(!r.ok());
      EXPECT_EQ(r.error(), std::errc::invalid_argument) << workers << " workers";
    }
    // A host that is not an address: the bind error comes back.
    zokio::http::server c({.host = "not-an-address", .port = 0});
    const zokio::result<void> r = co_await c.serve();
    CO_REQUIRE(!r.ok());
    EXPECT_EQ(r.error(), std::errc::invalid_argument);
  }());
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(HttpServer, ShutdownDeadlineCancelsRequestsStillRunning) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 30s, "shutdown deadline", []() -> task<void> {
    zokio::http::server srv({.host = "127.0.0.1", .port = 0, .shutdown_timeout = 200ms});
    srv.route("GET", "/forever", [](const request&) -> task<response> {
      co_await zokio::sleep_for(1h);
      co_return response::text(200, "never");
    });
    CO_REQUIRE(srv.listen().ok());
    zokio::join_handle<zokio::result<void>> h = zokio::spawn(srv.serve());
    auto c = co_await raw_client::connect(srv.port());
    CO_REQUIRE(c.has_value());
    CO_REQUIRE(co_await c->send("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n"));
    co_await zokio::sleep_for(100ms);
    const auto t0 = std::chrono::steady_clock::now();
    srv.shutdown();
    const zokio::result<zokio::result<void>> r = co_await zokio::timeout(20s, h);
    CO_REQUIRE(r.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s) << "the deadline cut the request";
    EXPECT_TRUE(co_await c->closed());
  }());
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
