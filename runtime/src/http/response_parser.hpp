#pragma once

#include <zokio/http/client.hpp>

#include <llhttp.h>

#include <cstddef>
#include <string>

// The client's response framing, apart from sockets and tasks: llhttp reading one response
// (status line, header fields, a body framed by Content-Length, chunked, or by the end of the
// connection), skipping interim 1xx responses, within a byte limit. A request feeds it the bytes
// of each read, in order, and finish() at EOF; the fuzz target tests/fuzz/http_response_fuzz.cpp
// feeds it any split of any input and compares the outcome with the same bytes delivered whole.

namespace zokio::http::detail {

class response_parser {
public:
  enum class state {
    need_more, ///< every byte given was consumed; the response is not complete yet
    complete,  ///< the response is complete: resp() holds it; `consumed` bytes were used
    error,     ///< llhttp refused the response, or it is over the limit (too_big())
  };

  struct step {
    state st;
    std::size_t consumed; ///< bytes of this call's input used (the rest came unasked)
  };

  /// `max_bytes`: header fields plus body. `is_head`: the response to a HEAD request, which has
  /// no body whatever its Content-Length says.
  response_parser(std::size_t max_bytes, bool is_head) noexcept;
  response_parser(const response_parser&) = delete;
  response_parser& operator=(const response_parser&) = delete;

  /// Parses [data, data + n): one read's bytes. They must stay valid only for the call. After
  /// `complete` or `error` the parser is done.
  step parse(const char* data, std::size_t n);

  /// The connection ended (EOF): whether that completed the response (one framed by the end of
  /// the connection). Not to be called after `complete` or `error`.
  bool finish();

  client_response& resp() noexcept { return m_resp; }
  const client_response& resp() const noexcept { return m_resp; }
  /// After `complete`: whether the response lets the connection carry another request (HTTP/1.1
  /// without `Connection: close`, not framed by the end of the connection).
  bool keep_alive() const noexcept { return m_keep_alive; }
  /// After `error`: the header fields plus body passed `max_bytes`.
  bool too_big() const noexcept { return m_too_big; }

private:
  static const llhttp_settings_t& settings();
  static response_parser& self(llhttp_t* p) { return *static_cast<response_parser*>(p->data); }

  bool count(std::size_t n) noexcept;
  void end_field();
  void reset_response();

  llhttp_t m_parser{};
  client_response m_resp;
  std::string m_field;
  std::string m_value;
  bool m_in_value = false;
  std::size_t m_bytes = 0; // of header fields and bodies, interim responses' included
  std::size_t m_max;
  bool m_head;
  bool m_done = false;
  bool m_too_big = false;
  bool m_keep_alive = true;
};

} // namespace zokio::http::detail
