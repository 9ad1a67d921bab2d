#include <zokio/net/address.hpp>

#include <zokio/net/tcp_stream.hpp>

#include "zokio_test.hpp"

#include <string>

// Name resolution failures: a name that does not resolve is a result error in
// resolve_category() (from resolve() and from connect() alike), whose message says why; the
// error code cannot carry the name, so the caller names it (examples/echo_client.cpp prints
// `cannot resolve "NAME": ...`).

using zokio::net::resolve;
using zokio::net::resolve_category;
using zokio::net::tcp_stream;

namespace {

// RFC 6761: names under .invalid never resolve.
constexpr const char* no_such_host = "no-such-host.invalid";

bool is_resolution_failure(std::error_code e) {
  // Without a reachable DNS server the lookup may fail with EAI_AGAIN instead of EAI_NONAME:
  // both are resolve_category() errors.
  return e.category() == resolve_category() && !e.message().empty();
}

zokio::task<void> an_unknown_name() {
  zokio::result<std::vector<zokio::net::socket_address>> r = co_await resolve(no_such_host, 80);
  CO_REQUIRE(!r.ok());
  EXPECT_TRUE(is_resolution_failure(r.error()))
      << r.error().category().name() << ": " << r.error().message();
  EXPECT_STREQ(r.error().category().name(), "zokio.resolve");

  zokio::result<tcp_stream> c = co_await tcp_stream::connect(no_such_host, 80);
  CO_REQUIRE(!c.ok());
  EXPECT_TRUE(is_resolution_failure(c.error()))
      << "connect passes the resolver's error on, not a connect error: "
      << c.error().category().name() << ": " << c.error().message();
}

TEST(resolve, an_unknown_name_is_a_resolve_category_error_from_resolve_and_connect) {
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(an_unknown_name());
  zokio::testing::expect_clean_shutdown(rt);
}

zokio::task<void> literals_and_localhost() {
  zokio::result<std::vector<zokio::net::socket_address>> v4 = co_await resolve("127.0.0.1", 7007);
  CO_REQUIRE(v4.ok());
  CO_REQUIRE(v4.value().size() == 1);
  EXPECT_EQ(v4.value()[0].to_string(), "127.0.0.1:7007");

  zokio::result<std::vector<zokio::net::socket_address>> local = co_await resolve("localhost", 7);
  CO_REQUIRE(local.ok());
  CO_REQUIRE(!local.value().empty());
  for (const auto& a : local.value()) {
    EXPECT_EQ(a.port(), 7);
  }
}

TEST(resolve, a_literal_and_localhost_resolve) {
  zokio::runtime rt{{.workers = 1}};
  rt.block_on(literals_and_localhost());
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
