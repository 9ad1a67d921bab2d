#include <zokio/http/client.hpp>

#include <zokio/http/server.hpp>
#include <zokio/net/tcp_listener.hpp>

#include "zokio_test.hpp"

#include <string>

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

using body_fn = task<void> (*)(std::uint16_t port);

task<void> with_server(zokio::http::server_options o, body_fn body) {
  o.host = "127.0.0.1";
  o.port = 0;
  o.shutdown_timeout = 100ms;
  zokio::http::server srv(std::move(o));
  srv.route("GET", "/hello", &hello);
  srv.route("POST", "/echo", &echo);
  srv.route("GET", "/big", &big);
  srv.route("GET", "/slow", &slow);
  CO_REQUIRE(srv.listen().ok());
  zokio::join_handle<zokio::result<void>> h = zokio::spawn(srv.serve());
  co_await body(srv.port());
  srv.shutdown();
  CO_REQUIRE((co_await zokio::timeout(20s, h)).ok());
}

void run(zokio::http::server_options o, body_fn body) {
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 40s, "the HTTP client test", with_server(std::move(o), body));
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(HttpClient, KeepsOneConnectionForSeveralRequests) {
  run({}, [](std::uint16_t port) -> task<void> {
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
  run({.idle_timeout = 100ms}, [](std::uint16_t port) -> task<void> {
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
  run({}, [](std::uint16_t port) -> task<void> {
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
  run({}, [](std::uint16_t port) -> task<void> {
    zokio::http::client c({.host = "127.0.0.1", .port = port, .max_response_bytes = 1000});
    auto r = co_await c.get("/big");
    CO_REQUIRE(!r.ok());
    EXPECT_EQ(r.error(), std::errc::message_size);
    auto ok = co_await c.get("/hello");
    CO_REQUIRE(ok.ok());
  });
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
