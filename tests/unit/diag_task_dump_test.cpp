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

// The runtime's own tasks carry fixed names (not copied); a user's name is copied, so it outlives
// the string it was given in.
zokio::task<std::vector<zokio::diag::task_info>> timeout_snapshot(zokio::runtime* rt) {
  std::vector<zokio::diag::task_info> dump;
  std::string name = "user's";
  auto named = zokio::spawn(nap(), {.name = name});
  name.assign(name.size(), 'x'); // the task's copy stays
  auto dump_inside = [](zokio::runtime* rt,
                        std::vector<zokio::diag::task_info>* out) -> zokio::task<void> {
    co_await zokio::yield_now(); // the timeout's own task waits on its deadline meanwhile
    *out = zokio::diag::task_dump(*rt);
  };
  zokio::result<void> r = co_await zokio::timeout(10s, dump_inside(rt, &dump));
  EXPECT_TRUE(r.ok());
  named.cancel();
  co_return dump;
}

TEST(task_dump, the_runtime_names_its_own_tasks_and_copies_a_users_name) {
  zokio::runtime rt{{.workers = 1}};
  const auto dump = rt.block_on(timeout_snapshot(&rt));
  auto count = [&](const std::string& name) {
    return std::count_if(dump.begin(), dump.end(),
                         [&](const zokio::diag::task_info& t) { return t.name == name; });
  };
  EXPECT_EQ(count("block_on"), 1);
  EXPECT_EQ(count("timeout"), 1); // the operation under the deadline, dumping
  EXPECT_EQ(count("user's"), 1);
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
