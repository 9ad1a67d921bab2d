#include "report.hpp"

#include <zokio_tools/exit_codes.hpp>
#include <zokio_tools/html_report.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace zokio::bench {

namespace {

using zokio::tools::html_escape;

std::vector<double> values_of(const cell& c) {
  std::vector<double> v;
  for (const sample& s : c.samples) {
    v.push_back(s.value);
  }
  return v;
}

const cell* find_cell(const run_result& run, const workload& w, const std::string& peer) {
  for (const cell& c : run.cells) {
    if (c.w == &w && c.peer == peer) {
      return &c;
    }
  }
  return nullptr;
}

/// The selected workloads, in table order.
std::vector<const workload*> workloads_of(const run_result& run) {
  std::vector<const workload*> v;
  for (const std::string& n : run.options.workloads) {
    v.push_back(find_workload(n));
  }
  return v;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// What a cell shows in a table: the median and the ratio, or why there is none.
std::string cell_text(const run_result& run, const cell& c, bool with_ratio) {
  if (c.skipped) {
    return c.skipped->rfind("not implemented", 0) == 0 ? "n/i" : "skipped";
  }
  const auto s = summary_of(c);
  if (!s) {
    return "FAILED";
  }
  std::string t = human(s->median);
  if (!c.failures.empty()) {
    t += "!";
  }
  if (with_ratio && c.peer != "zokio") {
    if (const auto r = ratio(run, *c.w, c.peer)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, " (x%.2f)", *r);
      t += buf;
    }
  }
  return t;
}

std::string ratio_rule() {
  return "ratio = Zokio's median / the peer's median for times (ns/op, us) and sizes (B/conn, "
         "B/task), the peer's / "
         "Zokio's for rates (B/s, req/s): below 1 Zokio is better in both";
}

/// A smaller-is-better value for github-action-benchmark: rates become time per unit.
struct smaller_view {
  std::string unit;
  double (*convert)(double);
};

smaller_view smaller_of(const workload& w) {
  switch (w.metric) {
  case metric_kind::bytes_per_second:
    return {"ns/KiB", [](double bps) { return bps > 0 ? 1024e9 / bps : 0; }};
  case metric_kind::requests_per_second:
    return {"us/req", [](double rps) { return rps > 0 ? 1e6 / rps : 0; }};
  default:
    return {info(w.metric).unit, [](double v) { return v; }};
  }
}

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

/// "tcp_ping_pong libuv: p50 24.1, p99 61, max 410" for every cell whose peer reported
/// latency_us; each percentile is the median of that percentile over the repetitions.
std::vector<std::string> latency_rows(const run_result& run) {
  std::vector<std::string> rows;
  for (const cell& c : run.cells) {
    std::map<std::string, std::vector<double>> lat;
    for (const sample& x : c.samples) {
      for (const auto& [k, v] : x.latency_us) {
        lat[k].push_back(v);
      }
    }
    if (lat.empty()) {
      continue;
    }
    std::string line = c.w->name + " " + c.peer + ":";
    for (const char* k : {"p50", "p99", "p999", "max"}) {
      if (lat.count(k) != 0) {
        line += std::string(" ") + k + " " + human(median_of(lat[k]));
      }
    }
    rows.push_back(line);
  }
  return rows;
}

} // namespace

std::string human(double v) {
  char buf[64];
  const double a = std::abs(v);
  if (a >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.3gG", v / 1e9);
  } else if (a >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.3gM", v / 1e6);
  } else if (a >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.3gk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.4g", v);
  }
  return buf;
}

std::optional<summary> summary_of(const cell& c) {
  if (c.samples.empty()) {
    return std::nullopt;
  }
  return summarize(values_of(c));
}

std::optional<double> ratio(const run_result& run, const workload& w, const std::string& peer) {
  const cell* z = find_cell(run, w, "zokio");
  const cell* p = find_cell(run, w, peer);
  if (z == nullptr || p == nullptr) {
    return std::nullopt;
  }
  const auto zs = summary_of(*z);
  const auto ps = summary_of(*p);
  if (!zs || !ps || zs->median <= 0 || ps->median <= 0) {
    return std::nullopt;
  }
  return info(w.metric).bigger_is_better ? ps->median / zs->median : zs->median / ps->median;
}

