#!/usr/bin/env bash
# make test: the release suite, then the same suite under ASan + UBSan + LeakSanitizer and under
# TSan, each in its own tree (the Makefile's comment says what each tree builds and leaves out).
#
# The passes run in order and make test stops at the first that fails, but a pass's ctest does
# not leave the machine idle: much of a suite's time is spent waiting (soak runs at a fixed rate,
# timeouts, sockets, child processes), so while the release suite runs, the ASan tree is
# configured and built at the lowest CPU priority (nice 19), and the TSan tree while the ASan
# suite runs. A nice-19 compiler gets a CPU only when no test wants it, so the tests' timing is
# not squeezed; the build's output is printed after the suite's, so the log reads in order.
# A failing suite stops the build behind it.
#
#   scripts/make-test.sh [JOBS]     JOBS (default 2): build and ctest parallelism
#
# Exit status: 0 when every pass passed, otherwise the first failure's (non-zero).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=${1:-2}
if [[ ! $jobs =~ ^[1-9][0-9]*$ ]]; then
  echo "make-test.sh: JOBS must be a positive whole number, not '$jobs'" >&2
  exit 2
fi

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/zokio-make-test.XXXXXX")
background_pid=""
cleanup() {
  if [[ -n $background_pid ]] && kill -0 "$background_pid" 2>/dev/null; then
    kill -TERM -- "-$background_pid" 2>/dev/null || kill -TERM "$background_pid" 2>/dev/null
    wait "$background_pid" 2>/dev/null
  fi
  rm -rf "$log_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

total_start=$(date +%s)
elapsed() { echo $(($(date +%s) - $1)); }

# start_background_build PRESET: configures and builds a sanitizer tree (what `make test-PRESET`
# does before its ctest) at nice 19 in a process group of its own (so that a
# failing suite can stop the whole build), output to a log.
start_background_build() {
  local preset=$1
  set -m
  (
    start=$(date +%s)
    rc=0
    nice -n 19 cmake --preset "$preset" && nice -n 19 cmake --build --preset "$preset" -j "$jobs" ||
      rc=$?
    echo "$rc $(elapsed "$start")" >"$log_dir/$preset.status"
    exit "$rc"
  ) >"$log_dir/$preset.log" 2>&1 &
  background_pid=$!
  set +m
}

# finish_background_build PRESET: waits for the build, prints its log, fails make test if it did.
finish_background_build() {
  local preset=$1
  wait "$background_pid"
  background_pid=""
  echo "== make test: the $preset tree's build (at nice 19, beside the previous suite):"
  cat "$log_dir/$preset.log"
  local rc=1 seconds=?
  if [[ -r $log_dir/$preset.status ]]; then
    read -r rc seconds <"$log_dir/$preset.status"
  fi
  if ((rc != 0)); then
    echo "== make test: the $preset tree's build FAILED (exit $rc) after $seconds s"
    exit "$rc"
  fi
  echo "== make test: the $preset tree built in $seconds s"
}

# run_suite NAME CTEST-ARGS...: one ctest pass, timed; stops make test when it fails.
run_suite() {
  local name=$1
  shift
  local start rc=0
  start=$(date +%s)
  ctest "$@" || rc=$?
  echo "== make test: test-$name $( ((rc == 0)) && echo passed || echo FAILED) in $(elapsed "$start") s (its ctest)"
  if ((rc != 0)); then
    exit "$rc"
  fi
}

start=$(date +%s)
make --no-print-directory build JOBS="$jobs" || exit $?
echo "== make test: the release tree built in $(elapsed "$start") s"

start_background_build asan
run_suite release --test-dir build --output-on-failure --no-tests=error -j"$jobs"
finish_background_build asan

start_background_build tsan
run_suite asan --preset asan -j"$jobs"
finish_background_build tsan

run_suite tsan --preset tsan -j"$jobs"

echo "== make test: release, asan and tsan passes all passed in $(elapsed "$total_start") s"
