#include "net/tcp_impl.hpp"

#include <zokio/runtime/errors.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <new>

#include <unistd.h>

#ifndef ZOKIO_FRAME_POOL
#define ZOKIO_FRAME_POOL 1
#endif

namespace zokio::detail {

worker* current_net_worker(const char* what) {
  worker_core* w = t_worker;
  if (w == nullptr) [[unlikely]] {
    throw_no_runtime(what);
  }
  return static_cast<worker*>(w);
}

void ignore_sigpipe_once() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      struct sigaction ign {};
      ign.sa_handler = SIG_IGN;
      sigemptyset(&ign.sa_mask);
      sigaction(SIGPIPE, &ign, nullptr);
    }
  });
}

// --- overflow buffers ----------------------------------------------------------------------------

#if ZOKIO_FRAME_POOL

namespace {

// A few free overflow buffers per thread, so that a stream which goes through "bytes arrive
// while no reader waits, then get drained" over and over does not hit the allocator each time.
// Sanitizer builds (ZOKIO_FRAME_POOL=OFF) use operator new/delete so ASan sees every buffer.
constexpr unsigned overflow_cached = 8;

thread_local bool t_overflow_gone = false;

struct overflow_cache {
  std::byte* m_free[overflow_cached] = {};
  unsigned m_n = 0;
  ~overflow_cache() {
    t_overflow_gone = true;
    while (m_n > 0) {
      ::operator delete(m_free[--m_n]);
    }
  }
};

thread_local overflow_cache t_overflow;

} // namespace

std::byte* overflow_alloc() {
  if (!t_overflow_gone && t_overflow.m_n > 0) {
    return t_overflow.m_free[--t_overflow.m_n];
  }
  return static_cast<std::byte*>(::operator new(tcp_overflow_capacity));
}

void overflow_free(std::byte* p) noexcept {
  if (!t_overflow_gone && t_overflow.m_n < overflow_cached) {
    t_overflow.m_free[t_overflow.m_n++] = p;
    return;
  }
  ::operator delete(p);
}

#else

std::byte* overflow_alloc() {
  return static_cast<std::byte*>(::operator new(tcp_overflow_capacity));
}
void overflow_free(std::byte* p) noexcept {
  ::operator delete(p);
}

#endif

// --- tcp_impl ------------------------------------------------------------------------------------

tcp_impl* tcp_impl::create(worker* w, int* err) noexcept {
  ignore_sigpipe_once();
  auto* s = new (std::nothrow) tcp_impl;
  if (s == nullptr) {
    *err = UV_ENOMEM;
    return nullptr;
  }
  if (int rc = uv_tcp_init(w->loop(), &s->m_tcp); rc != 0) {
    delete s;
    *err = rc;
    return nullptr;
  }
  s->m_tcp.data = s;
  s->m_owner = w;
  w->track_io(s, "tcp", [](io_object* o) noexcept { static_cast<tcp_impl*>(o)->close(); });
  // Unreferenced until a reader waits: a stream that merely exists is no external work for the
  // deadlock detector (requests on it, such as writes and connects, count by themselves).
  uv_unref(s->handle());
  return s;
}

tcp_impl* tcp_impl::adopt(worker* w, int fd, int* err) noexcept {
  tcp_impl* s = create(w, err);
  if (s == nullptr) {
    ::close(fd);
    return nullptr;
  }
  if (int rc = uv_tcp_open(&s->m_tcp, fd); rc != 0) {
    ::close(fd);
    *err = rc;
    s->close();
    s->release(); // the handle's reference goes in the close callback
    return nullptr;
  }
  return s;
}

void tcp_impl::release() noexcept {
  if (--m_refs == 0) {
    if (m_buf != nullptr) {
      overflow_free(m_buf);
    }
    delete this;
  }
}

