#!/usr/bin/env bash
# Regenerates the committed results in reports/ from the release build (make run builds it):
#   reports/diag/check-async.json   zokio-diag --check-async
#   reports/bench/micro.json        zokio-bench-micro, 9 repetitions, aggregates
#   reports/bench/tcp.json          zokio-bench-tcp (Zokio and raw libuv in one run), 9 repetitions
# Timings depend on the machine and its load: compare rows within one file, not across machines.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=build/bin
for b in zokio-diag zokio-bench-micro zokio-bench-tcp; do
  [[ -x $bin/$b ]] || { echo "make-reports: $bin/$b is missing; run 'make run' first" >&2; exit 2; }
done
mkdir -p reports/diag reports/bench
"$bin/zokio-diag" --check-async --json reports/diag/check-async.json >/dev/null
reps=(--benchmark_repetitions=9 --benchmark_report_aggregates_only=true
      --benchmark_enable_random_interleaving=true --benchmark_format=console)
"$bin/zokio-bench-micro" "${reps[@]}" --benchmark_out_format=json \
  --benchmark_out=reports/bench/micro.json.tmp
mv reports/bench/micro.json.tmp reports/bench/micro.json
"$bin/zokio-bench-tcp" "${reps[@]}" --benchmark_out_format=json \
  --benchmark_out=reports/bench/tcp.json.tmp
mv reports/bench/tcp.json.tmp reports/bench/tcp.json
echo "make-reports: wrote reports/diag/check-async.json, reports/bench/micro.json, reports/bench/tcp.json"
