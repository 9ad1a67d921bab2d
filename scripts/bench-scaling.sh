#!/usr/bin/env bash
# How the multi-worker workloads scale from 1 to 2 worker threads, Zokio beside Tokio's
# multi_thread scheduler (and Asio's io_context run by W threads), issue #10's "Multi-worker":
#
#   scripts/bench-scaling.sh [--repetitions N] [--out DIR]     (default 7, reports/bench)
#
# Runs `zokio-bench --suite runtime --workloads multi_worker_spawn_many,multi_worker_mpsc` with
# --workers 1 and with --workers 2, alternating the two settings REPS times (one repetition per
# zokio-bench call, so load drifting on a shared machine falls on both alike), and writes
#   DIR/scaling-w1.json, DIR/scaling-w2.json   every run's report (zokio.bench/1), one per setting
#                                              (the last call of each; all samples are in DIR/scaling.md)
#   DIR/scaling.md                             per workload and peer: median time per op at 1 and
#                                              at 2 workers, speedup = t(1) / t(2), and Zokio's
#                                              speedup beside each peer's
# Exit: 0 written, 2 usage or a missing build, 1 a zokio-bench run failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
reps=7
out=reports/bench
while (($#)); do
  case $1 in
  --repetitions) reps=${2:?--repetitions needs a number}; shift 2 ;;
  --out) out=${2:?--out needs a directory}; shift 2 ;;
  -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
  *) echo "bench-scaling: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "bench-scaling: --repetitions must be a positive integer" >&2; exit 2; }
bench=build/bin/zokio-bench
[[ -x $bench ]] || { echo "bench-scaling: $bench is missing; run 'make run' first" >&2; exit 2; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
workloads=multi_worker_spawn_many,multi_worker_mpsc
for ((i = 1; i <= reps; ++i)); do
  for w in 1 2; do
    echo "bench-scaling: round $i/$reps, --workers $w" >&2
    "$bench" --suite runtime --workloads "$workloads" --peers zokio,tokio,asio --workers "$w" \
      --repetitions 1 --json "$tmp/w$w-$i.json" >/dev/null || {
      echo "bench-scaling: zokio-bench failed (round $i, --workers $w)" >&2
      exit 1
    }
  done
done
cp "$tmp/w1-$reps.json" "$out/scaling-w1.json.tmp" && mv "$out/scaling-w1.json.tmp" "$out/scaling-w1.json"
cp "$tmp/w2-$reps.json" "$out/scaling-w2.json.tmp" && mv "$out/scaling-w2.json.tmp" "$out/scaling-w2.json"
python3 - "$tmp" "$reps" "$out/scaling.md" <<'PY'
import glob, json, os, statistics, sys
tmp, reps, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
samples = {}  # (workload, peer, workers) -> [ns/op]
ctx = None
for path in sorted(glob.glob(os.path.join(tmp, "w*-*.json"))):
    w = int(os.path.basename(path)[1])
    doc = json.load(open(path))
    ctx = ctx or doc.get("context", {})
    for b in doc["benchmarks"]:
        if b.get("aggregate_name") == "median" and b.get("samples"):
            samples.setdefault((b["workload"], b["peer"], w), []).extend(b["samples"])
rows = []
peers = sorted({p for (_, p, _) in samples}, key=lambda p: (p != "zokio", p))
for wl in sorted({k[0] for k in samples}):
    speed = {}
    for p in peers:
        a, b = samples.get((wl, p, 1)), samples.get((wl, p, 2))
        if not a or not b:
            continue
        m1, m2 = statistics.median(a), statistics.median(b)
        speed[p] = m1 / m2
        rows.append((wl, p, m1, m2, m1 / m2, len(a), len(b)))
    for p in peers:
        if p != "zokio" and p in speed and "zokio" in speed:
            rows.append((wl, "zokio vs " + p, None, None, speed["zokio"] / speed[p], None, None))
lines = [
    "## Scaling from 1 to 2 workers",
    "",
    f"`scripts/bench-scaling.sh --repetitions {reps}`: each round runs `zokio-bench --suite runtime "
    "--workloads multi_worker_spawn_many,multi_worker_mpsc --peers zokio,tokio,asio --repetitions 1` "
    "with `--workers 1`, then with `--workers 2`; medians over the rounds. Speedup = time per op at 1 "
    "worker / time per op at 2 (above 1: faster with two); the `zokio vs` rows divide Zokio's speedup "
    "by the peer's (at or above 1: Zokio scales at least as well). Tokio runs its multi_thread "
    "scheduler with W worker threads, Asio one io_context run by W threads, Zokio W workers.",
    "",
    "| workload | peer | 1 worker (ns/op) | 2 workers (ns/op) | speedup | samples |",
    "|---|---|--:|--:|--:|--:|",
]
for wl, p, m1, m2, s, n1, n2 in rows:
    if m1 is None:
        lines.append(f"| {wl} | {p} | | | **{s:.2f}** | |")
    else:
        lines.append(f"| {wl} | {p} | {m1:.1f} | {m2:.1f} | {s:.2f} | {n1}+{n2} |")
env = ctx or {}
lines += ["", "Environment (from the last run): " + ", ".join(
    f"{k}: {env[k]}" for k in ("date", "cpu_model", "num_cpus", "zokio_git_commit", "zokio_git_dirty",
                               "zokio_build_type", "load_avg", "load_avg_end") if k in env), ""]
with open(dest + ".tmp", "w") as f:
    f.write("\n".join(lines))
os.replace(dest + ".tmp", dest)
print("bench-scaling: wrote " + dest)
PY