void tcp_impl::close() noexcept {
  if (m_closing) {
    return;
  }
  worker::untrack_io(this);
  m_closing = true;
  m_reading = false;
  if (tcp_read_awaiter* r = m_reader; r != nullptr) {
    m_reader = nullptr;
    r->m_status = UV_ECANCELED;
    r->m_done = true;
    r->fire();
  }
  // uv_close stops reading at once, so libuv holds no pointer into the overflow buffer after it.
  uv_close(handle(), [](uv_handle_t* h) { static_cast<tcp_impl*>(h->data)->release(); });
  if (m_buf != nullptr) {
    overflow_free(m_buf);
    m_buf = nullptr;
    m_head = m_tail = 0;
  }
}

void tcp_impl::set_referenced(bool on) noexcept {
  if (on != m_referenced && !m_closing) {
    m_referenced = on;
    if (on) {
      uv_ref(handle());
    } else {
      uv_unref(handle());
    }
  }
}

void tcp_impl::drop_empty_buffer() noexcept {
  if (m_buf != nullptr && m_head == m_tail) {
    overflow_free(m_buf);
    m_buf = nullptr;
    m_head = m_tail = 0;
  }
}

namespace {

// libuv asks for a buffer right before each read(2) on a readable socket. A waiting reader gets
// its own buffer (no copy); otherwise the bytes go to the overflow buffer.
void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
  auto* s = static_cast<tcp_impl*>(h->data);
  if (tcp_read_awaiter* r = s->m_reader; r != nullptr) {
    s->m_to_reader = true;
    buf->base = reinterpret_cast<char*>(r->m_data);
    buf->len = r->m_size;
    return;
  }
  s->m_to_reader = false;
  s->m_yielded = false;
  if (s->m_yield) {
    // A bulk reader was served in this same uv__read pass and will most likely be back before
    // the next poll: leave the bytes in the kernel for it. An empty buffer ends the pass
    // (read_cb gets UV_ENOBUFS) without a syscall; epoll is level-triggered, so the socket is
    // reported again at the next poll, when the reader waits again or read-ahead begins.
    s->m_yield = false;
    s->m_yielded = true;
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  if (s->m_buf == nullptr) {
    try {
      s->m_buf = overflow_alloc();
    } catch (...) {
      *buf = uv_buf_init(nullptr, 0); // libuv reports UV_ENOBUFS
      return;
    }
    s->m_head = s->m_tail = 0;
  } else if (s->m_head == s->m_tail) {
    s->m_head = s->m_tail = 0;
  } else if (s->m_tail == tcp_overflow_capacity && s->m_head > 0) {
    std::memmove(s->m_buf, s->m_buf + s->m_head, s->m_tail - s->m_head);
    s->m_tail -= s->m_head;
    s->m_head = 0;
  }
  buf->base = reinterpret_cast<char*>(s->m_buf + s->m_tail);
  buf->len = tcp_overflow_capacity - s->m_tail;
}

void complete_reader(tcp_impl* s, std::size_t n, int status) noexcept {
  tcp_read_awaiter* r = s->m_reader;
  s->m_reader = nullptr;
  s->m_yield = n == r->m_size && r->m_size >= tcp_direct_read_min;
  s->m_more = s->m_yield;
  s->set_referenced(false);
  r->m_n = n;
  r->m_status = status;
  r->m_done = true;
  r->fire(); // queues the task; it runs after this callback returns
}

void on_read(uv_stream_t* h, ssize_t nread, const uv_buf_t*) noexcept {
  auto* s = static_cast<tcp_impl*>(h->data);
  if (nread > 0) {
    if (s->m_to_reader && s->m_reader != nullptr) {
      complete_reader(s, static_cast<std::size_t>(nread), 0);
      return;
    }
    s->m_tail += static_cast<std::size_t>(nread);
    if (s->m_tail - s->m_head == tcp_overflow_capacity) {
      s->stop_reading(); // backpressure: the kernel buffers the rest until a reader drains
    }
    return;
  }
  if (nread == 0) {
    // EAGAIN: libuv hands the buffer back unused.
    s->drop_empty_buffer();
    return;
  }
  if (nread == UV_ENOBUFS) {
    if (!s->m_yielded) {
      s->stop_reading(); // out of memory for the overflow buffer: wait for a reader
    }
    return;
  }
  // EOF or an error: libuv has stopped reading; make it explicit.
  s->stop_reading();
  if (nread == UV_EOF) {
    s->m_eof = true;
  } else {
    s->m_read_error = static_cast<int>(nread);
  }
  s->drop_empty_buffer();
  if (s->m_reader != nullptr) {
    complete_reader(s, 0, s->m_eof ? 0 : s->m_read_error);
  }
}

} // namespace

