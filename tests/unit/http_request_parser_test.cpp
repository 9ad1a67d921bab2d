#include "http/request_parser.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

// The server's request framing (runtime/src/http/request_parser.cpp) at the edges of its limits,
// fed directly, with no socket: the header-bytes limit at its exact boundary, both framings at
// once, and a chunk size the body limit cannot hold. Each case is delivered whole, one byte per
// read and cut at every offset, since a network may cut a stream anywhere and the verdict must
// not depend on where.

namespace {

using zokio::http::detail::request_parser;

constexpr request_parser::limits small{.max_header_bytes = 256, .max_body_bytes = 1000};

struct verdict {
  int status = 0;        // 0: not refused
  bool complete = false; // a whole request came out
  std::string body;
};

/// Feeds `bytes` cut at `cuts` (ascending offsets strictly inside it).
verdict feed(const std::string& bytes, const std::vector<std::size_t>& cuts,
             request_parser::limits l = small) {
  request_parser p(l);
  verdict v;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : bytes.size();
    const std::string piece = bytes.substr(from, to - from);
    from = to;
    const request_parser::step st = p.parse(piece.data(), piece.size());
    if (st.st == request_parser::state::error) {
      v.status = p.error_status();
      return v;
    }
    if (st.st == request_parser::state::complete) {
      v.complete = true;
      v.body = p.req().body();
      return v;
    }
  }
  return v;
}

/// The same verdict delivered whole, one byte per read, and cut once at every offset.
void expect_everywhere(const std::string& bytes, int status, bool complete, const char* what,
                       request_parser::limits l = small) {
  SCOPED_TRACE(what);
  const verdict whole = feed(bytes, {}, l);
  EXPECT_EQ(whole.status, status) << "delivered whole";
  EXPECT_EQ(whole.complete, complete) << "delivered whole";
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < bytes.size(); ++i) {
    every.push_back(i);
  }
  const verdict bytewise = feed(bytes, every, l);
  EXPECT_EQ(bytewise.status, status) << "one byte per read";
  EXPECT_EQ(bytewise.complete, complete) << "one byte per read";
  for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
    const verdict split = feed(bytes, {cut}, l);
    ASSERT_EQ(split.status, status) << "cut at " << cut;
    ASSERT_EQ(split.complete, complete) << "cut at " << cut;
  }
}

/// A request whose header section (request line through the blank line's CRLF) is `size` bytes:
/// `start`, padding in an X-Pad field, the blank line, then `body`.
std::string request_of_header_size(std::size_t size,
                                   const std::string& start = "GET / HTTP/1.1\r\nHost: x\r\n",
                                   const std::string& body = "") {
  const std::string field = "X-Pad: ";
  const std::string end = "\r\n\r\n";
  EXPECT_GT(size, start.size() + field.size() + end.size());
  return start + field + std::string(size - start.size() - field.size() - end.size(), 'p') + end +
         body;
}

// --- the header-bytes limit, to the byte ------------------------------------------------------

// The limit is exact: a header section (request line, header fields and the blank line's CRLF)
// of max_header_bytes gets in, one byte more is refused with 431, however the bytes are cut into
// reads (whole, one byte per read, and cut once at every offset).
TEST(request_parser, the_header_limit_holds_to_the_byte) {
  const std::size_t max = small.max_header_bytes;
  for (const std::size_t size : {max - 2, max - 1, max}) {
    SCOPED_TRACE(size);
    expect_everywhere(request_of_header_size(size), 0, true, "a header section within the limit");
  }
  for (const std::size_t size : {max + 1, max + 2, 2 * max}) {
    SCOPED_TRACE(size);
    expect_everywhere(request_of_header_size(size), 431, false, "a header section over the limit");
  }
}

