#pragma once

// The http suite, driven by zokio-bench itself: each repetition starts the peer's server
// (`--serve http --port 0`), then runs wrk against it (http_plaintext) or opens idle keep-alive
// connections from the driver (http_connections), and stops the server with SIGTERM (it must
// exit 0).

#include "model.hpp"
#include "runner.hpp"

namespace zokio::bench {

/// Empty when wrk can be run; else why not (the cell is then skipped).
std::string wrk_missing();

/// Raises RLIMIT_NOFILE's soft limit to the hard one; the limit now in force.
long long raise_fd_limit();

outcome run_http_plaintext(const peer& p, long long seconds, const run_options& options);
outcome run_http_connections(const peer& p, long long connections, const run_options& options);

} // namespace zokio::bench