namespace {

const char* pin_rule() {
  return "each repetition of a one-worker runtime workload ran all its peers on one CPU, the "
         "repetitions taking the CPUs in turn (samples' CPUs in the JSON's sample_cpus)";
}

} // namespace

void print_table(std::FILE* out, const run_result& run) {
  const auto& peers = run.options.peers;
  std::fprintf(out, "zokio-bench: median of %d repetition(s) per workload and peer; %s\n",
               run.options.repetitions, ratio_rule().c_str());
  if (run.options.pin) {
    std::fprintf(out, "zokio-bench: %s\n", pin_rule());
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"suite", "workload", "unit"};
  head.insert(head.end(), peers.begin(), peers.end());
  rows.push_back(head);
  for (const workload* w : workloads_of(run)) {
    std::vector<std::string> row = {w->suite, w->name, info(w->metric).unit};
    for (const std::string& p : peers) {
      const cell* c = find_cell(run, *w, p);
      row.push_back(c != nullptr ? cell_text(run, *c, true) : "");
    }
    rows.push_back(row);
  }
  std::vector<std::size_t> width(head.size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i] + std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    std::fprintf(out, "%s\n", line.c_str());
  }
  std::fprintf(out, "(n/i: not implemented by that peer; !: some repetitions failed, see below)\n");
  const auto lat = latency_rows(run);
  if (!lat.empty()) {
    std::fprintf(out, "latency in us (per percentile, the median over the repetitions):\n");
    for (const std::string& line : lat) {
      std::fprintf(out, "  %s\n", line.c_str());
    }
  }
  // Each reason once: whole peers first, then per workload.
  for (const peer& p : run.peers) {
    if (!p.available) {
      std::fprintf(out, "%s %s: %s\n", p.broken ? "broken" : "skipped", p.name.c_str(),
                   p.reason.c_str());
    }
  }
  std::map<std::string, std::vector<std::string>> not_implemented;
  for (const cell& c : run.cells) {
    const auto p = std::find_if(run.peers.begin(), run.peers.end(),
                                [&c](const peer& x) { return x.name == c.peer; });
    if (c.skipped && p->available) {
      if (c.skipped->rfind("not implemented", 0) == 0) {
        not_implemented[c.peer].push_back(c.w->name);
      } else {
        std::fprintf(out, "skipped %s %s: %s\n", c.peer.c_str(), c.w->name.c_str(),
                     c.skipped->c_str());
      }
    }
  }
  for (const auto& [p, list] : not_implemented) {
    std::string names;
    for (const std::string& n : list) {
      names += (names.empty() ? "" : ", ") + n;
    }
    std::fprintf(out, "not implemented by %s: %s\n", p.c_str(), names.c_str());
  }
  for (const cell& c : run.cells) {
    for (const failure& f : c.failures) {
      if (f.repetition == 0) {
        continue; // the broken peer's line above says it
      }
      std::fprintf(out, "FAILED %s/%s %s repetition %d: %s\n", c.w->suite.c_str(),
                   c.w->name.c_str(), c.peer.c_str(), f.repetition, f.reason.c_str());
    }
  }
  if (run.options.repetitions < min_repetitions_for_ci()) {
    std::fprintf(out, "no 95%% confidence interval of the median: %d repetition(s), it needs %d\n",
                 run.options.repetitions, min_repetitions_for_ci());
  }
  if (run.interrupted) {
    std::fprintf(out, "interrupted: the run was cut short by SIGINT or SIGTERM\n");
  }
}

