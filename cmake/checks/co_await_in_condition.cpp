// A compiler check (cmake/zokio-compiler-checks.cmake): a coroutine whose co_await stands in the
// condition of an `if` or `while` with a braced body. GCC 12.2 (Debian 12's g++) miscompiles it:
// the first resume returns at once, the body never runs and the coroutine is not done. Exits 0
// when the compiler gets it right, 1 when it shows the defect. No Zokio header: the defect is the
// compiler's alone.

#include "check_task.hpp"

#include <coroutine>
#include <optional>

namespace {

using zokio_check::task;

int values = 0;
int got = 0;
bool started = false;

struct next_value { // ready at once, like a channel receive with a value waiting
  bool await_ready() noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) noexcept {}
  std::optional<int> await_resume() noexcept {
    return values < 3 ? std::optional<int>(++values) : std::nullopt;
  }
};

task consume() {
  started = true;
  while (co_await next_value{}) {
    ++got;
  }
}

} // namespace

int main() {
  task t = consume();
  t.h.resume();
  const bool right = started && got == 3 && t.h.done();
  t.h.destroy();
  return right ? 0 : 1;
}
