#include <zokio/runtime/options.hpp>

#include "zokio_test.hpp"

using namespace std::chrono_literals;

namespace {

zokio::task<int> mixed() {
  zokio::event e;
  e.set();
  co_await e.wait(); // already set
  auto [tx, rx] = zokio::make_oneshot<int>();
  tx.send(5);
  auto v = co_await rx; // already sent
  co_await zokio::yield_now();
  co_await zokio::sleep_for(0ms); // already due
  auto h = zokio::spawn(zokio::timeout(1s, [](int x) -> zokio::task<int> { co_return x; }(2)));
  auto r = co_await h;
  co_return v.value() + r.value();
}

TEST(force_async, every_await_suspends_even_with_its_result_there) {
  zokio::runtime rt{{.workers = 1, .force_async = true}};
  EXPECT_EQ(rt.block_on(mixed()), 7);
  const auto s = rt.stats();
  EXPECT_GE(s.awaits, 6u);
  EXPECT_EQ(s.awaits, s.awaits_suspended);
  EXPECT_EQ(s.awaits_inline, 0u);
  EXPECT_EQ(s.sync_fallbacks, 0u);
  EXPECT_EQ(s.resumes_from_loop + s.resumes_from_task + s.resumes_cross_thread, s.awaits_suspended);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(force_async, without_it_ready_results_complete_inline) {
  zokio::runtime rt{{.workers = 1}};
  EXPECT_EQ(rt.block_on(mixed()), 7);
  const auto s = rt.stats();
  EXPECT_GE(s.awaits_inline, 3u); // the event, the oneshot and the zero sleep
  EXPECT_EQ(s.sync_fallbacks, 0u);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(force_async, an_injected_inline_completion_is_counted_as_a_sync_fallback) {
  zokio::runtime rt{{.workers = 1, .force_async = true, .testing = {.inline_awaits = 1}}};
  EXPECT_EQ(rt.block_on(mixed()), 7);
  const auto s = rt.stats();
  EXPECT_EQ(s.sync_fallbacks, 1u);
  EXPECT_EQ(s.awaits_inline, 1u);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