long tcp_impl::read_now(std::byte* buf, std::size_t size) noexcept {
  uv_os_fd_t fd = -1;
  if (uv_fileno(handle(), &fd) != 0) {
    return UV_EAGAIN; // not connected yet: let libuv report it
  }
  ssize_t n = 0;
  do {
    n = ::read(fd, buf, size);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    return static_cast<long>(n);
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return UV_EAGAIN;
  }
  // EOF or an error, as on_read records them: reading stops, every later read gives the same.
  stop_reading();
  if (n == 0) {
    m_eof = true;
    return 0;
  }
  m_read_error = -errno; // libuv's statuses are negated errno values on Unix
  return m_read_error;
}

int tcp_impl::start_reading() noexcept {
  if (m_reading) {
    return 0;
  }
  if (m_closing) {
    return UV_EBADF;
  }
  const int rc = uv_read_start(stream(), on_alloc, on_read);
  if (rc == 0) {
    m_reading = true;
  }
  return rc;
}

void tcp_impl::stop_reading() noexcept {
  if (m_reading) {
    m_reading = false;
    uv_read_stop(stream());
  }
}

// --- tcp_listener_impl ---------------------------------------------------------------------------

void tcp_listener_impl::release() noexcept {
  if (--m_refs == 0) {
    delete this;
  }
}

void tcp_listener_impl::set_referenced(bool on) noexcept {
  if (on != m_referenced && !m_closing) {
    m_referenced = on;
    if (on) {
      uv_ref(reinterpret_cast<uv_handle_t*>(&m_poll));
    } else {
      uv_unref(reinterpret_cast<uv_handle_t*>(&m_poll));
    }
  }
}

void tcp_listener_impl::push(tcp_accept_awaiter* a) noexcept {
  a->m_prev = m_tail;
  a->m_next = nullptr;
  if (m_tail != nullptr) {
    m_tail->m_next = a;
  } else {
    m_head = a;
  }
  m_tail = a;
  a->m_linked = true;
  set_referenced(true);
}

void tcp_listener_impl::unlink(tcp_accept_awaiter* a) noexcept {
  if (a->m_prev != nullptr) {
    a->m_prev->m_next = a->m_next;
  } else {
    m_head = a->m_next;
  }
  if (a->m_next != nullptr) {
    a->m_next->m_prev = a->m_prev;
  } else {
    m_tail = a->m_prev;
  }
  a->m_prev = a->m_next = nullptr;
  a->m_linked = false;
  if (m_head == nullptr) {
    set_referenced(false);
  }
}

tcp_accept_awaiter* tcp_listener_impl::pop() noexcept {
  tcp_accept_awaiter* a = m_head;
  if (a != nullptr) {
    unlink(a);
  }
  return a;
}

void tcp_listener_impl::close() noexcept {
  if (m_closing) {
    return;
  }
  worker::untrack_io(this);
  while (tcp_accept_awaiter* a = pop()) {
    a->m_status = UV_ECANCELED;
    a->fire();
  }
  m_closing = true;
  m_polling = false;
  // The socket is closed in the close callback, once libuv no longer polls it.
  uv_close(reinterpret_cast<uv_handle_t*>(&m_poll), [](uv_handle_t* h) {
    auto* l = static_cast<tcp_listener_impl*>(h->data);
    ::close(l->m_fd);
    l->m_fd = -1;
    l->release();
  });
}

} // namespace zokio::detail
