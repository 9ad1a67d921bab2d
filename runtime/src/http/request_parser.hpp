#pragma once

#include <zokio/http/request.hpp>

#include <llhttp.h>

#include <cstddef>
#include <string>

// The server's request framing, apart from sockets and tasks: llhttp in strict mode plus the
// checks llhttp 8 does not make (header names that are not tokens, obs-folds, the CRLF after a
// chunk's data, both Content-Length and Transfer-Encoding, HTTP/0.9 and 2.x over text framing)
// and the server's limits (header bytes → 431, body bytes → 413, refused before the body is
// read or allocated). A connection feeds it the bytes of each read, in order; the fuzz target
// tests/fuzz/http_request_fuzz.cpp feeds it any split of any input and compares the outcome with
// the same bytes delivered whole.

namespace zokio::http::detail {

class request_parser {
public:
  struct limits {
    std::size_t max_header_bytes;
    std::size_t max_body_bytes;
  };

  enum class state {
    need_more, ///< every byte given was consumed; the request is not complete yet
    complete,  ///< a request is complete: request() holds it; `consumed` bytes were used
    error,     ///< the request is refused: error_status() says how (400, 413, 431, 505)
  };

  struct step {
    state st;
    std::size_t consumed; ///< bytes of this call's input used (the rest belong to what follows)
  };

  explicit request_parser(limits l) noexcept;
  request_parser(const request_parser&) = delete;
  request_parser& operator=(const request_parser&) = delete;

  /// Parses [data, data + n): one read's bytes, or what is left of it after a complete request.
  /// Each call's bytes must stay valid only for that call. After `complete`, call next() before
  /// parsing the following request; after `error` the parser is done.
  step parse(const char* data, std::size_t n);

  /// Forgets the completed request and gets ready for the next one on the same connection.
  void next() noexcept;

  request& req() noexcept { return m_req; }
  const request& req() const noexcept { return m_req; }
  /// The status of the refusal after `error` (400 when llhttp itself refused).
  int error_status() const noexcept { return m_error_status != 0 ? m_error_status : 400; }
  /// The request has begun (its first byte was parsed).
  bool started() const noexcept { return m_started; }
  /// The request's headers are complete (its method and version are known).
  bool headers_done() const noexcept { return m_headers_done; }
  /// The client asked for `100 Continue` before sending the body it announced.
  bool expect_continue() const noexcept { return m_expect_continue; }

private:
  static int on_message_begin(llhttp_t* p);
  static int on_url(llhttp_t* p, const char* at, std::size_t n);
  static int on_header_field(llhttp_t* p, const char* at, std::size_t n);
  static int on_header_value(llhttp_t* p, const char* at, std::size_t n);
  static int on_header_field_complete(llhttp_t* p);
  static int on_headers_complete(llhttp_t* p);
  static int on_chunk_header(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, std::size_t n);
  static int on_message_complete(llhttp_t* p);
  static const llhttp_settings_t& settings();
  static request_parser& self(llhttp_t* p) { return *static_cast<request_parser*>(p->data); }

  bool check_crlf(const char* from);
  void end_field();

  limits m_limits;
  llhttp_t m_parser{};
  request m_req;
  std::string m_field;
  std::string m_value;
  bool m_in_value = false;
  std::size_t m_header_bytes = 0; // of the request line and header fields, as received
  int m_error_status = 0;         // set by a callback that refuses the request: 400, 413, 431, 505
  bool m_started = false;
  bool m_headers_done = false;
  bool m_message_done = false;
  bool m_expect_continue = false;
  bool m_te_field = false;    // a Transfer-Encoding field came (empty or not)
  bool m_expect_seen = false; // an Expect field came; m_expect_100: the first was 100-continue
  bool m_expect_100 = false;
  // Whether the last value span ended at the end of the bytes being parsed (so a next span
  // continues it, rather than folds it), and how many bytes of the CRLF after a chunk's data are
  // still to be checked.
  const char* m_exec_begin = nullptr;
  const char* m_exec_end = nullptr;
  bool m_value_at_end = false;
  std::size_t m_crlf_pending = 0;
};

} // namespace zokio::http::detail
