// --serve http (PROTOCOL.md, "http"): an HTTP/1.1 keep-alive server on Asio's TCP sockets with
// llhttp (Node's parser, as Zokio's server uses) parsing every request. One io_context run by W
// threads; one coroutine per connection. Pipelined requests read together are answered together,
// in order, in one write.
#include "peer.hpp"

#include <llhttp.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <string_view>
#include <thread>

namespace peer {
namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

constexpr std::string_view plaintext_body = "Hello, World!";

/// "Date: ..." for now, formatted again only when the second changes (as servers cache it).
const std::string& date_header() {
  thread_local std::time_t cached_second = 0;
  thread_local std::string header;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    cached_second = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::array<char, 64> text{};
    const std::size_t n =
        std::strftime(text.data(), text.size(), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    header.assign(text.data(), n);
  }
  return header;
}

/// One connection's parser state: the request's URL, and the responses not yet written.
struct Connection {
  llhttp_t parser;
  std::string url;
  std::string out;
  bool close = false;
};

Connection& connection_of(llhttp_t* parser) {
  return *static_cast<Connection*>(parser->data);
}

int on_message_begin(llhttp_t* parser) {
  connection_of(parser).url.clear();
  return 0;
}

int on_url(llhttp_t* parser, const char* at, std::size_t length) {
  connection_of(parser).url.append(at, length);
  return 0;
}

int on_message_complete(llhttp_t* parser) {
  Connection& c = connection_of(parser);
  const bool keep_alive = llhttp_should_keep_alive(parser) != 0;
  if (llhttp_get_method(parser) == HTTP_GET && c.url == "/plaintext") {
    c.out += "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n";
    c.out += date_header();
    c.out += keep_alive ? "\r\n" : "Connection: close\r\n\r\n";
    c.out += plaintext_body;
  } else {
    c.out += "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n";
    c.out += date_header();
    c.out += keep_alive ? "\r\n" : "Connection: close\r\n\r\n";
  }
  c.close = !keep_alive;
  return 0;
}

const llhttp_settings_t& parser_settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = on_message_begin;
    s.on_url = on_url;
    s.on_message_complete = on_message_complete;
    return s;
  }();
  return settings;
}

/// One connection: read what arrived, parse all of it, write every response it produced, until
/// the client closes, asks to close, or sends something llhttp rejects (400, then close).
awaitable<void> session(tcp::socket socket) {
  Connection c;
  llhttp_init(&c.parser, HTTP_REQUEST, &parser_settings());
  c.parser.data = &c;
  std::array<char, 4096> buffer;
  while (!c.close) {
    asio::error_code ec;
    const std::size_t n = co_await socket.async_read_some(asio::buffer(buffer),
                                                          asio::redirect_error(use_awaitable, ec));
    if (ec) {
      break; // the client closed or reset the connection
    }
    if (llhttp_execute(&c.parser, buffer.data(), n) != HPE_OK && !c.close) {
      c.out += "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      c.close = true;
    }
    if (!c.out.empty()) {
      co_await asio::async_write(socket, asio::buffer(c.out),
                                 asio::redirect_error(use_awaitable, ec));
      if (ec) {
        break;
      }
      c.out.clear();
    }
  }
}

/// Accepts until the io_context stops. A failed accept (out of file descriptors, say) is not the
/// end of the server: it waits 10 ms and accepts again.
awaitable<void> accept_loop(tcp::acceptor& acceptor) {
  asio::steady_timer backoff(acceptor.get_executor());
  for (;;) {
    asio::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      backoff.expires_after(std::chrono::milliseconds(10));
      co_await backoff.async_wait(use_awaitable);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket)), asio::detached);
  }
}

} // namespace

int serve_http(unsigned short port, unsigned workers) {
  asio::io_context ctx{static_cast<int>(workers)};
  tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&ctx](const asio::error_code&, int) { ctx.stop(); });
  asio::co_spawn(ctx, accept_loop(acceptor), asio::detached);
  std::printf("{\"listening\":%u}\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
  std::fflush(stdout);
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < workers; ++i) {
    threads.emplace_back([&ctx] { ctx.run(); });
  }
  ctx.run();
  for (auto& t : threads) {
    t.join();
  }
  return 0;
}

} // namespace peer
