#pragma once

// zokio-soak's verdicts and reports: the criteria, judged on the samples after the warm-up, and
// the documents a run writes (the human summary, `--json`, and `--out DIR`'s samples.csv,
// samples.jsonl, summary.json and summary.md).

#include "soak.hpp"

#include <zokio_tools/histogram.hpp>

#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace zokio::soak {

/// One latency-drift window: several sample windows merged (without loss) per operation.
struct drift_window {
  double t_end_s = 0;
  unsigned segment = 0;
  std::array<std::uint64_t, op_count> n{};
  std::array<std::uint64_t, op_count> p99_ns{};
};

/// One process of a run: the first, and one more for each --resume.
struct segment_info {
  unsigned index = 0;
  double start_t_s = 0;   ///< sample time where it starts
  std::string started_at; ///< UTC
  std::string after;      ///< "start", or what ended the one before: "killed" or "interrupted"
};

/// Everything a report is made of; filled by the sampler (under `mutex`) and at the end.
struct run_data {
  std::mutex mutex;
  std::vector<sample> samples;       // reserved for the whole run up front
  std::vector<drift_window> windows; // reserved likewise
  /// Per op, the judged samples' windows merged (after the warm-up, outside bursts), every
  /// segment's: a resumed run reads the earlier segments' from the checkpoint.
  std::vector<zokio::tools::log_histogram> whole;
  std::uint64_t deadlock_cycles = 0; ///< cycles find_deadlocks reported
  std::string deadlock_evidence;     ///< the first one, formatted
  std::uint64_t deadlock_checks = 0;
  std::optional<drain_report> drain;
  bool shutdown_clean = false;
  std::string shutdown_text;
  std::uint64_t tasks_spawned = 0, tasks_completed = 0, tasks_failed = 0, tasks_cancelled = 0,
                tasks_live = 0; ///< the runtime's counters after the drain
  bool have_final_counters = false;
  // A resumed run: the segments, and the earlier segments' totals (from the checkpoint).
  std::vector<segment_info> segments;
  std::array<std::uint64_t, op_count> prev_ok{}, prev_errors{};
  std::uint64_t prev_shed = 0, prev_echo_mismatches = 0, prev_leak_bytes = 0;
  double load_elapsed_s = 0; ///< load time run so far, all segments
  /// This process's cumulative counters as of its last sample (op_recorder::take_window): what
  /// the checkpoint saves, so that its totals agree exactly with the samples its journal holds
  /// and with `whole` (a process killed after a sample loses what came after it, from all three).
  struct counters {
    std::array<std::uint64_t, op_count> ok{}, errors{};
    std::uint64_t shed = 0, echo_mismatches = 0, leak_bytes = 0;
  } at_sample;
  std::string prev_stall_evidence; ///< the first own stall of an earlier segment, formatted
};

struct criterion {
  std::string name;
  std::string value;
  std::string threshold;
  bool pass = true;
  std::string why; ///< what it measures, in a few words
};

/// The run's outcome: "pass", "fail", "interrupted" or "hang".
struct verdict {
  std::string outcome = "pass";
  int exit_code = 0;
  std::vector<criterion> criteria;
};

/// Judges the run (call with `d.mutex` held). `interrupted`/`hung` set the outcome whatever the
/// criteria say.
verdict judge(const config& cfg, const shared_state& s, const run_data& d, bool interrupted,
              bool hung);

/// The documents.
std::string render_json(const config& cfg, const shared_state& s, const run_data& d,
                        const verdict& v, bool with_samples);
std::string render_markdown(const config& cfg, const run_data& d, const verdict& v);
std::string render_csv(const run_data& d);
std::string render_jsonl(const run_data& d);
/// report.html: one self-contained page with the criteria and charts over time (RSS and live
/// bytes, descriptors and threads, live tasks and handles, throughput, p50/p99), drawn by
/// Chart.js inlined (zokio_tools/html_report.hpp).
std::string render_html(const config& cfg, const run_data& d, const verdict& v);
/// One line of samples.jsonl (and of the checkpoint's sample journal), without the newline.
std::string render_sample_line(const sample& x);
/// DIR/checkpoint.json: what --resume needs besides the journal of samples. `state` is
/// "running", "interrupted" or "finished"; `outcome` the verdict once there is one.
std::string render_checkpoint(const config& cfg, const shared_state& s, const run_data& d,
                              const std::string& state, const std::string& outcome);
/// --resume DIR: reads DIR/checkpoint.json and the first `samples` lines of
/// DIR/checkpoint.samples.jsonl into `cfg` (the settings, the profile applied, the remaining
/// duration) and `d` (samples, drift windows, segments with the new one, earlier totals, the
/// judged latency histograms so far).
/// Returns the journal's valid length in bytes, or the mistake in one line.
struct resume_result {
  bool ok = false;
  std::string error;
  std::uint64_t journal_bytes = 0;
};
/// A fresh run's first segment (index 0, started now).
segment_info first_segment();
resume_result load_checkpoint(const std::string& dir, config& cfg, run_data& d);
inline constexpr const char* checkpoint_name = "checkpoint.json";
/// Version 2 added the latency histograms (a resumed run's percentiles cover every segment).
inline constexpr const char* checkpoint_schema = "zokio.soak.checkpoint/2";
inline constexpr const char* journal_name = "checkpoint.samples.jsonl";

/// The human summary (stdout).
void print_summary(std::FILE* out, const config& cfg, const shared_state& s, const run_data& d,
                   const verdict& v);

} // namespace zokio::soak
