#include <zokio/diag/task_dump.hpp>

#include "zokio_test.hpp"

#include <algorithm>

using namespace std::chrono_literals;

namespace {

zokio::task<void> nap() {
  co_await zokio::sleep_for(10s);
}

zokio::task<void> joiner(zokio::join_handle<void>* h) {
  co_await *h;
}

zokio::task<std::vector<zokio::diag::task_info>> snapshot(zokio::runtime* rt) {
  auto sleeper = zokio::spawn(nap(), {.name = "sleeper"});
  auto waiter = zokio::spawn(joiner(&sleeper), {.name = "waiter"});
  co_await zokio::sleep_for(5ms);
  auto dump = zokio::diag::task_dump(*rt);
  waiter.cancel();
  sleeper.cancel();
  co_return dump;
}

TEST(task_dump, names_sites_and_what_each_task_waits_on) {
  zokio::runtime rt{{.workers = 1}};
  const auto dump = rt.block_on(snapshot(&rt));
  auto find = [&](const std::string& name) {
    return std::find_if(dump.begin(), dump.end(),
                        [&](const zokio::diag::task_info& t) { return t.name == name; });
  };
  auto s = find("sleeper");
  auto w = find("waiter");
  ASSERT_NE(s, dump.end());
  ASSERT_NE(w, dump.end());
  EXPECT_EQ(s->state, "suspended");
  EXPECT_EQ(s->waiting_on, "timer");
  EXPECT_TRUE(s->external);
  EXPECT_NE(s->spawn_site.line, 0u);
  EXPECT_NE(std::string(s->spawn_site.file).find("diag_task_dump_test.cpp"), std::string::npos);
  EXPECT_NE(s->await_file.find("diag_task_dump_test.cpp"), std::string::npos);
  EXPECT_EQ(w->waiting_on, "join");
  EXPECT_FALSE(w->external);
  EXPECT_EQ(w->waits_for_task, s->id);
  const std::string text = zokio::diag::format_task_dump(dump);
  EXPECT_NE(text.find("'sleeper'"), std::string::npos) << text;
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
