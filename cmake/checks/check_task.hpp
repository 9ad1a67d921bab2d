#pragma once

// The smallest coroutine type the compiler checks of cmake/checks/ need: started suspended, kept
// at its end until destroyed. No Zokio header: a defect a check shows is the compiler's alone.

#include <coroutine>

namespace zokio_check {

struct task {
  struct promise_type {
    task get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept {}
  };
  std::coroutine_handle<promise_type> h;
};

} // namespace zokio_check
