#pragma once

// Shared helpers of the unit tests: every runtime test ends by asserting a clean shutdown (no
// task left, every handle closed, uv_loop_close() == 0 on every worker) and no sync fallback.

#include <zokio/zokio.hpp>

#include <gtest/gtest.h>

namespace zokio::testing {

inline void expect_clean_shutdown(runtime& rt) {
  EXPECT_EQ(rt.stats().sync_fallbacks, 0u);
  const shutdown_report report = rt.shutdown();
  EXPECT_TRUE(report.clean()) << report.to_string();
  EXPECT_EQ(report.tasks_left, 0u);
  for (int status : report.loop_close_status) {
    EXPECT_EQ(status, 0);
  }
  EXPECT_EQ(rt.stats().tasks_live, 0u);
  EXPECT_EQ(rt.stats().handles_active, 0u);
}

} // namespace zokio::testing
