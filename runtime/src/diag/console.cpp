#include "diag/console_server.hpp"

#include "runtime/worker.hpp"

#include <uv.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

// The live console: a Unix socket served by a thread of its own with its own libuv loop (not on
// worker 0: see docs/decisions.md, "The console runs on a thread of its own"). One request a line,
// one JSON document a line back:
//
//   snapshot [long_wait_ms=N] [stable_for_ms=N] [handles_wait_ms=N] [detectors=0|1]
//
// Anything else (an unknown word, a bad number, a line longer than 4 KiB) closes that connection
// and nothing else.

namespace zokio::detail {

namespace {

constexpr std::size_t max_line = 4096;

class console_server {
public:
  console_server(runtime_impl& rt, std::string path);
  ~console_server() { stop(); }
  console_server(const console_server&) = delete;
  console_server& operator=(const console_server&) = delete;

  void stop() noexcept;

private:
  struct client {
    uv_pipe_t pipe{};
    console_server* owner = nullptr;
    std::string in;
    bool closing = false;
  };
  struct write_req {
    uv_write_t req{};
    std::string data;
  };

  void close_client(client* c) noexcept;
  /// Answers one request line; false when it is malformed.
  bool serve(client* c, std::string_view line);
  void on_stop() noexcept;

  runtime_impl& m_rt;
  std::string m_path;
  uv_loop_t m_loop{};
  uv_pipe_t m_server{};
  uv_async_t m_stop{};
  std::set<client*> m_clients; // the console thread's
  wait_history m_history;
  handle_census m_census;
  std::thread m_thread;
  bool m_stopped = false; // the owner's (start/stop under g_mutex)
};

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw std::runtime_error("zokio: console: cannot listen on " + path + ": " + why);
}

/// A socket file left by a program that no longer listens is removed; a live one, or anything
/// that is not a socket, is an error.
void clear_stale(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return;
  }
  if (!S_ISSOCK(st.st_mode)) {
    fail(path, "the path exists and is not a socket");
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail(path, std::strerror(errno));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  if (live) {
    fail(path, "another program serves a console there");
  }
  ::unlink(path.c_str());
}

console_server::console_server(runtime_impl& rt, std::string path)
    : m_rt(rt), m_path(std::move(path)), m_census(rt) {
  if (m_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    fail(m_path, "the path is longer than a Unix socket address allows (107 bytes)");
  }
  clear_stale(m_path);
  if (const int rc = uv_loop_init(&m_loop); rc != 0) {
    fail(m_path, uv_strerror(rc));
  }
  int rc = uv_pipe_init(&m_loop, &m_server, 0);
  if (rc == 0) {
    m_server.data = this;
    rc = uv_pipe_bind(&m_server, m_path.c_str());
    // Owner-only before anyone can connect: connecting needs listen(), which comes after.
    if (rc == 0 && ::chmod(m_path.c_str(), S_IRUSR | S_IWUSR) != 0) {
      rc = uv_translate_sys_error(errno);
    }
    if (rc == 0) {
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(&m_server), 16, [](uv_stream_t* s, int status) {
        auto* self = static_cast<console_server*>(s->data);
        if (status != 0) {
          return;
        }
        auto* c = new client;
        c->owner = self;
        uv_pipe_init(&self->m_loop, &c->pipe, 0);
        c->pipe.data = c;
        if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
          uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
                   [](uv_handle_t* h) { delete static_cast<client*>(h->data); });
          return;
        }
        self->m_clients.insert(c);
        uv_read_start(
            reinterpret_cast<uv_stream_t*>(&c->pipe),
            [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
              static thread_local char chunk[4096];
              *buf = uv_buf_init(chunk, sizeof chunk);
            },
            [](uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
              auto* cl = static_cast<client*>(st->data);
              if (n < 0) {
                cl->owner->close_client(cl); // EOF or an error: the client went away
                return;
              }
              cl->in.append(buf->base, static_cast<std::size_t>(n));
              std::size_t nl;
              while (!cl->closing && (nl = cl->in.find('\n')) != std::string::npos) {
                std::string line = cl->in.substr(0, nl);
                cl->in.erase(0, nl + 1);
                if (!line.empty() && line.back() == '\r') {
                  line.pop_back();
                }
                if (!cl->owner->serve(cl, line)) {
                  cl->owner->close_client(cl);
                }
              }
              if (!cl->closing && cl->in.size() > max_line) {
                cl->owner->close_client(cl);
              }
            });
      });
    }
  }
  if (rc == 0) {
    rc = uv_async_init(&m_loop, &m_stop,
                       [](uv_async_t* a) { static_cast<console_server*>(a->data)->on_stop(); });
    m_stop.data = this;
  }
  if (rc != 0) {
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&m_server)) != 0 || m_server.loop == &m_loop) {
      uv_close(reinterpret_cast<uv_handle_t*>(&m_server), nullptr);
    }
    uv_run(&m_loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&m_loop);
    ::unlink(m_path.c_str());
    fail(m_path, uv_strerror(rc));
  }
  m_thread = std::thread([this] {
#if defined(__linux__)
    std::string name = m_rt.m_options.name;
    name.resize(std::min<std::size_t>(name.size(), 7));
    pthread_setname_np(pthread_self(), (name + "-console").c_str());
#endif
    uv_run(&m_loop, UV_RUN_DEFAULT);
  });
}

