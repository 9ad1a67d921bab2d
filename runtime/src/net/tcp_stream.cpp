#include <zokio/net/tcp_stream.hpp>

#include <zokio/time/timeout.hpp>

#include "net/tcp_impl.hpp"
#include "util/uv_error.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

namespace zokio::detail {

static_assert(sizeof(uv_write_t) <= tcp_write_req_size,
              "tcp_write_req_size is too small for this libuv's uv_write_t");
static_assert(alignof(uv_write_t) <= 16, "uv_write_t needs more alignment than reserved");

// --- read_some -----------------------------------------------------------------------------------

bool tcp_read_awaiter::ready() noexcept {
  tcp_impl* s = m_impl;
  if (s == nullptr || s->m_closing) {
    m_status = UV_EBADF;
    m_done = true;
    return true;
  }
  ZOKIO_NET_ASSERT_OWNER(s);
  if (m_done || m_size == 0 || s->has_unread() || s->m_eof || s->m_read_error != 0) {
    return true;
  }
  // A bulk reader whose last read filled its buffer reads the next bytes itself, straight into
  // its buffer, without a loop turn: a stream is drained as fast as libuv's own read loop
  // drains it, up to tcp_inline_read_budget per turn. A small or a first read waits for the
  // loop, which saves a read(2) that would mostly find nothing (ping-pong traffic).
  if (!s->m_more || m_size < tcp_direct_read_min ||
      !s->m_read_turn.available(s->m_owner, tcp_inline_read_budget)) {
    return false;
  }
  const long n = s->read_now(m_data, m_size);
  if (n == UV_EAGAIN) {
    s->m_more = false;
    return false;
  }
  if (n > 0) {
    m_n = static_cast<std::size_t>(n);
    s->m_more = m_n == m_size;
    s->m_read_turn.spend(m_n);
  } else {
    m_status = static_cast<int>(n); // 0: EOF
  }
  m_done = true;
  return true;
}

bool tcp_read_awaiter::arm() {
  tcp_impl* s = m_impl;
  if (s->m_reader != nullptr) {
    throw std::logic_error("zokio: two tasks read the same tcp_stream at once");
  }
  // libuv keeps reading between reads (no uv_read_stop/uv_read_start per read): this is a no-op
  // unless the stream has never read or paused for backpressure.
  if (const int rc = s->start_reading(); rc != 0) {
    m_status = rc;
    m_done = true;
    return false;
  }
  s->m_reader = this;
  s->m_yield = false; // the reader is back: the next bytes go straight into its buffer
  s->set_referenced(true);
  return true;
}

bool tcp_read_awaiter::withdraw() noexcept {
  tcp_impl* s = m_impl;
  if (s == nullptr || s->m_reader != this) {
    return false;
  }
  // libuv goes on reading: bytes that arrive now wait in the overflow buffer for the next read.
  s->m_reader = nullptr;
  s->set_referenced(false);
  return true;
}

result<std::size_t> tcp_read_awaiter::take() {
  if (m_cancelled) {
    return std::errc::operation_canceled;
  }
  if (m_done) {
    if (m_status < 0) {
      return uv_error(m_status);
    }
    return m_n;
  }
  if (m_size == 0) {
    return std::size_t{0};
  }
  // ready() saw the result in the stream: buffered bytes first, then EOF or the error.
  tcp_impl* s = m_impl;
  if (s->m_closing) {
    return std::errc::bad_file_descriptor;
  }
  if (s->has_unread()) {
    const std::size_t n = std::min(m_size, s->m_tail - s->m_head);
    std::memcpy(m_data, s->m_buf + s->m_head, n);
    s->m_head += n;
    if (!s->has_unread()) {
      s->drop_empty_buffer();
      if (!s->m_eof && s->m_read_error == 0) {
        // Drained after a backpressure pause: read again (a no-op while still reading).
        if (const int rc = s->start_reading(); rc != 0) {
          s->m_read_error = rc;
        }
      }
    }
    return n;
  }
  if (s->m_read_error != 0) {
    return uv_error(s->m_read_error);
  }
  if (s->m_eof) {
    return std::size_t{0};
  }
  // Another task took the bytes in between: two readers on one stream.
  return std::errc::operation_would_block;
}

// --- write_all -----------------------------------------------------------------------------------

namespace {

void on_write(uv_write_t* req, int status) noexcept {
  auto* a = static_cast<tcp_write_awaiter*>(req->data);
  a->m_status = status;
  a->fire(); // the frame (and this request in it) stays suspended until now
}

} // namespace

namespace {

uv_buf_t to_uv_buf(std::span<const std::byte> b) noexcept {
  uv_buf_t u;
  u.base = const_cast<char*>(reinterpret_cast<const char*>(b.data()));
  u.len = b.size();
  return u;
}

/// The awaiter's buffers as uv_buf_t, empty ones and the first `skip` bytes left out.
class gathered {
public:
  gathered(const std::span<const std::byte>* src, std::size_t count, std::size_t skip) {
    if (count > on_stack) {
      m_heap.resize(count);
      m_bufs = m_heap.data();
    }
    for (std::size_t i = 0; i < count; ++i) {
      std::span<const std::byte> b = src[i];
      if (skip >= b.size()) {
        skip -= b.size();
        continue;
      }
      b = b.subspan(skip);
      skip = 0;
      m_bufs[m_n++] = to_uv_buf(b);
      m_total += b.size();
    }
  }
  uv_buf_t* data() noexcept { return m_bufs; }
  unsigned size() const noexcept { return m_n; }
  std::size_t total() const noexcept { return m_total; }

private:
  static constexpr std::size_t on_stack = 16;
  uv_buf_t m_local[on_stack];
  std::vector<uv_buf_t> m_heap;
  uv_buf_t* m_bufs = m_local;
  unsigned m_n = 0;
  std::size_t m_total = 0;
};

} // namespace

// ready() does the non-blocking part of the write: it hands the socket what it takes now
// (uv_try_write, which refuses while earlier writes are queued, so the order holds). When that
// is everything (the common case) the await completes without suspending; otherwise arm()
// queues the rest. Only the first tcp_inline_write_budget bytes of a loop turn go this way; later
// writes of the same turn go to uv_write whole (see tcp_impl.hpp). Under force_async the same
// happens in await_suspend and the completion is delivered through the loop.
bool tcp_write_awaiter::ready() noexcept {
  if (m_tried) {
    return m_complete;
  }
  m_tried = true;
  tcp_impl* s = m_impl;
  if (s == nullptr || s->m_closing) {
    m_status = UV_EBADF;
    m_complete = true;
    return true;
  }
  ZOKIO_NET_ASSERT_OWNER(s);
  // Once this turn's inline bytes are spent, arm() hands all of it to uv_write.
  const bool may_try = s->m_write_turn.available(s->m_owner, tcp_inline_write_budget);
  int wrote = 0;
  std::size_t total = 0;
  if (m_many == nullptr && m_count == 1) {
    uv_buf_t b = to_uv_buf(m_inline[0]);
    total = b.len;
    wrote = total == 0 || !may_try ? 0 : uv_try_write(s->stream(), &b, 1);
  } else {
    try {
      gathered g(buffers(), m_count, 0);
      total = g.total();
      wrote = total == 0 || !may_try ? 0 : uv_try_write(s->stream(), g.data(), g.size());
    } catch (...) {
      wrote = UV_EAGAIN; // no memory for the iovec array: arm() reports it
    }
  }
  if (wrote < 0 && wrote != UV_EAGAIN) {
    m_status = wrote;
    m_complete = true;
    return true;
  }
  m_written = wrote > 0 ? static_cast<std::size_t>(wrote) : 0;
  s->m_write_turn.spend(m_written);
  m_complete = m_written == total;
  return m_complete;
}

bool tcp_write_awaiter::arm() {
  if (!m_tried && ready()) {
    return false; // (counted_awaiter always asks ready() first; this keeps arm() safe alone)
  }
  // The rest in one uv_write (a writev for several buffers). libuv copies the uv_buf_t array;
  // the bytes stay in the caller's buffers, which live as long as this suspended frame.
  gathered g(buffers(), m_count, m_written);
  auto* req = new (m_req) uv_write_t;
  req->data = this;
  if (const int rc = uv_write(req, m_impl->stream(), g.data(), g.size(), on_write); rc != 0) {
    m_status = rc;
    return false;
  }
  return true;
}

bool tcp_write_awaiter::withdraw() noexcept {
  // libuv cannot take back one queued write. Closing the stream makes it complete the write
  // with UV_ECANCELED (then on_write wakes the task); until then the frame stays suspended.
  if (m_impl != nullptr && !m_claimed.load(std::memory_order_relaxed)) {
    m_impl->close();
  }
  return false;
}

result<void> tcp_write_awaiter::take() const {
  if (m_cancelled) {
    return std::errc::operation_canceled;
  }
  if (m_status < 0) {
    return uv_error(m_status);
  }
  return {};
}

namespace {

// --- connect and shutdown: requests in the frame of a coroutine of this file ---------------------

class connect_awaiter final : public counted_awaiter<connect_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::io;