// A body behind a header section at the limit is the body, not header bytes; one header byte
// more is still 431, and the body that follows changes nothing.
TEST(request_parser, a_body_after_headers_at_the_limit_does_not_count) {
  const std::size_t max = small.max_header_bytes;
  const std::string start = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n";
  const std::string at_limit = request_of_header_size(max, start, "hello");
  ASSERT_EQ(at_limit.size(), max + 5);
  expect_everywhere(at_limit, 0, true, "headers at the limit and a body");
  EXPECT_EQ(feed(at_limit, {}).body, "hello");
  expect_everywhere(request_of_header_size(max + 1, start, "hello"), 431, false,
                    "headers one byte over the limit and a body");
}

// A client that never ends its headers is refused once it passes the limit, not kept waiting.
TEST(request_parser, endless_headers_are_refused_at_the_limit) {
  const std::string endless =
      "GET / HTTP/1.1\r\nX-Pad: " + std::string(small.max_header_bytes, 'p');
  expect_everywhere(endless, 431, false, "headers that never end");
  // Its first max_header_bytes are no verdict yet: the byte after them is the one refused.
  expect_everywhere(endless.substr(0, small.max_header_bytes), 0, false,
                    "unfinished headers at the limit");
}

// --- both framings at once ----------------------------------------------------------------------

TEST(request_parser, transfer_encoding_beside_content_length_is_refused) {
  const char* cases[] = {
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
      "0\r\n\r\n",
      // An empty Transfer-Encoding sets no llhttp flag: refused by its presence (found by the
      // fuzz target).
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\nContent-Length: 5\r\n\r\nhello",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: \r\n\r\nhello",
      // An empty Transfer-Encoding alone is malformed too.
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n",
  };
  for (const char* c : cases) {
    expect_everywhere(c, 400, false, c);
  }
  // Each framing alone is fine.
  expect_everywhere("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 0, true,
                    "Content-Length alone");
  expect_everywhere("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n0\r\n\r\n",
                    0, true, "chunked alone");
}

// A chunked body's trailer fields are parsed and dropped, not merged into the headers: a
// trailer "Content-Length" must not make a completed request carry both framings (found by the
// fuzz target, whose promise is that no completed request has both).
TEST(request_parser, trailer_fields_do_not_join_the_headers) {
  const std::string bytes = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n0\r\nX-Sum: 1\r\nContent-Length: 3\r\n\r\n";
  expect_everywhere(bytes, 0, true, "trailers");
  request_parser p(small);
  const request_parser::step st = p.parse(bytes.data(), bytes.size());
  ASSERT_EQ(st.st, request_parser::state::complete);
  EXPECT_EQ(p.req().body(), "abc");
  EXPECT_FALSE(p.req().header("Content-Length"));
  EXPECT_FALSE(p.req().header("X-Sum"));
  EXPECT_EQ(p.req().header("Transfer-Encoding").value_or(""), "chunked");
  // A malformed trailer field is still refused.
  expect_everywhere("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "0\r\nBad Name: 1\r\n\r\n",
                    400, false, "a trailer name that is not a token");
}

// --- a chunk the body limit cannot hold
// -----------------------------------------------------------

// Refused with 413 from the chunk's size line, before any of its data has come (a client that
// announces a huge chunk and sends nothing more must not be waited for).
TEST(request_parser, a_chunk_size_over_the_body_limit_is_refused_before_its_data) {
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  expect_everywhere(head + "3e9\r\n", 413, false, "one chunk of max_body_bytes + 1");
  expect_everywhere(head + "ffffffffffffffff\r\n", 413, false, "a chunk of 2^64 - 1");
  // What the body already holds counts: 600 + 401 bytes is over 1000.
  expect_everywhere(head + "258\r\n" + std::string(600, 'a') + "\r\n191\r\n", 413, false,
                    "a second chunk that would pass the limit");
  // Exactly the limit, over two chunks, gets in.
  const verdict v = feed(head + "258\r\n" + std::string(600, 'a') + "\r\n190\r\n" +
                             std::string(400, 'b') + "\r\n0\r\n\r\n",
                         {});
  EXPECT_EQ(v.status, 0);
  ASSERT_TRUE(v.complete);
  EXPECT_EQ(v.body.size(), 1000u);
}

} // namespace
