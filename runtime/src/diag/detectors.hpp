#pragma once

// The detectors on the runtime's internals, for the library's own diagnostics (the public
// functions of zokio/diag take a `runtime`; the console and the SIGQUIT dump have its impl).

#include <zokio/diag/deadlock.hpp>
#include <zokio/diag/lost_wakeup.hpp>
#include <zokio/diag/task_dump.hpp>

#include <vector>

namespace zokio::detail {

class runtime_impl;

/// The live tasks, as diag::task_dump (task_dump.cpp).
std::vector<diag::task_info> collect_tasks(runtime_impl& rt);
/// diag::find_deadlocks (deadlock.cpp).
std::vector<diag::deadlock_cycle> find_deadlocks(runtime_impl& impl,
                                                 diag::deadlock_options options);
/// diag::find_lost_wakeups (lost_wakeup.cpp).
std::vector<diag::lost_wakeup> find_lost_wakeups(runtime_impl& impl,
                                                 diag::lost_wakeup_options options);

} // namespace zokio::detail