  connect_awaiter(tcp_impl* s, const net::socket_address& a, const site& where) noexcept
      : counted_awaiter<connect_awaiter>(where), m_impl(s), m_addr(&a) {}

  bool ready() const noexcept { return false; }
  bool arm() {
    m_req.data = this;
    const int rc =
        uv_tcp_connect(&m_req, &m_impl->m_tcp, m_addr->data(), [](uv_connect_t* req, int status) {
          auto* self = static_cast<connect_awaiter*>(req->data);
          self->m_status = status;
          self->fire();
        });
    if (rc != 0) {
      m_status = rc;
      return false;
    }
    return true;
  }
  /// A connect cannot be withdrawn: close the socket, libuv then completes it with UV_ECANCELED.
  bool withdraw() noexcept {
    m_impl->close();
    return false;
  }
  int take() const noexcept { return m_cancelled ? UV_ECANCELED : m_status; }

private:
  tcp_impl* m_impl;
  const net::socket_address* m_addr;
  int m_status = 0;
  uv_connect_t m_req;
};

class shutdown_awaiter final : public counted_awaiter<shutdown_awaiter> {
public:
  static constexpr wait_kind kind = wait_kind::io;

  shutdown_awaiter(tcp_impl* s, const site& where) noexcept
      : counted_awaiter<shutdown_awaiter>(where), m_impl(s) {}

