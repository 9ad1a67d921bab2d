// A compiler check (cmake/zokio-compiler-checks.cmake): a braced aggregate temporary passed by
// value to the function whose result is awaited, `co_await tx.send(value{p})`. GCC 12.2 (Debian
// 12's g++) destroys the temporary's members once too often: a shared_ptr member loses a
// reference per await. Exits 0 when the compiler gets it right, 1 when it shows the defect. No
// Zokio header: the defect is the compiler's alone.

#include "check_task.hpp"

#include <coroutine>
#include <memory>
#include <utility>

namespace {

using zokio_check::task;

struct value { // an aggregate that owns a reference
  std::shared_ptr<int> p;
};

std::shared_ptr<int> kept; // where the awaited sends put their values

struct send_awaiter { // ready at once, like a send on a channel with room
  value v;
  bool await_ready() noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) noexcept {}
  void await_resume() noexcept { kept = std::move(v.p); }
};

send_awaiter send(value v) {
  return send_awaiter{std::move(v)};
}

long seen = 0;

task produce(std::shared_ptr<int> p) {
  for (int i = 0; i < 3; ++i) {
    co_await send(value{p});
  }
  seen = p.use_count(); // this copy and the caller's, and the last value kept
}

} // namespace

int main() {
  auto p = std::make_shared<int>(0);
  task t = produce(p);
  t.h.resume();
  const bool right = t.h.done() && seen == 3;
  t.h.destroy();
  kept.reset();
  return right && p.use_count() == 1 ? 0 : 1;
}
