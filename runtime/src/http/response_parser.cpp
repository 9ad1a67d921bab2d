#include "http/response_parser.hpp"

#include <utility>

namespace zokio::http::detail {

response_parser::response_parser(std::size_t max_bytes, bool is_head) noexcept
    : m_max(max_bytes), m_head(is_head) {
  llhttp_init(&m_parser, HTTP_RESPONSE, &settings());
  m_parser.data = this;
}

response_parser::step response_parser::parse(const char* data, std::size_t n) {
  const llhttp_errno_t err = llhttp_execute(&m_parser, data, n);
  if (err == HPE_PAUSED && m_done) {
    return {state::complete, static_cast<std::size_t>(llhttp_get_error_pos(&m_parser) - data)};
  }
  if (err != HPE_OK) {
    return {state::error, 0};
  }
  return {state::need_more, n};
}

bool response_parser::finish() {
  // EOF ends a response framed by the end of the connection.
  const llhttp_errno_t fin = llhttp_finish(&m_parser);
  if ((fin == HPE_OK || fin == HPE_PAUSED) && m_done) {
    m_keep_alive = false;
    return true;
  }
  return false;
}

bool response_parser::count(std::size_t n) noexcept {
  m_bytes += n;
  m_too_big = m_too_big || m_bytes > m_max;
  return !m_too_big;
}

void response_parser::end_field() {
  m_resp.headers.add(std::move(m_field), std::move(m_value));
  m_field.clear();
  m_value.clear();
  m_in_value = false;
}

void response_parser::reset_response() {
  m_resp = client_response{};
  m_field.clear();
  m_value.clear();
  m_in_value = false;
  m_done = false;
}

const llhttp_settings_t& response_parser::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t v;
    llhttp_settings_init(&v);
    v.on_message_begin = [](llhttp_t* p) {
      self(p).reset_response();
      return 0;
    };
    v.on_header_field = [](llhttp_t* p, const char* at, std::size_t n) {
      response_parser& c = self(p);
      if (c.m_in_value) {
        c.end_field();
      }
      if (!c.count(n)) {
        return -1;
      }
      c.m_field.append(at, n);
      return 0;
    };
    v.on_header_value = [](llhttp_t* p, const char* at, std::size_t n) {
      response_parser& c = self(p);
      c.m_in_value = true;
      if (!c.count(n)) {
        return -1;
      }
      c.m_value.append(at, n);
      return 0;
    };
    v.on_headers_complete = [](llhttp_t* p) {
      response_parser& c = self(p);
      if (c.m_in_value || !c.m_field.empty()) {
        c.end_field();
      }
      c.m_resp.status = llhttp_get_status_code(p);
      // llhttp takes any three digits; RFC 9110 (15) makes a status outside 100-599 invalid, and
      // a client that handed back "020" or "999" as a status would pass the server's garbage on
      // (found by tests/fuzz/http_response_fuzz.cpp).
      if (c.m_resp.status < 100 || c.m_resp.status > 599) {
        return -1;
      }
      // A HEAD response has no body, whatever its Content-Length says.
      return c.m_head ? 1 : 0;
    };
    v.on_body = [](llhttp_t* p, const char* at, std::size_t n) {
      response_parser& c = self(p);
      if (!c.count(n)) {
        return -1;
      }
      c.m_resp.body.append(at, n);
      return 0;
    };
    v.on_message_complete = [](llhttp_t* p) {
      response_parser& c = self(p);
      if (c.m_resp.status >= 100 && c.m_resp.status < 200) {
        return 0; // an interim response (100 Continue): the final one follows
      }
      c.m_keep_alive = llhttp_should_keep_alive(p) != 0;
      c.m_done = true;
      return static_cast<int>(HPE_PAUSED);
    };
    return v;
  }();
  return s;
}

} // namespace zokio::http::detail
