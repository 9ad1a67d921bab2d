#pragma once

#include <zokio/util/result.hpp>
#include <zokio/util/site.hpp>

#include <concepts>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

// What the buffered reader and writer need from the stream they wrap: zokio::net::tcp_stream has
// this shape, and so can any type with the same two operations.

namespace zokio::detail {

/// What `co_await a` works on: `a.operator co_await()` when it has one (a task), else `a`.
template <typename A>
decltype(auto) awaiter_of(A&& a) noexcept {
  if constexpr (requires { static_cast<A&&>(a).operator co_await(); }) {
    return static_cast<A&&>(a).operator co_await();
  } else {
    return static_cast<A&&>(a);
  }
}

/// The type `co_await a` gives.
template <typename A>
using await_result_t = decltype(awaiter_of(std::declval<A>()).await_resume());

} // namespace zokio::detail

namespace zokio::io {

/// `co_await a` gives a `R` (a task, or an operation's awaiter).
template <typename A, typename R>
concept awaitable_of = requires {
  typename detail::await_result_t<A>;
}
&&std::same_as<std::remove_cvref_t<detail::await_result_t<A>>, R>;

/// A stream to read from: `co_await s.read_some(buf)` gives `result<std::size_t>`, at least 1
/// byte, or 0 at the end of the stream. `zokio::net::tcp_stream` is one.
template <typename S>
concept async_read_stream = requires(S& s, std::span<std::byte> buf) {
  { s.read_some(buf) } -> awaitable_of<result<std::size_t>>;
};

/// A stream to write to: `co_await s.write_all(buf)` gives `result<void>` once all of `buf` is
/// written. `zokio::net::tcp_stream` is one.
template <typename S>
concept async_write_stream = requires(S& s, std::span<const std::byte> buf) {
  { s.write_all(buf) } -> awaitable_of<result<void>>;
};

} // namespace zokio::io

namespace zokio::detail {

// The buffered reader and writer pass their caller's site on to the stream when it takes one
// (tcp_stream does), so that a task dump names the line of the user's read_line, not ours.

template <typename S>
decltype(auto) read_some_at(S& s, std::span<std::byte> buf, const site& where) {
  if constexpr (requires { s.read_some(buf, where); }) {
    return s.read_some(buf, where);
  } else {
    return s.read_some(buf);
  }
}

template <typename S>
decltype(auto) write_all_at(S& s, std::span<const std::byte> buf, const site& where) {
  if constexpr (requires { s.write_all(buf, where); }) {
    return s.write_all(buf, where);
  } else {
    return s.write_all(buf);
  }
}

/// The stream writes two buffers with one await (a writev).
template <typename S>
concept writes_two_buffers = requires(S& s, std::span<const std::byte> a, site where) {
  { s.write_all(a, a, where) } -> io::awaitable_of<result<void>>;
};

} // namespace zokio::detail

namespace zokio::detail {

/// Marks a buffered reader or writer busy for the length of one of its operations (a local of
/// the operation's coroutine, so it is released however the coroutine ends): an operation
/// started meanwhile throws `std::logic_error(what)`.
class exclusive_operation {
public:
  exclusive_operation(bool& busy, const char* what) : m_busy(busy) {
    if (busy) {
      throw std::logic_error(what);
    }
    busy = true;
  }
  ~exclusive_operation() { m_busy = false; }
  exclusive_operation(const exclusive_operation&) = delete;
  exclusive_operation& operator=(const exclusive_operation&) = delete;

private:
  bool& m_busy;
};

} // namespace zokio::detail
