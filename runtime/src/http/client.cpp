#include <zokio/http/client.hpp>

#include <zokio/net/tcp_stream.hpp>
#include <zokio/runtime/errors.hpp>
#include <zokio/time/timeout.hpp>
#include <zokio/util/error.hpp>

#include <llhttp.h>

#include <span>
#include <string>
#include <utility>

// The client's state lives on the heap so that the client object can move while a request's
// task holds a pointer to it; it is touched only by the task of the one request in flight.

namespace zokio::http {

namespace detail {

struct client_state {
  explicit client_state(client_options o) : opt(std::move(o)) {}

  client_options opt;
  net::tcp_stream stream;
  bool connected = false;
  std::uint64_t connections = 0;

  // The response being parsed.
  llhttp_t parser{};
  client_response resp;
  std::string field;
  std::string value;
  bool in_value = false;
  std::size_t bytes = 0;
  bool done = false;
  bool too_big = false;
  bool keep_alive = true;
  bool head = false;

  void drop() noexcept {
    stream.close();
    connected = false;
  }
  bool count(std::size_t n) noexcept {
    bytes += n;
    too_big = too_big || bytes > opt.max_response_bytes;
    return !too_big;
  }
  void end_field() {
    resp.headers.add(std::move(field), std::move(value));
    field.clear();
    value.clear();
    in_value = false;
  }
  void reset_response() {
    resp = client_response{};
    field.clear();
    value.clear();
    in_value = false;
    done = false;
  }

  static client_state& self(llhttp_t* p) { return *static_cast<client_state*>(p->data); }
  static const llhttp_settings_t& settings();
};

const llhttp_settings_t& client_state::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t v;
    llhttp_settings_init(&v);
    v.on_message_begin = [](llhttp_t* p) {
      self(p).reset_response();
      return 0;
    };
    v.on_header_field = [](llhttp_t* p, const char* at, std::size_t n) {
      client_state& c = self(p);
      if (c.in_value) {
        c.end_field();
      }
      if (!c.count(n)) {
        return -1;
      }
      c.field.append(at, n);
      return 0;
    };
    v.on_header_value = [](llhttp_t* p, const char* at, std::size_t n) {
      client_state& c = self(p);
      c.in_value = true;
      if (!c.count(n)) {
        return -1;
      }
      c.value.append(at, n);
      return 0;
    };
    v.on_headers_complete = [](llhttp_t* p) {
      client_state& c = self(p);
      if (c.in_value || !c.field.empty()) {
        c.end_field();
      }
      c.resp.status = llhttp_get_status_code(p);
      // A HEAD response has no body, whatever its Content-Length says.
      return c.head ? 1 : 0;
    };
    v.on_body = [](llhttp_t* p, const char* at, std::size_t n) {
      client_state& c = self(p);
      if (!c.count(n)) {
        return -1;
      }
      c.resp.body.append(at, n);
      return 0;
    };
    v.on_message_complete = [](llhttp_t* p) {
      client_state& c = self(p);
      if (c.resp.status >= 100 && c.resp.status < 200) {
        return 0; // an interim response (100 Continue): the final one follows
      }
      c.keep_alive = llhttp_should_keep_alive(p) != 0;
      c.done = true;
      return static_cast<int>(HPE_PAUSED);
    };
    return v;
  }();
  return s;
}

namespace {

std::span<const std::byte> bytes(std::string_view s) noexcept {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

task<result<client_response>> do_request(client_state* st, std::string head, std::string body,
                                         bool is_head) {
  for (int attempt = 0;; ++attempt) {
    const bool reused = st->connected;
    if (!st->connected) {
      result<net::tcp_stream> s = co_await net::tcp_stream::connect(st->opt.host, st->opt.port);
      if (!s.ok()) {
        co_return s.error();
      }
      st->stream = std::move(s).value();
      (void)st->stream.set_nodelay(true);
      st->connected = true;
      ++st->connections;
    }
    // A kept connection the server closed meanwhile fails before any byte of the response:
    // then (once) the request goes again on a new connection.
    const bool may_retry = reused && attempt == 0;
    const result<void> w = co_await st->stream.write_all(bytes(head), bytes(body));
    if (!w.ok()) {
      st->drop();
      if (may_retry) {
        continue;
      }
      co_return w.error();
    }
    llhttp_init(&st->parser, HTTP_RESPONSE, &client_state::settings());
    st->parser.data = st;
    st->head = is_head;
    st->bytes = 0;
    st->too_big = false;
    st->keep_alive = true;
    st->reset_response();
    bool got_any = false;
    bool retry = false;
    char buf[8192];
    for (;;) {
      const result<std::size_t> n =
          co_await st->stream.read_some(std::as_writable_bytes(std::span<char>(buf)));
      if (!n.ok() || n.value() == 0) {
        if (may_retry && !got_any) {
          st->drop();
          retry = true;
          break;
        }
        if (n.ok()) {
          // EOF: ends a response framed by the end of the connection.
          const llhttp_errno_t fin = llhttp_finish(&st->parser);
          st->drop();
          if ((fin == HPE_OK || fin == HPE_PAUSED) && st->done) {
            co_return std::move(st->resp);
          }
          co_return std::errc::connection_reset;
        }
        st->drop();
        co_return n.error();
      }
      got_any = true;
      const llhttp_errno_t err = llhttp_execute(&st->parser, buf, n.value());
      if (err == HPE_PAUSED) {
        // Bytes after the response were not asked for: the connection is not reused.
        if (!st->keep_alive || llhttp_get_error_pos(&st->parser) != buf + n.value()) {
          st->drop();
        }
        co_return std::move(st->resp);
      }
      if (err != HPE_OK) {
        st->drop();
        co_return st->too_big ? std::errc::message_size : std::errc::bad_message;
      }
    }
    if (!retry) {
      co_return std::errc::connection_reset;
    }
  }
}

} // namespace

} // namespace detail

client::client(client_options options)
    : m_state(std::make_unique<detail::client_state>(std::move(options))) {}

client::~client() = default;
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

task<result<client_response>> client::request(std::string method, std::string target,
                                              std::string body, http::headers extra) {
  detail::client_state* st = m_state.get();
  std::string head;
  head.reserve(128);
  head += method;
  head += ' ';
  head += target;
  head += " HTTP/1.1\r\n";
  if (!extra.contains("Host")) {
    head += "Host: ";
    head += st->opt.host;
    if (st->opt.port != 80) {
      head += ':';
      head += std::to_string(st->opt.port);
    }
    head += "\r\n";
  }
  for (const auto& [name, value] : extra) {
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    head += "Content-Length: ";
    head += std::to_string(body.size());
    head += "\r\n";
  }
  head += "\r\n";
  result<client_response> r = co_await zokio::timeout(
      st->opt.timeout, detail::do_request(st, std::move(head), std::move(body), method == "HEAD"));
  if (!r.ok()) {
    st->drop(); // timed out or cancelled mid-request: the connection's state is unknown
  }
  co_return r;
}

void client::close() noexcept {
  if (m_state) {
    m_state->drop();
  }
}

std::uint64_t client::connections() const noexcept {
  return m_state ? m_state->connections : 0;
}

} // namespace zokio::http
