#!/usr/bin/env bash
# The cost of the runtime's detectors when nothing is wrong: the micro benchmarks
# (tools/zokio-bench/micro/micro_bench.cpp) with the detectors armed (the default options:
# stall_threshold 100 ms with backtraces, deadlock_grace 1 s) against the same source built with
# them off (micro-detectors-off: stall_threshold 0, stall_backtrace off,
# deadlock_grace 0), alternating the two programs ROUNDS times, each a fresh process; the median
# of each benchmark's per-operation figure. Writes the Markdown report to OUT.
#
#   tools/zokio-diag/detector_cost/detector-cost.sh [BUILD_DIR] [ROUNDS] [OUT]
#   (defaults: build 5 reports/diag/detector-cost.md)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$root/build}
rounds=${2:-5}
out=${3:-$root/reports/diag/detector-cost.md}
armed=$build/bin/zokio-bench-micro
off=$build/bin/micro-detectors-off
for b in "$armed" "$off"; do
  [[ -x $b ]] || {
    echo "detector-cost.sh: $b is not built (cmake --build $build --target zokio-bench-micro micro-detectors-off)" >&2
    exit 2
  }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cut -d' ' -f1-3 /proc/loadavg >"$tmp/load.before"
# Odd rounds run the armed program first, even rounds the other: neither always goes first.
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2 == 1)); then
    "$armed" --benchmark_min_time=0.2 --json "$tmp/armed.$r.json" >/dev/null 2>&1
    "$off" --benchmark_min_time=0.2 --json "$tmp/off.$r.json" >/dev/null 2>&1
  else
    "$off" --benchmark_min_time=0.2 --json "$tmp/off.$r.json" >/dev/null 2>&1
    "$armed" --benchmark_min_time=0.2 --json "$tmp/armed.$r.json" >/dev/null 2>&1
  fi
done
cut -d' ' -f1-3 /proc/loadavg >"$tmp/load.after"
commit=$(git -C "$root" rev-parse --short=12 HEAD)
dirty=$(git -C "$root" status --porcelain --untracked-files=no | grep -q . && echo " (dirty)" || true)
mkdir -p "$(dirname "$out")"
python3 - "$tmp" "$rounds" "$commit$dirty" "$out" <<'PY'
import glob, json, os, platform, statistics, sys
tmp, rounds, commit, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def figures(kind):
    runs = {}
    for path in sorted(glob.glob(os.path.join(tmp, kind + ".*.json"))):
        for b in json.load(open(path))["benchmarks"]:
            unit = next((k for k in b if k.startswith("ns_per_")), None)
            value = b[unit] if unit else b["real_time"]
            runs.setdefault(b["name"].replace("/real_time", ""), (unit or b["time_unit"], []))[1].append(value)
    return runs
armed, off = figures("armed"), figures("off")
load = (open(os.path.join(tmp, "load.before")).read().strip(), open(os.path.join(tmp, "load.after")).read().strip())
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
lines = [
    "# The cost of the detectors when nothing is wrong",
    "",
    "Made by `tools/zokio-diag/detector_cost/detector-cost.sh build %d` at commit %s on %s (%d cores, "
    "Linux %s). The micro benchmarks of `tools/zokio-bench/micro/micro_bench.cpp`, each program a "
    "fresh process, alternated %d times (which goes first alternates too): `zokio-bench-micro` (the default options: the stall "
    "watchdog armed at 100 ms with backtraces, deadlock detection after 1 s) against "
    "`micro-detectors-off`, the same source with `stall_threshold` 0, "
    "`stall_backtrace` off and `deadlock_grace` 0 (tools/zokio-diag/detector_cost/detectors_off.hpp). "
    "Each figure is the median of the %d runs of the benchmark's per-operation figure (lower is "
    "better); the ratio is armed / off, so above 1.00 is what the detectors cost. The machine is "
    "shared with other work (load average %s before the runs, %s after): the verdict column says "
    "`noise` when the difference between the medians is smaller than the spread of either "
    "program's own runs, so that the run cannot tell the two apart." % (rounds, commit, cpu, os.cpu_count(), platform.release(), rounds, rounds, load[0], load[1]),
    "",
    "| benchmark | unit | armed (median) | off (median) | armed / off | armed spread | off spread | verdict |",
    "|---|---|---:|---:|---:|---:|---:|---|",
]
counts, within = {}, 0
for name in armed:
    if name not in off:
        continue
    unit, a = armed[name]
    _, o = off[name]
    ma, mo = statistics.median(a), statistics.median(o)
    sa, so = (max(a) - min(a)) / ma, (max(o) - min(o)) / mo
    diff = abs(ma - mo) / mo
    verdict = "noise" if diff < max(sa, so) else ("armed slower" if ma > mo else "armed faster")
    counts[verdict] = counts.get(verdict, 0) + 1
    within = within + 1 if ma <= mo * 1.03 else within
    lines.append("| %s | %s | %.1f | %.1f | %.3f | %.0f%% | %.0f%% | %s |" % (name, unit, ma, mo, ma / mo, 100 * sa, 100 * so, verdict))
lines += ["", "Spread: (max - min) / median over the runs of one program.", "",
          "Verdicts: " + ", ".join("%d %s" % (n, v) for v, n in sorted(counts.items())) +
          "; armed within 3%% of off (median ratio at most 1.03): %d of %d benchmarks." % (within, sum(counts.values())),
          "Whether the detectors stay within 3% is shown only by benchmarks whose verdict is not "
          "`noise`; on a loaded machine, rerun the script when it is idle.", ""]
tmp_out = out + ".tmp"
open(tmp_out, "w").write("\n".join(lines))
os.replace(tmp_out, out)
print("\n".join(lines))
PY
