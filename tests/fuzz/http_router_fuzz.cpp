// Fuzz target: the HTTP server's router (runtime/src/http/message.cpp, http::router), against a
// reference matcher written here as plainly as possible. The input is a script, one command a
// line:
//   R METHOD PATH   route(METHOD, PATH) with a handler tagged by its line number
//   F METHOD PATH   find(METHOD, PATH)
// (METHOD ends at the first space, PATH is the rest of the line and may hold any byte but '\n';
// other lines are skipped). Each route must be refused (std::invalid_argument) exactly when the
// reference refuses it, and each find must agree with the reference: the handler of the exact
// route, else GET's for HEAD, else 405 with the path's methods in the order they were first
// routed (and HEAD after them when GET is there without HEAD), else 404. Every Allow value must
// be a list of tokens a header can carry.
//
// Built with libFuzzer in the sanitizer tree (tests/fuzz/CMakeLists.txt); every tree also builds
// a replay of the committed corpus (tests/fuzz/corpus/http_router).

#include <zokio/http/router.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using zokio::http::router;

/// A handler that knows which line routed it; never called.
struct tagged {
  std::size_t line;
  zokio::task<zokio::http::response> operator()(const zokio::http::request&) const { std::abort(); }
};

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "http_router_fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

bool is_tchar(char ch) {
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

/// What the router promises to accept: a token for a method, and a path that starts with '/'
/// and that a request's path can equal (no space, control byte, '?' or '#'; llhttp takes raw
/// UTF-8, so bytes from 0x80 are allowed).
bool reference_accepts(std::string_view method, std::string_view path) {
  if (method.empty() || path.empty() || path.front() != '/') {
    return false;
  }
  for (char ch : method) {
    if (!is_tchar(ch)) {
      return false;
    }
  }
  for (char ch : path) {
    const auto u = static_cast<unsigned char>(ch);
    if (u <= 0x20 || u == 0x7f || ch == '?' || ch == '#') {
      return false;
    }
  }
  return true;
}

struct reference_route {
  std::string method;
  std::string path;
  std::size_t line;
};

struct reference_match {
  std::size_t line = 0; // of the handler's route; 0: none
  int status = 200;
  std::string allow;
};

reference_match reference_find(const std::vector<reference_route>& routes, std::string_view method,
                               std::string_view path) {
  reference_match m;
  for (const reference_route& r : routes) {
    if (r.path == path && r.method == method) {
      m.line = r.line;
      return m;
    }
  }
  if (method == "HEAD") {
    for (const reference_route& r : routes) {
      if (r.path == path && r.method == "GET") {
        m.line = r.line;
        return m;
      }
    }
  }
  std::vector<std::string> methods;
  for (const reference_route& r : routes) {
    if (r.path == path) {
      methods.push_back(r.method);
    }
  }
  if (methods.empty()) {
    m.status = 404;
    return m;
  }
  bool get = false;
  bool head = false;
  for (const std::string& x : methods) {
    get = get || x == "GET";
    head = head || x == "HEAD";
  }
  if (get && !head) {
    methods.push_back("HEAD");
  }
  for (const std::string& x : methods) {
    m.allow += (m.allow.empty() ? "" : ", ") + x;
  }
  m.status = 405;
  return m;
}

std::string describe(std::size_t line, std::string_view method, std::string_view path) {
  return "line " + std::to_string(line) + ": \"" + std::string(method) + "\" \"" +
         std::string(path) + "\"";
}

/// A 405's Allow: "TOKEN, TOKEN, ..." and nothing a header could not carry.
bool valid_allow(std::string_view allow) {
  if (allow.empty()) {
    return false;
  }
  std::size_t i = 0;
  for (;;) {
    const std::size_t start = i;
    while (i < allow.size() && is_tchar(allow[i])) {
      ++i;
    }
    if (i == start) {
      return false;
    }
    if (i == allow.size()) {
      return true;
    }
    if (allow.substr(i, 2) != ", ") {
      return false;
    }
    i += 2;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16 * 1024) {
    return 0;
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  router r;
  std::vector<reference_route> routes;
  std::size_t line = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view l = text.substr(pos, end - pos);
    pos = end + 1;
    ++line;
    if (l.size() < 2 || (l[0] != 'R' && l[0] != 'F') || l[1] != ' ') {
      continue;
    }
    const std::string_view rest = l.substr(2);
    const std::size_t sp = rest.find(' ');
    const std::string_view method = rest.substr(0, sp);
    const std::string_view path = sp == std::string_view::npos ? "" : rest.substr(sp + 1);
    if (l[0] == 'R') {
      bool refused = false;
      try {
        r.route(std::string(method), std::string(path), tagged{line});
      } catch (const std::invalid_argument&) {
        refused = true;
      }
      if (refused == reference_accepts(method, path)) {
        fail(refused ? "route refused what it should take" : "route took what it should refuse",
             describe(line, method, path));
      }
      if (!refused) {
        bool replaced = false;
        for (reference_route& x : routes) {
          if (x.method == method && x.path == path) {
            x.line = line;
            replaced = true;
          }
        }
        if (!replaced) {
          routes.push_back({std::string(method), std::string(path), line});
        }
      }
      continue;
    }
    const router::match got = r.find(method, path);
    const reference_match want = reference_find(routes, method, path);
    std::size_t got_line = 0;
    if (got.h != nullptr) {
      const tagged* t = got.h->target<tagged>();
      if (t == nullptr) {
        fail("find gave a handler that was never routed", describe(line, method, path));
      }
      got_line = t->line;
    }
    const std::string detail = describe(line, method, path) + "\nwant line " +
                               std::to_string(want.line) + " status " +
                               std::to_string(want.status) + " allow \"" + want.allow +
                               "\"\ngot  line " + std::to_string(got_line) + " status " +
                               std::to_string(got.status) + " allow \"" + got.allow + "\"";
    if (got_line != want.line) {
      fail("find gave another handler than the reference", detail);
    }
    if (got.h == nullptr && got.status != want.status) {
      fail("find gave another status than the reference", detail);
    }
    if (got.h == nullptr && got.status == 405 && got.allow != want.allow) {
      fail("a 405's Allow differs from the reference", detail);
    }
    if (got.h == nullptr && got.status == 405 && !valid_allow(got.allow)) {
      fail("a 405's Allow is not a list of methods", detail);
    }
  }
  return 0;
}
