#!/usr/bin/env bash
# Runs one libFuzzer target for a while from its seeds; fails on any crash, sanitizer report,
# leak or timeout (libFuzzer exits non-zero and writes the input as crash-*/leak-*/timeout-* in
# WORK_DIR, which this prints).
#   run-fuzz.sh WORK_DIR FUZZER SECONDS SEED_DIR...
# ZOKIO_FUZZ_SECONDS in the environment overrides SECONDS (make fuzz).
set -uo pipefail
work=$1 fuzzer=$(realpath "$2") seconds=${ZOKIO_FUZZ_SECONDS:-$3}
shift 3
# Paths relative to where this was started, before the cd below.
seeds=()
for s in "$@"; do
  seeds+=("$(realpath "$s")")
done
mkdir -p "$work/corpus" || exit 2
cd "$work" || exit 2
rm -f crash-* leak-* timeout-* oom-*
# New coverage is kept in WORK_DIR/corpus (never the source tree); the per-input lines are left out.
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  corpus "${seeds[@]}" 2>&1 | grep -a -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)|^[[:space:]]+NEW_FUNC|^".*" # Uses: '
rc=${PIPESTATUS[0]}
for f in crash-* leak-* timeout-* oom-*; do
  [[ -e $f ]] && echo "run-fuzz: $(basename "$fuzzer") found $work/$f ($(stat -c %s "$f") bytes)"
done
if ((rc != 0)); then
  echo "run-fuzz: $(basename "$fuzzer") failed (exit $rc)"
fi
exit $rc