ojson to_json(const run_result& run) {
  ojson doc;
  doc["schema"] = "zokio.bench/1";
  doc["tool"] = "zokio-bench";
  doc["context"] = run.context;
  ojson benchmarks = ojson::array();
  const auto wls = workloads_of(run);
  for (std::size_t wi = 0; wi < wls.size(); ++wi) {
    const workload& w = *wls[wi];
    const metric_info m = info(w.metric);
    for (std::size_t pi = 0; pi < run.options.peers.size(); ++pi) {
      const cell* c = find_cell(run, w, run.options.peers[pi]);
      if (c == nullptr) {
        continue;
      }
      const auto s = summary_of(*c);
      if (!s) {
        continue;
      }
      const std::string name = w.suite + "/" + w.name + "/" + c->peer;
      ojson b;
      b["name"] = name;
      b["family_index"] = wi;
      b["per_family_instance_index"] = pi;
      b["run_name"] = name;
      b["run_type"] = "aggregate";
      b["repetitions"] = c->samples.size();
      b["threads"] = 1;
      b["aggregate_name"] = "median";
      b["aggregate_unit"] = "time";
      b["iterations"] = c->samples.size();
      // real_time: a time per op in time_unit; the metric itself is "value" in "unit".
      std::vector<double> cpu;
      std::vector<double> ops;
      for (const sample& x : c->samples) {
        cpu.push_back(x.cpu_seconds / static_cast<double>(x.ops));
        ops.push_back(static_cast<double>(x.ops) / x.seconds);
      }
      const double cpu_per_op = median_of(cpu);
      const double ops_per_second = median_of(ops);
      switch (w.metric) {
      case metric_kind::time_per_op:
        b["real_time"] = s->median;
        b["cpu_time"] = cpu_per_op * 1e9;
        b["time_unit"] = "ns";
        b["items_per_second"] = 1e9 / s->median;
        break;
      case metric_kind::bytes_per_second:
        b["real_time"] = 1e9 / s->median;
        b["cpu_time"] = cpu_per_op * 1e9;
        b["time_unit"] = "ns";
        b["bytes_per_second"] = s->median;
        b["items_per_second"] = s->median;
        break;
      case metric_kind::lateness_p99:
        b["real_time"] = s->median;
        b["cpu_time"] = cpu_per_op * 1e6;
        b["time_unit"] = "us";
        b["items_per_second"] = ops_per_second;
        break;
      case metric_kind::requests_per_second:
        b["real_time"] = 1e6 / s->median;
        b["cpu_time"] = cpu_per_op * 1e6; // the server's CPU per request
        b["time_unit"] = "us";
        b["items_per_second"] = s->median;
        break;
      case metric_kind::bytes_per_connection:
        b["real_time"] = 1e6 / ops_per_second; // time to open and serve one connection
        b["cpu_time"] = 0;
        b["time_unit"] = "us";
        b["items_per_second"] = ops_per_second;
        break;
      case metric_kind::bytes_per_task:
        b["real_time"] = 1e9 / ops_per_second; // time to spawn and park one task
        b["cpu_time"] = 0;
        b["time_unit"] = "ns";
        b["items_per_second"] = ops_per_second;
        b["bytes_per_task"] = s->median;
        break;
      }
      b["suite"] = w.suite;
      b["workload"] = w.name;
      b["peer"] = c->peer;
      b["peer_version"] = run.context["peers"][c->peer]["version"];
      b["size"] = c->size;
      b["metric"] = m.name;
      b["unit"] = m.unit;
      b["bigger_is_better"] = m.bigger_is_better;
      b["value"] = s->median;
      b["min"] = s->min;
      b["max"] = s->max;
      b["ci95_low"] = s->ci_low ? ojson(*s->ci_low) : ojson(nullptr);
      b["ci95_high"] = s->ci_high ? ojson(*s->ci_high) : ojson(nullptr);
      b["ci_level"] = s->ci_level;
      if (!s->ci_low) {
        b["ci95_note"] = "too few repetitions for a 95% interval of the median (" +
                         std::to_string(c->samples.size()) + ", it needs " +
                         std::to_string(min_repetitions_for_ci()) + ")";
      }
      b["samples"] = values_of(*c);
      if (std::any_of(c->samples.begin(), c->samples.end(),
                      [](const sample& x) { return x.cpu >= 0; })) {
        ojson cpus = ojson::array();
        for (const sample& x : c->samples) {
          cpus.push_back(x.cpu);
        }
        b["sample_cpus"] = cpus; // --pin: the CPU of each sample, in the order of "samples"
      }
      b["failed_repetitions"] = c->failures.size();
      std::map<std::string, std::vector<double>> lat;
      for (const sample& x : c->samples) {
        for (const auto& [k, v] : x.latency_us) {
          lat[k].push_back(v);
        }
      }
      if (!lat.empty()) {
        ojson l;
        for (const auto& [k, v] : lat) {
          l[k] = median_of(v);
        }
        b["latency_us_median"] = l;
      }
      const sample& last = c->samples.back();
      if (!last.checks.is_null()) {
        b["checks"] = last.checks;
      }
      if (!last.extra.is_null()) {
        b["extra"] = last.extra;
      }
      benchmarks.push_back(b);
    }
  }
  doc["benchmarks"] = benchmarks;
  ojson ratios;
  ratios["definition"] = ratio_rule();
  ojson entries = ojson::array();
  for (const workload* w : wls) {
    for (const std::string& p : run.options.peers) {
      if (p == "zokio") {
        continue;
      }
      if (const auto r = ratio(run, *w, p)) {
        entries.push_back({{"name", w->suite + "/" + w->name},
                           {"workload", w->name},
                           {"peer", p},
                           {"ratio", *r},
                           {"zokio_median", summary_of(*find_cell(run, *w, "zokio"))->median},
                           {"peer_median", summary_of(*find_cell(run, *w, p))->median},
                           {"unit", info(w->metric).unit}});
      }
    }
  }
  ratios["entries"] = entries;
  doc["ratios"] = ratios;
  ojson skipped = ojson::array();
  ojson failures = ojson::array();
  for (const cell& c : run.cells) {
    if (c.skipped) {
      skipped.push_back({{"peer", c.peer}, {"workload", c.w->name}, {"reason", *c.skipped}});
    }
    for (const failure& f : c.failures) {
      failures.push_back({{"peer", c.peer},
                          {"workload", c.w->name},
                          {"repetition", f.repetition},
                          {"timed_out", f.timed_out},
                          {"reason", f.reason}});
    }
  }
  doc["skipped"] = skipped;
  doc["failures"] = failures;
  doc["interrupted"] = run.interrupted;
  doc["exit_code"] = run.exit_code;
  doc["exit_meaning"] = tools::exit_meaning(run.exit_code);
  return doc;
}