void console_server::on_stop() noexcept {
  for (client* c : std::set<client*>(m_clients)) {
    close_client(c);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&m_server), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&m_stop), nullptr);
}

void console_server::stop() noexcept {
  if (m_stopped) {
    return;
  }
  m_stopped = true;
  uv_async_send(&m_stop);
  m_thread.join();
  if (const int rc = uv_loop_close(&m_loop); rc != 0) {
    std::fprintf(stderr, "zokio: console: its loop did not close: %s\n", uv_strerror(rc));
  }
  ::unlink(m_path.c_str());
}

void console_server::close_client(client* c) noexcept {
  if (c->closing) {
    return;
  }
  c->closing = true;
  m_clients.erase(c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
           [](uv_handle_t* h) { delete static_cast<client*>(h->data); });
}

/// "name=N" with N a decimal number below a day in milliseconds; false otherwise.
bool parse_ms(std::string_view word, std::string_view name, std::chrono::milliseconds& out) {
  if (word.size() <= name.size() + 1 || word.substr(0, name.size()) != name ||
      word[name.size()] != '=') {
    return false;
  }
  const std::string_view num = word.substr(name.size() + 1);
  long long v = 0;
  const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc{} || end != num.data() + num.size() || v < 0 || v > 86'400'000) {
    return false;
  }
  out = std::chrono::milliseconds(v);
  return true;
}

bool console_server::serve(client* c, std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t at = 0;
  while (at < line.size()) {
    const std::size_t sp = line.find(' ', at);
    const std::size_t end = sp == std::string_view::npos ? line.size() : sp;
    if (end > at) {
      words.push_back(line.substr(at, end - at));
    }
    at = end + 1;
  }
  if (words.empty() || words[0] != "snapshot") {
    return false;
  }
  diag::snapshot_options o;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::string_view w = words[i];
    if (w == "detectors=0" || w == "detectors=1") {
      o.detectors = w.back() == '1';
    } else if (!parse_ms(w, "long_wait_ms", o.long_wait) &&
               !parse_ms(w, "stable_for_ms", o.stable_for) &&
               !parse_ms(w, "handles_wait_ms", o.handles_wait)) {
      return false;
    }
  }
  auto* w = new write_req;
  try {
    w->data = snapshot_json(m_rt, o, &m_history, &m_census);
  } catch (...) {
    w->data = "{\"error\":\"snapshot failed (out of memory)\"}";
  }
  w->data += '\n';
  const uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  w->req.data = w;
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->pipe), &buf, 1,
               [](uv_write_t* r, int) { delete static_cast<write_req*>(r->data); }) != 0) {
    delete w;
    return false;
  }
  return true;
}

std::mutex g_mutex;
std::map<runtime_impl*, std::unique_ptr<console_server>>* g_consoles = nullptr; // g_mutex

} // namespace

void start_console(runtime_impl& rt) {
  std::string path = rt.m_options.console;
  if (path.empty()) {
    if (const char* env = std::getenv("ZOKIO_CONSOLE"); env != nullptr) {
      path = env;
    }
  }
  if (path.empty()) {
    return;
  }
  try {
    auto c = std::make_unique<console_server>(rt, path);
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_consoles == nullptr) {
      g_consoles = new std::map<runtime_impl*, std::unique_ptr<console_server>>;
    }
    (*g_consoles)[&rt] = std::move(c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s; the runtime runs without it\n", e.what());
  }
}

void stop_console(runtime_impl& rt) noexcept {
  std::unique_ptr<console_server> c;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_consoles == nullptr) {
      return;
    }
    const auto it = g_consoles->find(&rt);
    if (it == g_consoles->end()) {
      return;
    }
    c = std::move(it->second);
    g_consoles->erase(it);
  }
  c.reset(); // stops it: the thread ends, the loop closes, the socket file goes
}

} // namespace zokio::detail
