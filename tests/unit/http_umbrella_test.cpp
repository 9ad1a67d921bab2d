// The umbrella header alone reaches the whole HTTP API (API.md: everything through
// <zokio/zokio.hpp>): this file includes nothing else of Zokio's, so a type the umbrella misses
// is a compile error.
#include <zokio/zokio.hpp>

#include <gtest/gtest.h>

#include <string>

using namespace std::chrono_literals;

namespace {

zokio::task<int> serve_and_get() {
  zokio::http::server srv({.host = "127.0.0.1", .port = 0});
  zokio::http::router& routes = srv.router();
  routes.route("GET", "/hello",
               [](const zokio::http::request& r) -> zokio::task<zokio::http::response> {
                 co_return zokio::http::response::text(200, std::string(r.path()));
               });
  if (!srv.listen().ok()) {
    co_return -1;
  }
  zokio::join_handle<zokio::result<void>> h = zokio::spawn(srv.serve());
  zokio::http::client c({.host = "127.0.0.1", .port = srv.port()});
  const zokio::result<zokio::http::client_response> r = co_await c.get("/hello");
  srv.shutdown();
  (void)co_await zokio::timeout(10s, h);
  co_return r.ok() && r.value().body == "/hello" ? r.value().status : -1;
}

TEST(HttpUmbrella, ServerAndClientThroughZokioHpp) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(serve_and_get()), 200);
  EXPECT_TRUE(rt.shutdown().clean());
}

} // namespace
