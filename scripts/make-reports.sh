#!/usr/bin/env bash
# Regenerates the committed results in reports/ from the release build (make run builds it):
#   reports/diag/check-async.json   zokio-diag --check-async
#   reports/bench/micro.json        zokio-bench-micro, 9 repetitions, aggregates
#   reports/bench/tcp.json          zokio-bench-tcp (Zokio and raw libuv in one run), 9 repetitions
#   reports/bench/zokio-bench.{json,md,html}
#                                   zokio-bench --suite all: Zokio beside raw libuv, Asio, Tokio
#                                   and Node.js (the peers that are built), interleaved, default
#                                   repetitions; the README's ratios are quoted from this file
#
#   reports/soak/ci/                zokio-soak --profile ci --out (samples, summary, report.html)
#   reports/bench/scaling.md        scripts/bench-scaling.sh: multi-worker workloads at 1 and 2
#                                   workers beside Tokio and Asio (part "scaling")
#
#   scripts/make-reports.sh [diag|bench|compare|soak|scaling]...   (default: all of them)
#
# Every file records the commit the tools were built from and whether the tree was dirty then
# (git_commit/git_dirty, or context.zokio_git_commit/zokio_git_dirty): build from a clean commit
# before regenerating. Each tool writes its file through its own checked writer (atomically, and
# only after checking the path). Timings depend on the machine and its load: compare rows within
# one file, not across machines.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
parts=("$@")
((${#parts[@]} != 0)) || parts=(diag bench compare soak scaling)
bin=build/bin
for b in zokio-diag zokio-bench-micro zokio-bench-tcp zokio-bench zokio-soak; do
  [[ -x $bin/$b ]] || { echo "make-reports: $bin/$b is missing; run 'make run' first" >&2; exit 2; }
done
if [[ -n $(git status --porcelain --untracked-files=no -- . ':!reports' 2>/dev/null) ]]; then
  echo "make-reports: warning: the tree has uncommitted changes; the reports say which build" \
    "they come from (dirty flag), commit and rebuild for clean provenance" >&2
fi
mkdir -p reports/diag reports/bench
written=()
for part in "${parts[@]}"; do
  case $part in
  diag)
    "$bin/zokio-diag" --check-async --json reports/diag/check-async.json >/dev/null
    written+=(reports/diag/check-async.json)
    ;;
  bench)
    reps=(--benchmark_repetitions=9 --benchmark_report_aggregates_only=true
      --benchmark_enable_random_interleaving=true)
    "$bin/zokio-bench-micro" "${reps[@]}" --json reports/bench/micro.json
    "$bin/zokio-bench-tcp" "${reps[@]}" --json reports/bench/tcp.json
    written+=(reports/bench/micro.json reports/bench/tcp.json)
    ;;
  compare)
    "$bin/zokio-bench" --suite all --json reports/bench/zokio-bench.json \
      --markdown reports/bench/zokio-bench.md --html reports/bench/zokio-bench.html
    written+=(reports/bench/zokio-bench.json reports/bench/zokio-bench.md
      reports/bench/zokio-bench.html)
    ;;
  soak)
    mkdir -p reports/soak/ci
    "$bin/zokio-soak" --profile ci --out reports/soak/ci
    # The checkpoint is for --resume of a stopped run; a finished report does not keep it.
    rm -f reports/soak/ci/checkpoint.json reports/soak/ci/checkpoint.samples.jsonl
    written+=(reports/soak/ci)
    ;;
  scaling)
    scripts/bench-scaling.sh --out reports/bench
    written+=(reports/bench/scaling.md reports/bench/scaling-w1.json reports/bench/scaling-w2.json)
    ;;
  *)
    echo "make-reports: unknown part '$part' (diag, bench, compare, soak or scaling)" >&2
    exit 2
    ;;
  esac
done
echo "make-reports: wrote ${written[*]}"
