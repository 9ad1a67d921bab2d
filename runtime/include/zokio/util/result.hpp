#pragma once

#include <zokio/util/error.hpp>

#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace zokio {

/// A value or a `std::error_code`: how expected failures (refused, reset, timed out, cancelled)
/// are returned. `error()` compares with `std::errc`, e.g. `r.error() == std::errc::timed_out`
/// (also true for `zokio::errc::timed_out`, a timeout's own deadline).
/// `value()` on an error throws `std::system_error`.
template <typename T>
class [[nodiscard]] result {
public:
  using value_type = T;

  result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)
      : m_state(std::in_place_index<0>, std::move(value)) {}
  result(std::error_code ec) noexcept : m_state(std::in_place_index<1>, ec) {}
  result(std::errc e) noexcept : result(std::make_error_code(e)) {}
  result(zokio::errc e) noexcept : result(make_error_code(e)) {}

  bool ok() const noexcept { return m_state.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    check();
    return std::get<0>(m_state);
  }
  const T& value() const& {
    check();
    return std::get<0>(m_state);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(m_state));
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  std::error_code error() const noexcept { return ok() ? std::error_code{} : std::get<1>(m_state); }

private:
  void check() const {
    if (!ok()) {
      throw std::system_error(std::get<1>(m_state));
    }
  }

  std::variant<T, std::error_code> m_state;
};

template <>
class [[nodiscard]] result<void> {
public:
  using value_type = void;

  result() noexcept = default;
  result(std::error_code ec) noexcept : m_error(ec) {}
  result(std::errc e) noexcept : m_error(std::make_error_code(e)) {}
  result(zokio::errc e) noexcept : m_error(make_error_code(e)) {}

  bool ok() const noexcept { return !m_error; }
  explicit operator bool() const noexcept { return ok(); }
  void value() const {
    if (m_error) {
      throw std::system_error(m_error);
    }
  }
  std::error_code error() const noexcept { return m_error; }

private:
  std::error_code m_error;
};

namespace detail {
template <typename T>
inline constexpr bool is_result_v = false;
template <typename T>
inline constexpr bool is_result_v<result<T>> = true;
} // namespace detail

} // namespace zokio
