#pragma once

// Runs the selected workloads on the selected peers: discovery (--version, --list, .skipped),
// repetitions interleaved across peers, each repetition a fresh process under a watchdog.

#include "model.hpp"
#include "process.hpp"

#include <string>
#include <variant>

namespace zokio::bench {

using outcome = std::variant<sample, failure>;

/// The directory of the running executable (where the peers are installed beside it).
std::string executable_dir();

/// Looks at each peer of options.peers in options.peer_dir.
std::vector<peer> discover_peers(const run_options& options);

/// The cells of the run: one per selected workload and peer, skipped ones with their reason.
std::vector<cell> plan_cells(const run_options& options, const std::vector<peer>& peers);

/// Runs every cell that is not skipped (the progress line on a terminal); fills context and
/// exit code. Stops early, marking the run interrupted, on SIGINT/SIGTERM.
void run_all(run_result& run);

/// The `--run` output of a peer turned into a sample or a failure with a one-line reason.
outcome parse_run_output(const workload& w, const std::string& peer, const child_result& r,
                         int timeout_s);

/// The environment: host, kernel, compilers, build, date, load average (start).
ojson environment_context(const run_result& run);
/// Load average now, as [1, 5, 15] minutes.
ojson load_average();

/// The overall exit code from DESIGN.md's table (3 before 4 before 1).
int exit_code_of(const run_result& run);

} // namespace zokio::bench