std::string to_github(const run_result& run) {
  ojson list = ojson::array();
  for (const workload* w : workloads_of(run)) {
    const smaller_view view = smaller_of(*w);
    for (const std::string& p : run.options.peers) {
      const cell* c = find_cell(run, *w, p);
      const auto s = c != nullptr ? summary_of(*c) : std::nullopt;
      if (!s) {
        continue;
      }
      const double v = view.convert(s->median);
      double lo = view.convert(s->min);
      double hi = view.convert(s->max);
      std::string range_kind = "min-max";
      if (s->ci_low) {
        lo = view.convert(*s->ci_low);
        hi = view.convert(*s->ci_high);
        range_kind = "95% CI of the median";
      }
      if (lo > hi) {
        std::swap(lo, hi);
      }
      std::string extra = "median of " + std::to_string(c->samples.size()) + " repetitions; " +
                          "range: " + range_kind + " " + fmt(lo) + " to " + fmt(hi);
      if (info(w->metric).bigger_is_better) {
        extra += "\nmeasured as " + fmt(s->median) + " " + info(w->metric).unit;
      }
      if (p == "zokio") {
        for (const std::string& q : run.options.peers) {
          if (const auto r = q != "zokio" ? ratio(run, *w, q) : std::nullopt) {
            extra += "\nratio zokio/" + q + ": " + fmt(*r);
          }
        }
      }
      list.push_back({{"name", w->suite + "/" + w->name + "/" + p},
                      {"unit", view.unit},
                      {"value", v},
                      {"range", "± " + fmt(std::max(v - lo, hi - v))},
                      {"extra", extra}});
    }
  }
  return list.dump(2) + "\n";
}

