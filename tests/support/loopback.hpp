#pragma once

// Test helper for TCP: a connected pair of streams over 127.0.0.1.

#include <zokio/net/tcp_listener.hpp>
#include <zokio/net/tcp_stream.hpp>
#include <zokio/task/spawn.hpp>

#include <utility>

namespace zokio::testing {

struct pair_of_streams {
  net::tcp_stream server;
  net::tcp_stream client;
};

/// Connects to `l` and accepts the connection: both streams on the current worker.
inline task<result<pair_of_streams>> connected_pair(net::tcp_listener* l) {
  auto connecting = spawn(net::tcp_stream::connect("127.0.0.1", l->local_port()));
  result<net::tcp_stream> a = co_await l->accept();
  result<net::tcp_stream> c = co_await connecting;
  if (!a.ok()) {
    co_return a.error();
  }
  if (!c.ok()) {
    co_return c.error();
  }
  co_return pair_of_streams{std::move(a).value(), std::move(c).value()};
}

} // namespace zokio::testing
