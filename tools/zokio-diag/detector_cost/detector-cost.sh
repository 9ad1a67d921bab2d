#!/usr/bin/env bash
# The cost of the runtime's detectors when nothing is wrong: the micro benchmarks
# (tools/zokio-bench/micro/micro_bench.cpp) with the detectors armed (the default options:
# stall_threshold 100 ms with backtraces, deadlock_grace 1 s) against them off (stall_threshold 0,
# stall_backtrace off, deadlock_grace 0), both from the one binary micro-detectors-off (armed with
# ZOKIO_DETECTORS=armed). A third way, exact (ZOKIO_DETECTORS=exact), is armed but reads busy time
# at every transition as off does, instead of sampling it by the watchdog's tick: armed / off is
# what a user gets, exact / off what the detectors' own work costs. In each of ROUNDS rounds every
# benchmark runs alone in a fresh process each way, the three back to back; for each benchmark the
# median of the rounds' paired ratios with a distribution-free confidence interval, and a verdict
# against 3%. Writes the Markdown report to OUT.
#
#   tools/zokio-diag/detector_cost/detector-cost.sh [BUILD_DIR] [ROUNDS] [OUT]
#   (defaults: build 15 reports/diag/detector-cost.md; 15 rounds give a 96.5% interval)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$root/build}
rounds=${2:-15}
out=${3:-$root/reports/diag/detector-cost.md}
if [[ ! $rounds =~ ^[1-9][0-9]*$ ]]; then
  echo "detector-cost.sh: ROUNDS must be a positive whole number, not '$rounds'" >&2
  exit 2
fi
# One binary, both ways: micro-detectors-off runs with the detectors off, and with
# ZOKIO_DETECTORS=armed with the default options (detectors_off.hpp). The pair then differs in the
# options alone, not in how the compiler laid out two builds of the same source.
prog=$build/bin/micro-detectors-off
# micro-detectors-off is not part of the default build: build it (up to date) first.
if ! cmake --build "$build" --target micro-detectors-off >/dev/null; then
  echo "detector-cost.sh: could not build micro-detectors-off in $build" >&2
  exit 2