std::string to_markdown(const run_result& run) {
  std::ostringstream md;
  const ojson& ctx = run.context;
  md << "## zokio-bench\n\n";
  md << "Median of " << run.options.repetitions << " repetition(s) per workload and peer; "
     << ratio_rule() << ". `n/i`: not implemented by that peer; `!`: some repetitions failed.\n\n";
  if (run.options.pin) {
    md << "Pinned (`--pin`): " << pin_rule() << ".\n\n";
  }
  md << "| suite | workload | unit |";
  for (const std::string& p : run.options.peers) {
    md << " " << p << " |";
  }
  md << "\n|---|---|---|";
  for (std::size_t i = 0; i < run.options.peers.size(); ++i) {
    md << "--:|";
  }
  md << "\n";
  for (const workload* w : workloads_of(run)) {
    md << "| " << w->suite << " | " << w->name << " | " << info(w->metric).unit << " |";
    for (const std::string& p : run.options.peers) {
      const cell* c = find_cell(run, *w, p);
      md << " " << (c != nullptr ? cell_text(run, *c, true) : "") << " |";
    }
    md << "\n";
  }
  md << "\n";
  const auto lat = latency_rows(run);
  if (!lat.empty()) {
    md << "Latency in µs (per percentile, the median over the repetitions):\n\n";
    for (const std::string& line : lat) {
      md << "- " << line << "\n";
    }
    md << "\n";
  }
  for (const peer& p : run.peers) {
    if (!p.available) {
      md << "- " << (p.broken ? "broken" : "skipped") << " **" << p.name << "**: " << p.reason
         << "\n";
    }
  }
  for (const cell& c : run.cells) {
    for (const failure& f : c.failures) {
      if (f.repetition > 0) {
        md << "- FAILED " << c.w->name << " " << c.peer << " repetition " << f.repetition << ": "
           << f.reason << "\n";
      }
    }
  }
  md << "\n<details><summary>Environment</summary>\n\n";
  md << "- date: " << ctx.value("date", "") << "\n";
  md << "- CPU: " << ctx.value("cpu_model", "") << ", " << ctx.value("num_cpus", 0) << " cores\n";
  md << "- kernel: " << ctx.value("kernel", "") << "\n";
  md << "- zokio-bench: " << ctx.value("zokio_version", "") << " "
     << ctx.value("zokio_git_commit", "")
     << (ctx.value("zokio_git_dirty", "") == "true" ? " (dirty)" : "") << ", "
     << ctx.value("zokio_build_type", "") << " build\n";
  md << "- load average at start / end: " << ctx["load_avg"].dump() << " / "
     << (ctx.contains("load_avg_end") ? ctx["load_avg_end"].dump() : "?") << "\n";
  for (const peer& p : run.peers) {
    if (p.available) {
      md << "- " << p.name << ": " << p.version << "\n";
    }
  }
  md << "- command: `" << ctx.value("command", "") << "`\n\n</details>\n";
  return md.str();
}

