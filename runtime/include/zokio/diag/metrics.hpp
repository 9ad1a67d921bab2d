#pragma once

#include <zokio/runtime/stats.hpp>

#include <string>

namespace zokio::diag {

/// The counters as one JSON object (summed counters, and "workers": an array of per-worker
/// objects), as the tools print them.
std::string to_json(const runtime_stats& s);

/// The counters in Prometheus text exposition format, prefixed `zokio_`, per worker labelled
/// `worker="N"`.
std::string to_prometheus(const runtime_stats& s);

} // namespace zokio::diag
