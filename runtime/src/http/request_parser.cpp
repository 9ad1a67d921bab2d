#include "http/request_parser.hpp"

#include <algorithm>
#include <cstdint>
#include <string_view>

namespace zokio::http::detail {

namespace {

/// The most a request's body reserves from its Content-Length before the bytes arrive.
constexpr std::uint64_t body_reserve_max = 64 * 1024;

/// RFC 9110 tchar: what a header name may be made of.
bool is_token_char(char ch) noexcept {
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

} // namespace

request_parser::request_parser(limits l) noexcept : m_limits(l) {
  llhttp_init(&m_parser, HTTP_REQUEST, &settings());
  m_parser.data = this;
}

request_parser::step request_parser::parse(const char* data, std::size_t n) {
  std::size_t used = 0;
  for (;;) {
    // While the header section lasts, llhttp sees no byte past the header limit: a section of
    // max_header_bytes (request line through the blank line's LF) ends inside what it is given,
    // and a byte beyond it, in this read or a later one, is refused before llhttp sees it. The
    // verdict is then the same however the stream was cut into reads (llhttp reports a span only
    // when it ends or the bytes given end).
    std::size_t piece = n - used;
    if (!m_headers_done) {
      const std::size_t room = m_limits.max_header_bytes - m_header_bytes;
      if (room == 0 && piece > 0) {
        m_error_status = 431;
        return {state::error, 0};
      }
      piece = std::min(piece, room);
    }
    const char* at = data + used;
    m_exec_begin = at;
    m_exec_end = at + piece;
    if (m_crlf_pending > 0 && !check_crlf(at)) {
      return {state::error, 0};
    }
    const llhttp_errno_t err = llhttp_execute(&m_parser, at, piece);
    if (err == HPE_PAUSED && m_message_done) {
      used += static_cast<std::size_t>(llhttp_get_error_pos(&m_parser) - at);
      llhttp_resume(&m_parser);
      return {state::complete, used};
    }
    if (err != HPE_OK) {
      return {state::error, 0};
    }
    if (!m_headers_done) {
      m_header_bytes += piece; // all of it belonged to the header section
    }
    used += piece;
    if (used == n) {
      return {state::need_more, n};
    }
  }
}

void request_parser::next() noexcept {
  m_header_bytes = 0;
  m_started = false;
  m_headers_done = false;
  m_message_done = false;
  m_error_status = 0;
}

const llhttp_settings_t& request_parser::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t v;
    llhttp_settings_init(&v);
    v.on_message_begin = &on_message_begin;
    v.on_url = &on_url;
    v.on_header_field = &on_header_field;
    v.on_header_value = &on_header_value;
    v.on_header_field_complete = &on_header_field_complete;
    v.on_headers_complete = &on_headers_complete;
    v.on_chunk_header = &on_chunk_header;
    v.on_body = &on_body;
    v.on_message_complete = &on_message_complete;
    return v;
  }();
  return s;
}

int request_parser::on_message_begin(llhttp_t* p) {
  request_parser& c = self(p);
  c.m_started = true;
  c.m_req.m_method.clear();
  c.m_req.m_target.clear();
  c.m_req.m_headers.clear();
  c.m_req.m_body.clear();
  c.m_field.clear();
  c.m_value.clear();
  c.m_in_value = false;
  c.m_value_at_end = false;
  c.m_crlf_pending = 0;
  c.m_expect_continue = false;
  c.m_te_field = false;
  c.m_expect_seen = false;
  c.m_expect_100 = false;
  return 0;
}

int request_parser::on_url(llhttp_t* p, const char* at, std::size_t n) {
  request_parser& c = self(p);
  c.m_req.m_target.append(at, n);
  return 0;
}

void request_parser::end_field() {
  if (m_headers_done) {
    // A field of a chunked body's trailer section: checked like a header field, never merged
    // into the request's headers (RFC 9110, 6.5.1). Merged, a trailer "Content-Length" beside
    // the header "Transfer-Encoding" made a completed request carry both framings (found by the
    // fuzz target).
    m_field.clear();
    m_value.clear();
    m_in_value = false;
    return;
  }
  // The fields on_headers_complete acts on, noted as they end (no search of the list after).
  if (iequals(m_field, "Transfer-Encoding")) {
    m_te_field = true;
  } else if (!m_expect_seen && iequals(m_field, "Expect")) {
    m_expect_seen = true;
    m_expect_100 = iequals(m_value, "100-continue");
  }
  m_req.m_headers.add(std::move(m_field), std::move(m_value));
  m_field.clear();
  m_value.clear();
  m_in_value = false;
}

int request_parser::on_header_field(llhttp_t* p, const char* at, std::size_t n) {
  request_parser& c = self(p);
  if (c.m_in_value) {
    c.end_field();
  }
  // llhttp 8 lets "Name : value" through (the space ends up in the name): refuse any name that
  // is not a token.
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_token_char(at[i])) {
      c.m_error_status = 400;
      return -1;
    }
  }
  c.m_field.append(at, n);
  return 0;
}