std::string to_html(const run_result& run, const std::string& chartjs) {
  // The data the page draws, from the JSON report.
  const ojson doc = to_json(run);
  ojson charts = ojson::array();
  for (const workload* w : workloads_of(run)) {
    ojson ch;
    ch["title"] = w->suite + "/" + w->name;
    ch["unit"] = info(w->metric).unit;
    ch["bigger_is_better"] = info(w->metric).bigger_is_better;
    ch["measures"] = w->measures;
    ojson bars = ojson::array();
    for (const std::string& p : run.options.peers) {
      const cell* c = find_cell(run, *w, p);
      const auto s = c != nullptr ? summary_of(*c) : std::nullopt;
      ojson bar;
      bar["peer"] = p;
      if (s) {
        bar["median"] = s->median;
        bar["min"] = s->min;
        bar["max"] = s->max;
        bar["ci_low"] = s->ci_low ? ojson(*s->ci_low) : ojson(nullptr);
        bar["ci_high"] = s->ci_high ? ojson(*s->ci_high) : ojson(nullptr);
      } else {
        bar["median"] = nullptr;
        bar["note"] = c == nullptr ? "" : c->skipped ? *c->skipped : "failed";
      }
      bars.push_back(bar);
    }
    ch["bars"] = bars;
    charts.push_back(ch);
  }
  std::ostringstream h;
  h << zokio::tools::html_head(
           "zokio-bench " + run.context.value("date", ""),
           "body{font-family:sans-serif;margin:2em;max-width:70em}"
           ".chart{display:inline-block;margin:1em;vertical-align:top;width:440px}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
           "text-align:left;overflow-wrap:anywhere}h2{font-size:1em}.note{color:#666;font-size:."
           "85em}")
    << "<script>\n"
    << chartjs << "\n</script>\n</head>\n<body data-rendered=\"0\">\n"
    << "<h1>zokio-bench</h1>\n<p>Median of " << run.options.repetitions
    << " repetition(s) per workload and peer (bars); whiskers: min to max (thin) and the 95% "
       "interval of the median where there are enough repetitions (thick). "
    << html_escape(ratio_rule()) << ".</p>\n<div id=\"charts\"></div>\n<h2>Environment</h2>\n"
    << "<table>\n";
  for (const auto& [k, v] : run.context.items()) {
    h << "<tr><th>" << html_escape(k) << "</th><td>"
      << html_escape(v.is_string() ? v.get<std::string>() : v.dump()) << "</td></tr>\n";
  }
  h << "</table>\n<h2>Skipped and failed</h2>\n<ul>\n";
  for (const auto& s : doc["skipped"]) {
    h << "<li>skipped " << html_escape(s["peer"].get<std::string>()) << " "
      << html_escape(s["workload"].get<std::string>()) << ": "
      << html_escape(s["reason"].get<std::string>()) << "</li>\n";
  }
  for (const auto& f : doc["failures"]) {
    h << "<li>FAILED " << html_escape(f["peer"].get<std::string>()) << " "
      << html_escape(f["workload"].get<std::string>()) << " repetition " << f["repetition"].dump()
      << ": " << html_escape(f["reason"].get<std::string>()) << "</li>\n";
  }
  h << "</ul>\n<script>\nconst zokioBench = " << zokio::tools::script_safe(charts.dump()) << ";\n"
    << R"js(
(function () {
  let rendered = 0;
  // Whiskers: min..max thin, the 95% interval of the median thick, on every bar.
  const whiskers = {
    id: 'whiskers',
    afterDatasetsDraw(chart, args, opts) {
      const ctx = chart.ctx, y = chart.scales.y, meta = chart.getDatasetMeta(0);
      ctx.save();
      ctx.strokeStyle = '#222';
      meta.data.forEach((bar, i) => {
        const b = opts.bars[i];
        if (b.median === null) return;
        const line = (lo, hi, width, cap) => {
          ctx.lineWidth = width;
          ctx.beginPath();
          ctx.moveTo(bar.x, y.getPixelForValue(lo));
          ctx.lineTo(bar.x, y.getPixelForValue(hi));
          ctx.moveTo(bar.x - cap, y.getPixelForValue(lo));
          ctx.lineTo(bar.x + cap, y.getPixelForValue(lo));
          ctx.moveTo(bar.x - cap, y.getPixelForValue(hi));
          ctx.lineTo(bar.x + cap, y.getPixelForValue(hi));
          ctx.stroke();
        };
        line(b.min, b.max, 1, 6);
        if (b.ci_low !== null && b.ci_low !== undefined) line(b.ci_low, b.ci_high, 3, 3);
      });
      ctx.restore();
    }
  };
  const done = {
    id: 'done',
    afterRender(chart) {
      if (chart.$zokioDone) return;
      chart.$zokioDone = true;
      const c = chart.canvas;
      c.setAttribute('data-size', c.width + 'x' + c.height);
      document.body.setAttribute('data-rendered', String(++rendered));
    }
  };
  const colors = {zokio: '#d9534f', libuv: '#5bc0de', asio: '#5cb85c', tokio: '#f0ad4e',
                  node: '#6f42c1'};
  const root = document.getElementById('charts');
  zokioBench.forEach((ch, k) => {
    const box = document.createElement('div');
    box.className = 'chart';
    const title = document.createElement('h2');
    title.textContent = ch.title + ' (' + ch.unit + ', ' +
        (ch.bigger_is_better ? 'bigger' : 'smaller') + ' is better)';
    const canvas = document.createElement('canvas');
    canvas.id = 'chart-' + k;
    canvas.width = 420;
    canvas.height = 260;
    const note = document.createElement('p');
    note.className = 'note';
    note.textContent = ch.measures + '. ' + ch.bars.filter(b => b.median === null)
        .map(b => b.peer + ': ' + b.note).join('; ');
    box.append(title, canvas, note);
    root.append(box);
    new Chart(canvas, {
      type: 'bar',
      data: {
        labels: ch.bars.map(b => b.peer),
        datasets: [{label: 'median (' + ch.unit + ')', data: ch.bars.map(b => b.median),
                    backgroundColor: ch.bars.map(b => colors[b.peer] || '#999')}]
      },
      options: {
        responsive: false, animation: false,
        plugins: {legend: {display: false}, whiskers: {bars: ch.bars}},
        scales: {y: {beginAtZero: true, title: {display: true, text: ch.unit},
                     suggestedMax: Math.max(0, ...ch.bars.map(b => b.max || 0)) * 1.05}}
      },
      plugins: [whiskers, done]
    });
  });
})();
</script>
</body></html>
)js";
  return h.str();
}

} // namespace zokio::bench
