#include <zokio/util/error.hpp>

#include <string>

namespace zokio {

namespace {

class category final : public std::error_category {
public:
  const char* name() const noexcept override { return "zokio"; }

  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
    case errc::timed_out:
      return "timed out";
    case errc::eof:
      return "end of stream";
    }
    return "zokio error " + std::to_string(ev);
  }

  std::error_condition default_error_condition(int ev) const noexcept override {
    switch (static_cast<errc>(ev)) {
    case errc::timed_out:
      return std::errc::timed_out;
    case errc::eof:
      break; // no portable condition: std::errc has no end of stream
    }
    return {ev, *this};
  }
};

} // namespace

const std::error_category& error_category() noexcept {
  static const category c;
  return c;
}

} // namespace zokio
