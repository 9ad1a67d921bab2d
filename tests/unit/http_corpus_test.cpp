#include <zokio/http/server.hpp>

#include "http_client.hpp"
#include "zokio_test.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

// The hostile corpus (tests/http/corpus, written by tests/http/make-corpus.py): each raw request
// gets exactly its expected statuses, in order, and the connection is closed after an error
// status (or without any response for "close"); after each case a good request on a new
// connection is served.

using namespace std::chrono_literals;
using zokio::task;
using zokio::http::request;
using zokio::http::response;
using zokio::testing::raw_client;

namespace {

struct corpus_case {
  std::string name;
  std::vector<std::string> expected; // statuses, or {"close"}
  std::string mode;                  // all, eof, slow
  std::string bytes;
};

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<corpus_case> load() {
  const std::string dir = ZOKIO_HTTP_CORPUS_DIR;
  std::ifstream e(dir + "/expectations.txt");
  std::vector<corpus_case> out;
  std::string line;
  while (std::getline(e, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::istringstream in(line);
    corpus_case c;
    std::string expected;
    in >> c.name >> expected >> c.mode;
    std::istringstream ex(expected);
    for (std::string s; std::getline(ex, s, ',');) {
      c.expected.push_back(s);
    }
    c.bytes = read_all(dir + "/" + c.name + ".http");
    out.push_back(std::move(c));
  }
  return out;
}

task<response> hello(const request&) {
  co_return response::text(200, "hello\n");
}
task<response> echo(const request& r) {
  co_return response::text(200, r.body());
}

task<void> send_slowly(raw_client* c, std::string bytes) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    const std::size_t nl = bytes.find('\n', at);
    const std::size_t end = nl == std::string::npos ? bytes.size() : nl + 1;
    if (!co_await c->send(bytes.substr(at, end - at))) {
      co_return; // the server gave up on us: fine, the response says why
    }
    at = end;
    co_await zokio::sleep_for(150ms);
  }
}

task<void> run_case(std::uint16_t port, const corpus_case* k) {
  auto c = co_await raw_client::connect(port);
  CO_REQUIRE(c.has_value());
  if (k->mode == "slow") {
    co_await send_slowly(&*c, k->bytes);
  } else {
    // A server that refuses early may close before it read everything: a failed send is fine.
    (void)co_await c->send(k->bytes);
    if (k->mode == "eof") {
      (void)co_await c->stream().shutdown();
    }
  }
  if (k->expected.size() == 1 && k->expected[0] == "close") {
    auto r = co_await c->response();
    EXPECT_FALSE(r.has_value()) << k->name << ": expected a close without response, got "
                                << (r ? r->status : 0);
    EXPECT_TRUE(c->buffered().empty()) << k->name << ": bytes came back: " << c->buffered();
    co_return;
  }
  int last = 0;
  for (const std::string& want : k->expected) {
    auto r = co_await c->response();
    EXPECT_TRUE(r.has_value()) << k->name << ": no response, expected " << want;
    if (!r) {
      co_return;
    }
    EXPECT_EQ(std::to_string(r->status), want) << k->name;
    EXPECT_TRUE(r->header("Date").has_value()) << k->name;
    last = r->status;
  }
  // Protocol errors close; a routing answer (404, 405) keeps the connection, HTTP/1.0 closes.
  const bool closes = last == 400 || last == 408 || last == 413 || last == 431 || last == 505;
  if (closes || k->bytes.find("HTTP/1.0") != std::string::npos) {
    EXPECT_TRUE(co_await c->closed()) << k->name << ": the connection must close after " << last;
  }
}

task<void> good_request(std::uint16_t port, std::string after) {
  auto c = co_await raw_client::connect(port);
  CO_REQUIRE(c.has_value());
  CO_REQUIRE(co_await c->send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = co_await c->response();
  EXPECT_TRUE(r.has_value() && r->status == 200 && r->body == "hello\n")
      << "a good request after " << after;
}

task<void> run_corpus(const std::vector<corpus_case>* cases) {
  zokio::http::server srv(
      {.host = "127.0.0.1", .port = 0, .max_body_bytes = 64 * 1024, .header_timeout = 500ms});
  srv.route("GET", "/hello", &hello);
  srv.route("POST", "/echo", &echo);
  CO_REQUIRE(srv.listen().ok());
  zokio::join_handle<zokio::result<void>> h = zokio::spawn(srv.serve());
  for (const corpus_case& k : *cases) {
    co_await run_case(srv.port(), &k);
    co_await good_request(srv.port(), k.name);
  }
  EXPECT_GE(srv.counters().parse_errors.load(), 40u);
  srv.shutdown();
  const auto r = co_await zokio::timeout(20s, h);
  CO_REQUIRE(r.ok());
}

TEST(HttpCorpus, EveryHostileRequestGetsItsExpectedAnswer) {
  const std::vector<corpus_case> cases = load();
  ASSERT_GE(cases.size(), 40u) << "the corpus at " << ZOKIO_HTTP_CORPUS_DIR;
  std::size_t hostile = 0;
  for (const corpus_case& k : cases) {
    ASSERT_FALSE(k.bytes.empty()) << k.name << ": no request file";
    ASSERT_FALSE(k.expected.empty()) << k.name;
    hostile += k.name.rfind("control_", 0) == 0 ? 0 : 1;
  }
  EXPECT_GE(hostile, 40u);
  zokio::runtime rt{{.workers = 1}};
  zokio::testing::block_on_within(rt, 100s, "the corpus run", run_corpus(&cases));
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
