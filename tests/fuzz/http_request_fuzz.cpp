// Fuzz target: the HTTP server's request framing (runtime/src/http/request_parser.cpp: llhttp plus
// Zokio's own checks and limits), differentially. The input is a byte stream a client could send
// on one connection (pipelined requests). It is parsed delivered whole, then split at every byte
// boundary (inputs up to 192 bytes), one byte per read, and in pseudo-random pieces; every
// delivery must give the same requests, the same refusal status and the same end state, since a
// network may cut a stream anywhere. Each read is copied into a buffer of exactly its size, so
// ASan catches a parser that looks past the bytes it was given. Completed requests must also hold
// the server's promises: method known, HTTP/1.x, body within the limit, never both
// Content-Length and Transfer-Encoding.
//
// Built with libFuzzer in the sanitizer tree (tests/fuzz/CMakeLists.txt); every tree also builds
// a replay of the committed corpus (tests/fuzz/corpus/http_request, tests/http/corpus).

#include "http/request_parser.hpp"

#include "splits.hpp"

#include <zokio/http/request.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

using zokio::http::detail::request_parser;

constexpr request_parser::limits fuzz_limits{.max_header_bytes = 1024, .max_body_bytes = 4096};

struct outcome {
  std::vector<std::string> requests; // each completed request, serialized
  int error = 0;                     // the refusal status, 0 if none
  bool closed = false;               // a request without keep-alive ended the connection
  bool mid_request = false;          // the stream ended inside a request
  bool operator==(const outcome&) const = default;
};

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "http_request_fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

std::string serialize(const zokio::http::request& r, bool expect_continue) {
  std::string s;
  s += r.method();
  s += ' ';
  s += r.target();
  s += " HTTP/" + std::to_string(r.version_major()) + '.' + std::to_string(r.version_minor());
  s += r.keep_alive() ? " keep-alive" : " close";
  s += expect_continue ? " expect-continue\n" : "\n";
  for (const auto& [name, value] : r.headers()) {
    s += name + ": " + value + '\n';
  }
  s += "body " + std::to_string(r.body().size()) + ": " + r.body() + '\n';
  return s;
}

void check_promises(const zokio::http::request& r) {
  const std::string text = serialize(r, false);
  if (r.method().empty()) {
    fail("a completed request without a method", text);
  }
  if (r.version_major() != 1) {
    fail("a completed request that is not HTTP/1.x", text);
  }
  if (r.body().size() > fuzz_limits.max_body_bytes) {
    fail("a completed request whose body is over the limit", text);
  }
  if (r.header("Content-Length") && r.header("Transfer-Encoding")) {
    fail("a completed request with both Content-Length and Transfer-Encoding", text);
  }
}

/// Feeds `data` cut at `cuts` (ascending offsets strictly inside it), one read per piece.
outcome deliver(const std::uint8_t* data, std::size_t size, const std::vector<std::size_t>& cuts) {
  outcome out;
  request_parser p(fuzz_limits);
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : size;
    const std::size_t len = to - from;
    // Exactly `len` bytes on the heap: reading one past them is an ASan report.
    std::unique_ptr<char[]> piece(new char[len == 0 ? 1 : len]);
    if (len > 0) {
      std::memcpy(piece.get(), data + from, len);
    }
    from = to;
    std::size_t pos = 0;
    for (;;) {
      const request_parser::step st = p.parse(piece.get() + pos, len - pos);
      if (st.consumed > len - pos) {
        fail("the parser consumed more bytes than it was given", std::to_string(st.consumed));
      }
      if (st.st == request_parser::state::error) {
        out.error = p.error_status();
        return out;
      }
      pos += st.consumed;
      if (st.st == request_parser::state::need_more) {
        if (pos != len) {
          fail("need_more with bytes left over", std::to_string(len - pos));
        }
        break;
      }
      check_promises(p.req());
      out.requests.push_back(serialize(p.req(), p.expect_continue()));
      if (!p.req().keep_alive()) {
        out.closed = true; // the server answers and closes: later bytes are never parsed
        return out;
      }
      p.next();
      if (pos == len) {
        break;
      }
    }
  }
  out.mid_request = p.started();
  return out;
}

std::string describe(const outcome& o) {
  std::string s = "error " + std::to_string(o.error) + (o.closed ? " closed" : "") +
                  (o.mid_request ? " mid-request" : "") + '\n';
  for (const std::string& r : o.requests) {
    s += "--\n" + r;
  }
  return s;
}

void expect_same(const outcome& whole, const outcome& split, const std::string& how) {
  if (!(whole == split)) {
    fail(("delivered " + how + ", the stream parsed differently than delivered whole").c_str(),
         "whole:\n" + describe(whole) + "split:\n" + describe(split));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) {
    return 0;
  }
  const outcome whole = deliver(data, size, {});
  zokio::fuzz::for_each_split(data, size,
                              [&](const std::vector<std::size_t>& cuts, const std::string& how) {
                                expect_same(whole, deliver(data, size, cuts), how);
                              });
  return 0;
}