  bool ready() noexcept {
    if (m_impl == nullptr || m_impl->m_closing) {
      m_status = UV_EBADF;
      return true;
    }
    ZOKIO_NET_ASSERT_OWNER(m_impl);
    return false;
  }
  bool arm() {
    m_req.data = this;
    const int rc = uv_shutdown(&m_req, m_impl->stream(), [](uv_shutdown_t* req, int status) {
      auto* self = static_cast<shutdown_awaiter*>(req->data);
      self->m_status = status;
      self->fire();
    });
    if (rc != 0) {
      m_status = rc;
      return false;
    }
    return true;
  }
  bool withdraw() noexcept {
    m_impl->close();
    return false;
  }
  int take() const noexcept { return m_cancelled ? UV_ECANCELED : m_status; }

private:
  tcp_impl* m_impl;
  int m_status = 0;
  uv_shutdown_t m_req;
};

} // namespace

} // namespace zokio::detail

namespace zokio::net {

using detail::tcp_impl;

tcp_stream& tcp_stream::operator=(tcp_stream&& o) noexcept {
  if (this != &o) {
    close();
    m_impl = std::exchange(o.m_impl, nullptr);
  }
  return *this;
}

tcp_stream::~tcp_stream() {
  close();
}

void tcp_stream::close() noexcept {
  if (tcp_impl* s = std::exchange(m_impl, nullptr); s != nullptr) {
    // Closed already (by teardown, when the stream outlived its runtime): only let go.
    if (!s->m_closing) {
      ZOKIO_NET_ASSERT_OWNER(s);
    }
    s->close();
    s->release();
  }
}

bool tcp_stream::is_open() const noexcept {
  return m_impl != nullptr && !m_impl->m_closing;
}

result<void> tcp_stream::set_nodelay(bool on) noexcept {
  if (!is_open()) {
    return std::errc::bad_file_descriptor;
  }
  if (const int rc = uv_tcp_nodelay(&m_impl->m_tcp, on ? 1 : 0); rc != 0) {
    return detail::uv_error(rc);
  }
  return {};
}

result<socket_address> tcp_stream::local_address() const noexcept {
  if (!is_open()) {
    return std::errc::bad_file_descriptor;
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (const int rc = uv_tcp_getsockname(&m_impl->m_tcp, reinterpret_cast<sockaddr*>(&ss), &len);
      rc != 0) {
    return detail::uv_error(rc);
  }
  return socket_address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
}

result<socket_address> tcp_stream::peer_address() const noexcept {
  if (!is_open()) {
    return std::errc::bad_file_descriptor;
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (const int rc = uv_tcp_getpeername(&m_impl->m_tcp, reinterpret_cast<sockaddr*>(&ss), &len);
      rc != 0) {
    return detail::uv_error(rc);
  }
  return socket_address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
}

std::uint16_t tcp_stream::local_port() const noexcept {
  const result<socket_address> a = local_address();
  return a.ok() ? a.value().port() : 0;
}

int tcp_stream::native_handle() const noexcept {
  if (!is_open()) {
    return -1;
  }
  uv_os_fd_t fd = -1;
  if (uv_fileno(m_impl->handle(), &fd) != 0) {
    return -1;
  }
  return fd;
}

task<result<void>> tcp_stream::read_exact(std::span<std::byte> buf, site where) {
  while (!buf.empty()) {
    const result<std::size_t> r = co_await read_some(buf, where);
    if (!r.ok()) {
      co_return r.error();
    }
    if (r.value() == 0) {
      co_return zokio::errc::eof; // EOF before `buf` was full
    }
    buf = buf.subspan(r.value());
  }
  co_return result<void>{};
}

task<result<void>> tcp_stream::shutdown(site where) {
  const int status = co_await detail::shutdown_awaiter(m_impl, where);
  if (status < 0) {
    co_return detail::uv_error(status);
  }
  co_return result<void>{};
}

task<result<tcp_stream>> tcp_stream::connect(socket_address address, site where) {
  detail::worker* w = detail::current_net_worker("zokio::net::tcp_stream::connect");
  int err = 0;
  tcp_impl* s = tcp_impl::create(w, &err);
  if (s == nullptr) {
    co_return detail::uv_error(err);
  }
  tcp_stream stream(s); // closes the socket on every path that does not return it
  const int status = co_await detail::connect_awaiter(s, address, where);
  if (status < 0) {
    co_return detail::uv_error(status);
  }
  co_return std::move(stream);
}

task<result<tcp_stream>> tcp_stream::connect(std::string host, std::uint16_t port,
                                             connect_options opts, site where) {
  if (opts.timeout == std::chrono::nanoseconds::max()) {
    co_return co_await connect(std::move(host), port, where);
  }
  co_return co_await timeout(opts.timeout, connect(std::move(host), port, where), where);
}

task<result<tcp_stream>> tcp_stream::connect(socket_address address, connect_options opts,
                                             site where) {
  if (opts.timeout == std::chrono::nanoseconds::max()) {
    co_return co_await connect(address, where);
  }
  co_return co_await timeout(opts.timeout, connect(address, where), where);
}

task<result<tcp_stream>> tcp_stream::connect(std::string host, std::uint16_t port, site where) {
  if (result<socket_address> literal = socket_address::parse(host, port); literal.ok()) {
    co_return co_await connect(literal.value(), where);
  }
  result<std::vector<socket_address>> addresses = co_await resolve(std::move(host), port, where);
  if (!addresses.ok()) {
    co_return addresses.error();
  }
  std::error_code last = std::make_error_code(std::errc::host_unreachable);
  for (const socket_address& a : addresses.value()) {
    result<tcp_stream> r = co_await connect(a, where);
    if (r.ok()) {
      co_return std::move(r);
    }
    last = r.error();
    if (last == std::errc::operation_canceled) {
      break;
    }
  }
  co_return last;
}

} // namespace zokio::net