int request_parser::on_header_field_complete(llhttp_t* p) {
  request_parser& c = self(p);
  if (c.m_field.empty()) {
    c.m_error_status = 400; // ": value"
    return -1;
  }
  return 0;
}

int request_parser::on_header_value(llhttp_t* p, const char* at, std::size_t n) {
  request_parser& c = self(p);
  // A second span of the same value that does not continue one cut by the end of the bytes
  // parsed is an obs-fold (a line starting with whitespace), which llhttp 8 accepts: refuse it.
  if (c.m_in_value && !(c.m_value_at_end && at == c.m_exec_begin)) {
    c.m_error_status = 400;
    return -1;
  }
  c.m_value_at_end = at + n == c.m_exec_end;
  c.m_in_value = true;
  c.m_value.append(at, n);
  return 0;
}

int request_parser::on_headers_complete(llhttp_t* p) {
  request_parser& c = self(p);
  if (c.m_in_value || !c.m_field.empty()) {
    c.end_field();
  }
  c.m_headers_done = true;
  c.m_crlf_pending = 0;
  c.m_req.m_method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(p)));
  c.m_req.m_major = llhttp_get_http_major(p);
  c.m_req.m_minor = llhttp_get_http_minor(p);
  if (c.m_req.m_major != 1) {
    // HTTP/0.9 (a request line without a version) is malformed here; 2.0 and later over this
    // text framing are versions this server does not speak.
    c.m_error_status = c.m_req.m_major == 0 ? 400 : 505;
    return -1;
  }
  // Both framings at once is how requests are smuggled past a proxy: refuse, whatever llhttp
  // would make of it. A Transfer-Encoding field counts by its presence: llhttp sets no flag for
  // an empty one ("Transfer-Encoding:" beside a Content-Length got through: found by the fuzz
  // target), and an empty or unrecognized list is malformed anyway.
  const bool te_field = c.m_te_field;
  if (((p->flags & F_CONTENT_LENGTH) != 0 && (te_field || (p->flags & F_TRANSFER_ENCODING) != 0)) ||
      (te_field && (p->flags & F_TRANSFER_ENCODING) == 0)) {
    c.m_error_status = 400;
    return -1;
  }
  if ((p->flags & F_CONTENT_LENGTH) != 0) {
    if (p->content_length > c.m_limits.max_body_bytes) {
      c.m_error_status = 413;
      return -1;
    }
    // Grown as the body arrives; reserved only up to a small bound, so a claim costs nothing
    // until its bytes come (a client that sends headers only reserves no more than this).
    c.m_req.m_body.reserve(
        static_cast<std::size_t>(std::min<std::uint64_t>(p->content_length, body_reserve_max)));
  }
  const bool has_body =
      (p->flags & F_CHUNKED) != 0 || ((p->flags & F_CONTENT_LENGTH) != 0 && p->content_length > 0);
  if (c.m_expect_100) {
    c.m_expect_continue = has_body && c.m_req.m_minor >= 1;
  }
  return 0;
}

int request_parser::on_chunk_header(llhttp_t* p) {
  request_parser& c = self(p);
  // The chunk's size is known before its data: refuse one the body limit cannot hold now, not
  // after that much data has arrived (or never, from a client that sends nothing more).
  if (p->content_length > c.m_limits.max_body_bytes - c.m_req.m_body.size()) {
    c.m_error_status = 413;
    return -1;
  }
  return 0;
}

int request_parser::on_body(llhttp_t* p, const char* at, std::size_t n) {
  request_parser& c = self(p);
  if (c.m_req.m_body.size() + n > c.m_limits.max_body_bytes) {
    c.m_error_status = 413;
    return -1;
  }
  c.m_req.m_body.append(at, n);
  if ((p->flags & F_CHUNKED) != 0 && p->content_length == 0) {
    // The chunk's data ends here: llhttp 8 does not insist on the CRLF after it; check it.
    c.m_crlf_pending = 2;
    return c.check_crlf(at + n) ? 0 : -1;
  }
  return 0;
}

bool request_parser::check_crlf(const char* from) {
  while (m_crlf_pending > 0 && from < m_exec_end) {
    if (*from != "\r\n"[2 - m_crlf_pending]) {
      m_error_status = 400;
      return false;
    }
    ++from;
    --m_crlf_pending;
  }
  return true;
}

int request_parser::on_message_complete(llhttp_t* p) {
  request_parser& c = self(p);
  c.m_req.m_keep_alive = llhttp_should_keep_alive(p) != 0;
  c.m_message_done = true;
  // Stop after this request: the next one (pipelined) is parsed once this one is answered.
  return HPE_PAUSED;
}

} // namespace zokio::http::detail
