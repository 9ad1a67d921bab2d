#pragma once

#include <uv.h>

#include <utility>

// Owner of one libuv handle. The handle struct lives on the heap, never in a coroutine frame or
// an awaiter; `close()` hands it to libuv, and its memory is freed only in the close callback
// (libuv design.rst). Owner thread only (the worker whose loop the handle is on).

namespace zokio::detail {

template <typename Handle>
class uv_handle_owner {
public:
  uv_handle_owner() noexcept = default;
  explicit uv_handle_owner(Handle* h) noexcept : m_h(h) {}
  uv_handle_owner(uv_handle_owner&& o) noexcept : m_h(std::exchange(o.m_h, nullptr)) {}
  uv_handle_owner& operator=(uv_handle_owner&& o) noexcept {
    if (this != &o) {
      close();
      m_h = std::exchange(o.m_h, nullptr);
    }
    return *this;
  }
  uv_handle_owner(const uv_handle_owner&) = delete;
  uv_handle_owner& operator=(const uv_handle_owner&) = delete;
  ~uv_handle_owner() { close(); }

  Handle* get() const noexcept { return m_h; }
  Handle* operator->() const noexcept { return m_h; }
  explicit operator bool() const noexcept { return m_h != nullptr; }

  /// Closes the handle (pending requests on it complete with UV_ECANCELED first) and frees it in
  /// the close callback. Idempotent.
  void close() noexcept {
    if (m_h != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(std::exchange(m_h, nullptr)),
               [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
    }
  }

private:
  Handle* m_h = nullptr;
};

} // namespace zokio::detail
