#pragma once

#include <zokio/http/request.hpp>
#include <zokio/http/response.hpp>
#include <zokio/task/task.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace zokio::http {

/// A request handler: `zokio::task<http::response>(const http::request&)`. The request lives
/// until the returned task ends. A handler that throws gets a 500 for its request; the
/// connection stays usable. A lambda with captures must not itself be the coroutine unless the
/// router (which keeps the lambda) outlives every request: the server's router does.
using handler = std::function<task<response>(const request&)>;

/// Exact-path routing by method and path (the target without its query).
///
/// - A path with no route: 404.
/// - A path routed for other methods: 405 with `Allow` listing them.
/// - HEAD on a path with a GET route runs the GET handler; the server sends its headers only.
///
/// Thread-safety: add routes before serving; lookups are then read-only, from any worker.
class router {
public:
  /// Adds (or replaces) the handler of `method` on `path`. `method` must be a token ("GET",
  /// "PURGE"; case matters) and `path` must start with '/' and hold no space, control byte, '?'
  /// or '#' (`std::invalid_argument` otherwise): anything else could never match a request. Raw
  /// UTF-8 is fine ("/café"): llhttp passes it through.
  void route(std::string method, std::string path, handler h);

  /// What `find` found.
  struct match {
    const handler* h = nullptr; ///< null: no handler; `status` says why
    int status = 200;           ///< 404 or 405 when `h` is null
    std::string allow;          ///< for 405: "GET, HEAD, POST"
  };
  /// Looks up `method` on `path`.
  match find(std::string_view method, std::string_view path) const;

private:
  struct entry {
    std::string method;
    std::string path;
    handler h;
  };
  std::vector<entry> m_routes;
};

} // namespace zokio::http
