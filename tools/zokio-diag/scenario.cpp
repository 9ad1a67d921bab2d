#include "scenario.hpp"

#include <zokio/runtime/errors.hpp>

#include <cstdio>
#include <exception>
#include <iostream>

namespace zokio::diag_tool {

namespace {

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

} // namespace

std::string ms(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(d.count()) / 1e6);
  return buf;
}

check_result run_battery(std::string check, const std::vector<named_scenario>& battery,
                         watchdog& wd,
                         const std::function<void(const scenario_result&)>& on_result) {
  using clock = std::chrono::steady_clock;
  check_result result;
  result.check = std::move(check);
  for (const named_scenario& s : battery) {
    scenario_outcome out;
    const auto start = clock::now();
    wd.arm(s.name);
    try {
      s.run(out);
    } catch (const zokio::deadlock_error& e) {
      std::cerr << "zokio-diag: " << s.name << ": " << e.what() << '\n';
      out.deadlock(first_line(e.what()));
    } catch (const std::exception& e) {
      out.fail(std::string("exception: ") + first_line(e.what()));
    } catch (...) {
      out.fail("an exception that is not a std::exception");
    }
    scenario_result r = std::move(out).result(s.name, clock::now() - start);
    result.outcome = worst(result.outcome, r.outcome);
    // Reported before the watchdog lets go, so that a run cut short at any moment lists every
    // finished scenario (main.cpp's cut_short skips one it already has).
    if (on_result) {
      on_result(r);
    }
    wd.disarm();
    result.scenarios.push_back(std::move(r));
  }
  return result;
}

} // namespace zokio::diag_tool
