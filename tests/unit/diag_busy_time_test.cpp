// Busy time per task (the dump's `busy`, the console's sort): exact without a stall watchdog
// (or with runtime_options::testing.exact_busy_time), sampled by the watchdog's millisecond tick
// with one (worker_core::charge_busy). Sampled, a
// long resume is still charged in full, and short resumes share the time by what they used,
// not by how often they ran.

#include <zokio/diag/task_dump.hpp>

#include "race.hpp"
#include "zokio_test.hpp"

#include <algorithm>
#include <chrono>
#include <string>

using namespace std::chrono_literals;

namespace {

using zokio::testing::busy_for;

struct parking {
  zokio::event go;
  int parked = 0;
};

/// `resumes` resumes of `work` each, then parks until the test has read the dump.
zokio::task<void> worker_task(parking* p, int resumes, std::chrono::nanoseconds work) {
  for (int i = 0; i < resumes; ++i) {
    busy_for(work);
    co_await zokio::yield_now();
  }
  ++p->parked;
  co_await p->go.wait();
}

std::chrono::nanoseconds busy_of(const std::vector<zokio::diag::task_info>& dump,
                                 const std::string& name) {
  auto it = std::find_if(dump.begin(), dump.end(),
                         [&](const zokio::diag::task_info& t) { return t.name == name; });
  EXPECT_NE(it, dump.end()) << name;
  return it == dump.end() ? 0ns : it->busy;
}

struct two_tasks {
  std::chrono::nanoseconds light{0}; // busy time of each, from the dump
  std::chrono::nanoseconds heavy{0};
  std::chrono::nanoseconds wall{0}; // from their spawn to the dump
};

/// Runs "light" and "heavy" side by side on one worker, alternating by yield_now, and dumps
/// both once they are parked.
zokio::task<two_tasks> side_by_side(zokio::runtime* rt, int resumes, std::chrono::nanoseconds light,
                                    std::chrono::nanoseconds heavy,
                                    std::chrono::milliseconds warm_up) {
  // Keep the worker busy past the watchdog's first look (half the threshold), so that it ticks
  // the clock fast (sampling) by the time the two start.
  for (const auto until = std::chrono::steady_clock::now() + warm_up;
       std::chrono::steady_clock::now() < until;) {
    co_await zokio::yield_now();
  }
  parking p;
  const auto t0 = std::chrono::steady_clock::now();
  auto a = zokio::spawn(worker_task(&p, resumes, light), {.name = "light"});
  auto b = zokio::spawn(worker_task(&p, resumes, heavy), {.name = "heavy"});
  while (p.parked != 2) {
    co_await zokio::sleep_for(1ms);
  }
  two_tasks out;
  out.wall = std::chrono::steady_clock::now() - t0;
  const auto dump = zokio::diag::task_dump(*rt);
  out.light = busy_of(dump, "light");
  out.heavy = busy_of(dump, "heavy");
  p.go.set();
  co_await a;
  co_await b;
  co_return out;
}

TEST(busy_time, a_long_resume_is_charged_in_full_when_sampled) {
  // A watchdog (threshold 100 ms: it looks every 50 ms while idle) ticks the busy clock.
  zokio::runtime rt{{.workers = 1, .stall_threshold = 100ms}};
  const two_tasks r = rt.block_on(side_by_side(&rt, 10, 0ns, 20ms, 120ms));
  EXPECT_GE(r.heavy, 195ms) << "ten resumes of 20 ms";
  EXPECT_LE(r.heavy, r.wall + 1ms);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(busy_time, short_resumes_share_the_time_by_what_they_used) {
  zokio::runtime rt{{.workers = 1, .stall_threshold = 100ms}};
  // About 330 ms of resumes of 10 and 100 us, alternating: the watchdog ticks the clock hundreds
  // of times, and most ticks land in a heavy resume. (Long enough that a sanitizer's cost per
  // resume does not even the two out.)
  const two_tasks r = rt.block_on(side_by_side(&rt, 3000, 10us, 100us, 120ms));
  const auto light = r.light;
  const auto heavy = r.heavy;
  ASSERT_GT(light, 0ns) << "never sampled";
  const double ratio = static_cast<double>(heavy.count()) / static_cast<double>(light.count());
  // 10 by what they used; 1 if the clock charged by resume count; wide for a noisy machine.
  EXPECT_GT(ratio, 3.0) << "heavy " << heavy.count() << " ns, light " << light.count() << " ns";
  EXPECT_LT(ratio, 40.0) << "heavy " << heavy.count() << " ns, light " << light.count() << " ns";
  // The two used the worker for nearly all of the run: their sum is most of it, and never more.
  EXPECT_GT(heavy + light, r.wall / 2);
  EXPECT_LE(heavy + light, r.wall + 1ms);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(busy_time, without_a_watchdog_every_resume_is_charged) {
  zokio::runtime rt{{.workers = 1, .stall_threshold = 0ms}};
  const two_tasks r = rt.block_on(side_by_side(&rt, 500, 20us, 100us, 0ms));
  EXPECT_GE(r.light, 10ms) << "500 resumes of 20 us";
  EXPECT_GE(r.heavy, 50ms) << "500 resumes of 100 us";
  EXPECT_LE(r.heavy + r.light, r.wall + 1ms);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(busy_time, exact_busy_time_charges_every_resume_beside_a_watchdog) {
  // With the watchdog ticking fast, a single resume of 200 us spans a tick one time in five and
  // is charged nothing otherwise (sampled). testing.exact_busy_time reads at every transition:
  // each of twenty such tasks is charged its resume. (Without the option about four of the
  // twenty are, 4 to 6 in three runs: the count below is what fails.)
  zokio::runtime rt{{.workers = 1, .stall_threshold = 100ms, .testing = {.exact_busy_time = true}}};
  int charged = 0;
  for (int round = 0; round < 20; ++round) {
    const two_tasks r = rt.block_on(side_by_side(&rt, 1, 200us, 0ns, round == 0 ? 120ms : 5ms));
    charged += r.light >= 200us ? 1 : 0;
    EXPECT_LE(r.heavy + r.light, r.wall + 1ms);
  }
  EXPECT_EQ(charged, 20);
  zokio::testing::expect_clean_shutdown(rt);
}

TEST(busy_time, a_burst_wakes_the_watchdog_and_sampling_starts_at_once) {
  // Threshold 1 s: an idle watchdog looks every 500 ms, so on its own it would not see these
  // bursts (about 150 ms in all) before they end, and every transition would read the counter:
  // all twenty single 200 us resumes charged, as with exact_busy_time above. Each round's warm-up
  // (5 ms of yields, thousands of transitions) makes the worker wake the watchdog after 256 slow
  // reads; from then on the clock ticks fast and a 200 us resume is charged only when a tick
  // lands in it, about one time in five.
  zokio::runtime rt{{.workers = 1, .stall_threshold = 1000ms}};
  int charged = 0;
  for (int round = 0; round < 20; ++round) {
    const two_tasks r = rt.block_on(side_by_side(&rt, 1, 200us, 0ns, 5ms));
    charged += r.light >= 200us ? 1 : 0;
  }
  EXPECT_LT(charged, 17) << "the clock never ticked fast: every resume was read";
  zokio::testing::expect_clean_shutdown(rt);
}

} // namespace
