#!/usr/bin/env bash
# Before/after pairs of the Zokio peer, one run apart: for docs/decisions.md's measurements of a
# change on this noisy shared machine, where `zokio-bench compare` of two whole suite runs puts
# seconds of drift between the two sides of each workload.
#
#   scripts/peer-ab.sh BEFORE_BIN AFTER_BIN ROUNDS "WORKLOAD:SIZE ..." [-- PEER_ARGS...]
#
# BEFORE_BIN and AFTER_BIN are directories holding a zokio-bench-peer-zokio each (build/bin of
# two commits). For each workload, ROUNDS rounds each run the two peers once with
# `--run WORKLOAD --size SIZE PEER_ARGS` (for example `-- --workers 2`), back to back, which one
# goes first alternating. Prints per workload the medians of both, the median of the rounds'
# after / before ratios with the lowest and highest, and in how many rounds after was faster.
# Exit: 0 done, 2 usage, 1 a peer run failed.
set -euo pipefail
usage() {
  sed -n '5,13p' "$0" >&2
  exit 2
}
(($# >= 4)) || usage
before=$1 after=$2 rounds=$3 workloads=$4
shift 4
if (($#)); then
  [[ $1 == -- ]] || usage
  shift
fi
for d in "$before" "$after"; do
  [[ -x $d/zokio-bench-peer-zokio ]] || {
    echo "peer-ab: $d/zokio-bench-peer-zokio is missing" >&2
    exit 2
  }
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || {
  echo "peer-ab: ROUNDS must be a positive whole number, not '$rounds'" >&2
  exit 2
}
for w in $workloads; do
  [[ $w =~ ^[a-z0-9_]+:[1-9][0-9]*$ ]] || {
    echo "peer-ab: '$w' is not WORKLOAD:SIZE" >&2
    exit 2
  }
done
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
for w in $workloads; do
  name=${w%%:*} size=${w##*:}
  for ((i = 1; i <= rounds; i++)); do
    order=(before after)
    ((i % 2)) || order=(after before)
    for side in "${order[@]}"; do
      dir=$before
      [[ $side == after ]] && dir=$after
      out=$("$dir/zokio-bench-peer-zokio" --run "$name" --size "$size" "$@") || {
        echo "peer-ab: $side: $name failed" >&2
        exit 1
      }
      seconds=$(grep -o '"seconds":[0-9.e+-]*' <<<"$out" | cut -d: -f2)
      echo "$name $side $i $seconds" >>"$runs"
    done
  done
done
python3 - "$runs" <<'PY'
import collections, statistics, sys
rounds = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    name, side, i, seconds = line.split()
    rounds[name].setdefault(int(i), {})[side] = float(seconds)
for name, by_round in rounds.items():
    pairs = [r for r in by_round.values() if len(r) == 2]
    ratios = sorted(r["after"] / r["before"] for r in pairs)
    print("%-24s before %.4f s  after %.4f s  after/before %.3f (%.3f to %.3f)  after faster in %d of %d"
          % (name, statistics.median(r["before"] for r in pairs),
             statistics.median(r["after"] for r in pairs), statistics.median(ratios),
             ratios[0], ratios[-1], sum(x < 1 for x in ratios), len(ratios)))
PY
