#include <zokio/signal/signal.hpp>

#include <utility>

// wait and wait_any are a listener that lives for one signal: it watches from the moment the
// waiting task first runs until the signal came (or the wait was cancelled), then closes its
// handles.

namespace zokio::signal {

task<int> wait_any(std::vector<int> signums, site where) {
  listener l(std::move(signums));
  co_return co_await l.recv(where);
}

task<> wait(int signum, site where) {
  std::vector<int> one(1, signum); // not a braced list: GCC 12 cannot keep its array in a frame
  (void)co_await wait_any(std::move(one), where);
}

} // namespace zokio::signal
