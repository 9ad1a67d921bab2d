#include <zokio/diag/task_dump.hpp>

#include "zokio_test.hpp"

#include <algorithm>
#include <map>
#include <string>

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

// Each operation a task awaits records the line of its own `co_await`, through the default
// arguments of the call (file and line) or a site given explicitly: one task per operation sets
// its line and awaits on the next one.
struct parked_at {
  zokio::event event;
  zokio::semaphore semaphore{0};
  zokio::mutex mutex;
  std::map<std::string, std::uint32_t> lines;
};

zokio::task<void> at_event(parked_at* p) {
  p->lines["event"] = __LINE__ + 1;
  co_await p->event.wait();
}
zokio::task<void> at_explicit_site(parked_at* p) {
  p->lines["explicit"] = __LINE__ + 1;
  co_await p->event.wait(zokio::site::current());
}
zokio::task<void> at_sleep(parked_at* p) {
  p->lines["sleep"] = __LINE__ + 1;
  co_await zokio::sleep_for(10s);
}
zokio::task<void> at_sleep_until(parked_at* p) {
  p->lines["sleep_until"] = __LINE__ + 1;
  co_await zokio::sleep_until(std::chrono::steady_clock::now() + 10s);
}
zokio::task<void> at_acquire(parked_at* p) {
  p->lines["acquire"] = __LINE__ + 1;
  co_await p->semaphore.acquire();
}
zokio::task<void> at_lock(parked_at* p) {
  p->lines["lock"] = __LINE__ + 1;
  co_await p->mutex.lock();
}
zokio::task<void> at_recv(parked_at* p, zokio::receiver<int> rx) {
  p->lines["recv"] = __LINE__ + 1;
  co_await rx.recv();
}
zokio::task<void> at_send(parked_at* p, zokio::sender<int> tx) {
  p->lines["send"] = __LINE__ + 1;
  co_await tx.send(2); // the channel holds one value already
}
zokio::task<void> at_oneshot(parked_at* p, zokio::oneshot_receiver<int> rx) {
  p->lines["oneshot"] = __LINE__ + 1;
  co_await rx.recv();
}
zokio::task<void> at_join(parked_at* p, zokio::join_handle<void>* h) {
  p->lines["join"] = __LINE__ + 1;
  co_await h->join();
}

zokio::task<std::vector<zokio::diag::task_info>> sites_snapshot(zokio::runtime* rt, parked_at* p) {
  auto held = co_await p->mutex.lock();
  auto empty = zokio::make_channel<int>(1);
  auto full = zokio::make_channel<int>(1);
  zokio::receiver<int> empty_rx = std::move(empty.rx);
  zokio::sender<int> full_tx = std::move(full.tx);
  EXPECT_EQ(full_tx.try_send(1), zokio::send_status::sent);
  auto once = zokio::make_oneshot<int>();
  std::vector<zokio::join_handle<void>> hs;
  hs.push_back(zokio::spawn(at_event(p), {.name = "event"}));
  hs.push_back(zokio::spawn(at_explicit_site(p), {.name = "explicit"}));
  hs.push_back(zokio::spawn(at_sleep(p), {.name = "sleep"}));
  hs.push_back(zokio::spawn(at_sleep_until(p), {.name = "sleep_until"}));
  hs.push_back(zokio::spawn(at_acquire(p), {.name = "acquire"}));
  hs.push_back(zokio::spawn(at_lock(p), {.name = "lock"}));
  hs.push_back(zokio::spawn(at_recv(p, std::move(empty_rx)), {.name = "recv"}));
  hs.push_back(zokio::spawn(at_send(p, full_tx), {.name = "send"}));
  hs.push_back(zokio::spawn(at_oneshot(p, std::move(once.rx)), {.name = "oneshot"}));
  auto joined = zokio::spawn(nap(), {.name = "joined"});
  hs.push_back(zokio::spawn(at_join(p, &joined), {.name = "join"}));
  co_await zokio::sleep_for(5ms);
  auto dump = zokio::diag::task_dump(*rt);
  held = {};
  for (auto& h : hs) {
    h.cancel();
  }
  for (auto& h : hs) {
    try {
      co_await h;
    } catch (const zokio::operation_cancelled&) {
    }
  }
  joined.cancel();
  co_return dump;
}

TEST(task_dump, every_operation_records_the_line_of_its_co_await) {
  zokio::runtime rt{{.workers = 1}};
  parked_at p;
  const auto dump = rt.block_on(sites_snapshot(&rt, &p));
  ASSERT_EQ(p.lines.size(), 10u);
  for (const auto& entry : p.lines) { // not a structured binding: Clang 14 cannot capture one
    const std::string& name = entry.first;
    const std::uint32_t line = entry.second;
    auto t = std::find_if(dump.begin(), dump.end(),
                          [&](const zokio::diag::task_info& i) { return i.name == name; });
    ASSERT_NE(t, dump.end()) << name;
    EXPECT_EQ(t->state, "suspended") << name;
    EXPECT_EQ(t->await_line, line) << name;
    EXPECT_NE(t->await_file.find("diag_task_dump_test.cpp"), std::string::npos)
        << name << ": " << t->await_file;
  }
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
