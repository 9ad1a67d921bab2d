// Fuzz target: the HTTP client's response framing (runtime/src/http/response_parser.cpp: llhttp
// reading one response, interim 1xx skipped, within a byte limit), differentially. The first
// input byte says what the client asked and saw (bit 0: the request was HEAD; bit 1: the server
// closed the connection after the bytes); the rest is what the server sent. It is parsed
// delivered whole, then split at every byte boundary (inputs up to 192 bytes), one byte per read,
// and in pseudo-random pieces; every delivery must give the same response (status, fields, body,
// keep-alive), the same failure, and end at the same byte, since a network may cut a stream
// anywhere. Each read is copied into a buffer of exactly its size, so ASan catches a parser that
// looks past the bytes it was given. A complete response must hold the client's promises: a final
// status (200 to 599), a body within the limit, no body for HEAD, and no keep-alive when it was
// framed by the end of the connection.
//
// Built with libFuzzer in the sanitizer tree (tests/fuzz/CMakeLists.txt); every tree also builds
// a replay of the committed corpus (tests/fuzz/corpus/http_response).

#include "http/response_parser.hpp"

#include "splits.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

using zokio::http::detail::response_parser;

constexpr std::size_t fuzz_max_bytes = 2048;

struct outcome {
  std::string response; // the complete response, serialized; empty if none
  bool failed = false;  // refused (bad message or over the limit)
  bool too_big = false; // refused for the limit
  bool at_eof = false;  // completed by the end of the connection
  std::size_t end = 0;  // the offset where a response completed
  bool operator==(const outcome&) const = default;
};

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "http_response_fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

std::string serialize(const response_parser& p) {
  const zokio::http::client_response& r = p.resp();
  std::string s = std::to_string(r.status) + (p.keep_alive() ? " keep-alive\n" : " close\n");
  for (const auto& [name, value] : r.headers) {
    s += name + ": " + value + '\n';
  }
  s += "body " + std::to_string(r.body.size()) + ": " + r.body + '\n';
  return s;
}

void check_promises(const response_parser& p, bool head, bool at_eof) {
  const zokio::http::client_response& r = p.resp();
  const std::string text = serialize(p);
  if (r.status < 200 || r.status > 599) {
    fail("a complete response without a final status", text);
  }
  if (r.body.size() > fuzz_max_bytes) {
    fail("a complete response whose body is over the limit", text);
  }
  if (head && !r.body.empty()) {
    fail("a complete response to HEAD with a body", text);
  }
  if (at_eof && p.keep_alive()) {
    fail("a response framed by the end of the connection lets the connection live", text);
  }
}

/// Feeds `data` cut at `cuts` (ascending offsets strictly inside it), one read per piece, then
/// the end of the connection when `eof`.
outcome deliver(const std::uint8_t* data, std::size_t size, const std::vector<std::size_t>& cuts,
                bool head, bool eof) {
  outcome out;
  response_parser p(fuzz_max_bytes, head);
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : size;
    const std::size_t len = to - from;
    if (len == 0) {
      break; // a read of 0 bytes is the end of the connection, not a piece
    }
    // Exactly `len` bytes on the heap: reading one past them is an ASan report.
    std::unique_ptr<char[]> piece(new char[len]);
    std::memcpy(piece.get(), data + from, len);
    const response_parser::step st = p.parse(piece.get(), len);
    if (st.st == response_parser::state::error) {
      out.failed = true;
      out.too_big = p.too_big();
      return out;
    }
    if (st.consumed > len) {
      fail("the parser consumed more bytes than it was given", std::to_string(st.consumed));
    }
    if (st.st == response_parser::state::complete) {
      check_promises(p, head, false);
      out.response = serialize(p);
      out.end = from + st.consumed;
      return out;
    }
    if (st.consumed != len) {
      fail("need_more with bytes left over", std::to_string(len - st.consumed));
    }
    from = to;
  }
  if (eof && p.finish()) {
    check_promises(p, head, true);
    out.response = serialize(p);
    out.at_eof = true;
    out.end = size;
  }
  return out;
}

std::string describe(const outcome& o) {
  return std::string(o.failed ? "failed" : "") + (o.too_big ? " too-big" : "") +
         (o.at_eof ? " at-eof" : "") + " end " + std::to_string(o.end) + '\n' + o.response;
}

void expect_same(const outcome& whole, const outcome& split, const std::string& how) {
  if (!(whole == split)) {
    fail(("delivered " + how + ", the response parsed differently than delivered whole").c_str(),
         "whole:\n" + describe(whole) + "split:\n" + describe(split));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 64 * 1024) {
    return 0;
  }
  const bool head = (data[0] & 1) != 0;
  const bool eof = (data[0] & 2) != 0;
  ++data;
  --size;
  const outcome whole = deliver(data, size, {}, head, eof);
  zokio::fuzz::for_each_split(data, size,
                              [&](const std::vector<std::size_t>& cuts, const std::string& how) {
                                expect_same(whole, deliver(data, size, cuts, head, eof), how);
                              });
  return 0;
}
