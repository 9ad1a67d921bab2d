#!/usr/bin/env bash
# The integration cases of the benchmark tools' output (bench_main.cpp).
#
#   bench-cases.sh CASE BENCH FILTER JSON_CHECK WORKDIR
#
# BENCH runs only the benchmarks matching FILTER, briefly. CASE is one of:
#   json-file     --json FILE exits 0; FILE is valid benchmark JSON naming the build's commit and
#                 dirty flag; no temporary file is left beside it
#   json-stdout   --json - exits 0; standard output is exactly the JSON, the display went to
#                 standard error
#   bad-path      --json into a missing directory exits 2 at once with one line naming the path,
#                 before any benchmark runs; --benchmark_out_format=csv exits 2
#   version       --version prints "NAME X.Y.Z (commit[-dirty])"; --help shows the exit codes
set -u

# shellcheck source=cases-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cases-lib.sh"
args_or_usage 5 5 "bench-cases.sh CASE BENCH FILTER JSON_CHECK WORKDIR" $#
case_name=$1
bench=$2
filter=$3
json_check=$4
work=$5
rm -rf "$work" && mkdir -p "$work"
name=$(basename "$bench")
quick=(--benchmark_filter="$filter" --benchmark_min_time=0.01)

# run NAME ARG...: runs the benchmark tool and shows its exit code and standard error.
run() {
  run_tool "$1" "$bench" "${@:2}"
  echo "--- $1: exit $rc; stderr:"
  cat "$work/$1.err"
}

case $case_name in
json-file)
  run json-file "${quick[@]}" --json "$work/bench.json"
  ((rc == 0)) || fail "--json FILE exited $rc, expected 0"
  "$json_check" "$work/bench.json" || fail "the JSON is wrong"
  [[ $(find "$work" -name '.bench.json.*' | wc -l) == 0 ]] || fail "a temporary file was left"
  ;;
json-stdout)
  run json-stdout "${quick[@]}" --json -
  ((rc == 0)) || fail "--json - exited $rc, expected 0"
  "$json_check" "$work/json-stdout.out" || fail "standard output is not the JSON alone"
  grep -q "$filter" "$work/json-stdout.err" || fail "the display did not go to standard error"
  ;;
bad-path)
  SECONDS=0
  run bad-path "${quick[@]}" --json "$work/no/such/dir/bench.json"
  ((rc == 2)) || fail "--json into a missing directory exited $rc, expected 2"
  ((SECONDS < 5)) || fail "it took ${SECONDS}s to fail: benchmarks ran first"
  [[ ! -s $work/bad-path.out ]] || fail "something ran before the error"
  [[ $(wc -l <"$work/bad-path.err") == 1 ]] || fail "not one line on standard error"
  grep -Fq "$name: --json $work/no/such/dir/bench.json: " "$work/bad-path.err" ||
    fail "the error does not name the path"
  run bad-format "${quick[@]}" --benchmark_out="$work/x.csv" --benchmark_out_format=csv
  ((rc == 2)) || fail "--benchmark_out_format=csv exited $rc, expected 2"
  ;;
version)
  run version --version
  ((rc == 0)) || fail "--version exited $rc"
  grep -Eq "^$name [0-9]+\.[0-9]+\.[0-9]+ \(([0-9a-f]{12}(-dirty)?|unknown)\)$" \
    "$work/version.out" || fail "--version printed '$(cat "$work/version.out")'"
  run help --help
  ((rc == 0)) || fail "--help exited $rc"
  for code in 0 1 2; do
    grep -Eq "^  $code  [a-z]" "$work/help.out" || fail "--help has no line for exit code $code"
  done
  ;;
*)
  echo "bench-cases.sh: unknown case '$case_name'" >&2
  exit 2
  ;;
esac

finish_case "bench-cases.sh ($name)"