fi
[[ -x $prog ]] || {
  echo "detector-cost.sh: $prog was not built" >&2
  exit 2
}
# The two halves of a pair also start from the same stack and environment layout: values and file
# names of equal length, and a padding variable of the same random length (0 to 4095 bytes, new
# each round). Where a process's stack starts depends on the size of its environment and
# arguments, and a few bytes there moved a single benchmark by 5% either way (README, "The same
# layout for both halves"); a random padding each round spreads that over the rounds instead of
# giving one half a fixed advantage.
armed=(env ZOKIO_DETECTORS=armed "$prog")
off=(env ZOKIO_DETECTORS=unarm "$prog")
exact=(env ZOKIO_DETECTORS=exact "$prog")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cut -d' ' -f1-3 /proc/loadavg >"$tmp/load.before"
# Both programs of a round run on one CPU: the CPUs of a shared virtual machine need not be
# equally fast (tools/zokio-diag/README.md, "Why one CPU a round"), and a pair split across two of
# them measures the CPUs, not the detectors. The rounds take the CPUs this script may use in turn,
# two rounds each (unpinned where taskset is missing). The rounds take the six orders of the three
# ways in turn: no way always goes first, and each goes before each other one as often as after.
mapfile -t cpus < <(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)), sep="\n")')
pin() { "$@"; }
if command -v taskset >/dev/null && ((${#cpus[@]} > 0)); then
  pin() { taskset -c "$cpu" "$@"; }
fi
# Each benchmark is a pair of its own: the armed program and the off one run it alone
# (--benchmark_filter), back to back, a second apart instead of a whole suite apart. This
# machine's speed drifts by several percent within seconds (tools/zokio-diag/README.md, "Pairs
# a benchmark apart"); the nearer the two halves of a pair, the less of that drift is in its ratio.
mapfile -t benchmarks < <("$prog" --benchmark_list_tests)
if ((${#benchmarks[@]} == 0)); then
  echo "detector-cost.sh: $prog lists no benchmarks" >&2
  exit 2
fi
one() { # KIND ROUND INDEX NAME (KIND: armed, off or exact; the file names are of equal length)
  local -n cmd=$1
  local file=$tmp/${1:0:3}.$2.$3.json
  ZOKIO_LAYOUT_PAD=$pad pin "${cmd[@]}" --benchmark_filter="^$4\$" --benchmark_min_time=0.2 \
    --json "$file" >/dev/null 2>&1 || echo "detector-cost.sh: $1 round $2: $4 failed" >&2
}
orders=("armed off exact" "off exact armed" "exact armed off" "armed exact off" "exact off armed"
  "off armed exact")
for ((r = 1; r <= rounds; r++)); do
  if ((${#cpus[@]} > 0)); then
    cpu=${cpus[$(((r - 1) / 2 % ${#cpus[@]}))]}
  fi
  pad=$(printf "%$((RANDOM % 4096))s" "")
  read -r -a order <<<"${orders[$(((r - 1) % 6))]}"
  for i in "${!benchmarks[@]}"; do
    for kind in "${order[@]}"; do
      one "$kind" "$r" "$i" "${benchmarks[$i]}"
    done
  done
done
cut -d' ' -f1-3 /proc/loadavg >"$tmp/load.after"
commit=$(git -C "$root" rev-parse --short=12 HEAD)
dirty=$(git -C "$root" status --porcelain --untracked-files=no | grep -q . && echo " (dirty)" || true)
mkdir -p "$(dirname "$out")"
python3 - "$tmp" "$rounds" "$commit$dirty" "$out" <<'PY'
import glob, json, math, os, platform, statistics, sys
tmp, rounds, commit, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def figures(kind):
    """name -> (unit, {round: value}); a pair is the same name in the same round."""
    runs = {}
    for path in glob.glob(os.path.join(tmp, kind + ".*.json")):
        r, i = (int(x) for x in os.path.basename(path).split(".")[1:3])
        try:
            doc = json.load(open(path))
        except ValueError:
            continue  # a failed run (reported above): that pair is left out
        for b in doc["benchmarks"]:
            unit = next((k for k in b if k.startswith("ns_per_")), None)
            value = b[unit] if unit else b["real_time"]
            runs.setdefault(b["name"].replace("/real_time", ""), (unit or b["time_unit"], {}, i))[1][r] = value
    return dict(sorted(runs.items(), key=lambda kv: kv[1][2]))  # the suite's order
armed, off, exact = figures("arm"), figures("off"), figures("exa")
load = (open(os.path.join(tmp, "load.before")).read().strip(), open(os.path.join(tmp, "load.after")).read().strip())
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")

def median_interval(values):
    """A distribution-free confidence interval for the median of `values`: the order statistics
    v[k] and v[n-1-k] of the sorted sample, where the median lies below v[k] only when at most k
    of the n values fall below it (binomial, p = 1/2). The widest k whose coverage is at least 95%,
    or the whole range (k = 0) when even that falls short. Returns (low, high, coverage)."""
    v, n = sorted(values), len(values)
    coverage_of = lambda k: 1 - 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    k = 0
    while k + 1 <= (n - 1) // 2 and coverage_of(k + 1) >= 0.95:
        k += 1
    return v[k], v[n - 1 - k], coverage_of(k)

lines = [
    "# The cost of the detectors when nothing is wrong",
    "",
    "Made by `tools/zokio-diag/detector_cost/detector-cost.sh build %d` at commit %s on %s (%d cores, "
    "Linux %s; load average %s before the runs, %s after). The micro benchmarks of "
    "`tools/zokio-bench/micro/micro_bench.cpp` in %d rounds, from one binary (`micro-detectors-off`, "
    "tools/zokio-diag/detector_cost/detectors_off.hpp) run three ways: armed (`ZOKIO_DETECTORS=armed`: "
    "the default options, the stall watchdog at 100 ms with backtraces and the libuv poll-phase marks, "
    "deadlock detection after 1 s; busy time sampled by the watchdog's millisecond tick), exact "
    "(`ZOKIO_DETECTORS=exact`: armed, but busy time read at every transition, "
    "`runtime_options::testing.exact_busy_time`) and off (`stall_threshold` 0, `stall_backtrace` off, "
    "`deadlock_grace` 0; with no watchdog busy time is read at every transition), "
    "so that the three differ in the options only, not in code layout; all of them get environments and arguments of the same length "
    "(a padding variable of a random length, the same for all, new each round), so their stacks start alike. In each round every benchmark runs alone "
    "(`--benchmark_filter`) in a fresh process each way, "
    "one right after the other on the same CPU (the rounds take the CPUs in turn, two rounds each; "
    "every thread of the processes on that one CPU), the rounds taking the six orders of the three in turn. "
    "Each round gives paired ratios of the benchmark's per-operation figure: armed / off is what a user "
    "who keeps the defaults pays or saves, exact / off what the detectors' own work costs with busy "
    "time measured the same way on both sides (above 1.00 is a cost). The tables show the median of the rounds' ratios and a "
    "distribution-free confidence interval for it (order statistics, coverage in the last column). "
    "The verdict is `within 3%%` when the whole interval is at most 1.03, `over 3%%` when it is all "
    "above, and `undecided` when it straddles 1.03: the run cannot tell." % (
        rounds, commit, cpu, os.cpu_count(), platform.release(), load[0], load[1], rounds),
    "",
]

def compare(title, num, num_label):
    """A table of num / off for every benchmark both have; returns {verdict: count}."""
    lines.extend([
        "## " + title,
        "",
        "| benchmark | unit | %s (median) | off (median) | %s / off (median of rounds) | interval | coverage | verdict |" % (num_label, num_label),
        "|---|---|---:|---:|---:|---|---:|---|",
    ])
    counts = {}
    for name in num:
        if name not in off:
            continue
        unit, n_by_round, _ = num[name]
        o_by_round = off[name][1]
        paired = sorted(set(n_by_round) & set(o_by_round))
        if not paired:
            continue
        a = [n_by_round[r] for r in paired]
        o = [o_by_round[r] for r in paired]
        ratios = [x / y for x, y in zip(a, o)]
        low, high, coverage = median_interval(ratios)
        verdict = "within 3%" if high <= 1.03 else ("over 3%" if low > 1.03 else "undecided")
        counts[verdict] = counts.get(verdict, 0) + 1
        lines.append("| %s | %s | %.1f | %.1f | %.3f | %.3f to %.3f | %.1f%% | %s |" % (
            name + ("" if len(paired) == rounds else " (%d pairs)" % len(paired)), unit,
            statistics.median(a), statistics.median(o), statistics.median(ratios), low, high,
            100 * coverage, verdict))
    total = sum(counts.values())
    lines.extend(["", "Verdicts: " + ", ".join("%d %s" % (n, v) for v, n in sorted(counts.items())) +
                  " (of %d benchmarks)." % total, ""])
    return counts, total

armed_counts, armed_total = compare("Armed as users run them, against off", armed, "armed")
exact_counts, exact_total = compare("The detectors' own work: armed with exact busy time, against off", exact, "exact")
for what, (counts, total) in (("the armed detectors, as users run them,", (armed_counts, armed_total)),
                              ("the detectors' own work (exact against off)", (exact_counts, exact_total))):
    if total > 0 and counts.get("within 3%", 0) == total:
        lines.append("Every interval is at most 1.03: in this run %s cost under 3%%." % what)
    else:
        lines.append("Not every interval is at most 1.03, so this run does not show that %s cost "
                     "under 3%% everywhere; an `undecided` row needs more rounds or a quieter machine." % what)
    lines.append("")
tmp_out = out + ".tmp"
open(tmp_out, "w").write("\n".join(lines))
os.replace(tmp_out, out)
print("\n".join(lines))
PY
