#!/usr/bin/env bash
# Tests of zokio-bench against stand-in peers (bench_fake_peer) and, for real_peers, the peers
# built beside zokio-bench. Timing is never asserted.
#   driver-test.sh CASE ZOKIO_BENCH FAKE_PEER SOURCE_DIR
set -uo pipefail
case_name=${1:?case}
bench=${2:?zokio-bench}
fake=${3:?bench_fake_peer}
src=${4:?tests/bench}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "bench_driver_$case_name: $*" >&2; exit 1; }

# mkpeer DIR NAME MODE: a peer program that is the fake peer in MODE.
mkpeer() {
  mkdir -p "$1"
  printf '#!/bin/sh\nexec "%s" --fake %s "$@"\n' "$fake" "$3" >"$1/zokio-bench-peer-$2"
  chmod +x "$1/zokio-bench-peer-$2"
}
# expect CODE CMD...: runs CMD (output in $tmp/out, $tmp/err), checks its exit code.
expect() {
  local want=$1
  shift
  timeout 100 "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [[ $rc -eq $want ]] || {
    cat "$tmp/out" "$tmp/err" >&2
    fail "exit $rc, not $want: $*"
  }
}
has() { grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "$1 lacks: $2"; }; }
one_line_err() {
  [[ $(wc -l <"$tmp/err") -eq 1 ]] || { cat "$tmp/err" >&2; fail "stderr is not one line: $*"; }
  has "$tmp/err" "zokio-bench"
}

good_peers() { # DIR: zokio and libuv good, asio partial, tokio skipped at build, node not built
  mkpeer "$1" zokio zokio
  mkpeer "$1" libuv good
  mkpeer "$1" asio partial
  echo "cargo not found (test)" >"$1/zokio-bench-peer-tokio.skipped"
}

case $case_name in
usage)
  d=$tmp/peers
  good_peers "$d"
  for args in "--bogus" "--suite nope" "--peers zokio,nope" "--peers zokio,zokio" \
    "--workloads nope" "--repetitions 0" "--repetitions x" "--scale 0" "--scale -1" \
    "--workers 0" "--timeout 0" "--format xml" "--suite runtime --workloads tcp_stream" \
    "--peer-dir $tmp/nonexistent" "--json $tmp/no/such/dir/out.json" \
    "--html $tmp/no/such/dir/out.html" "--html -" "--markdown" "--github -" \
    "compare" "compare a.json" \
    "compare $src/fixtures/base.json $src/fixtures/same.json --threshold abc"; do
    # shellcheck disable=SC2086
    expect 2 "$bench" --peer-dir "$d" $args
    one_line_err "$args"
  done
  expect 2 "$bench" --peer-dir "$d" --json "$tmp/ok.json" --html "$tmp/no/such/dir/out.html"
  has "$tmp/err" "--html $tmp/no/such/dir/out.html"
  # Chart.js missing: a clear line, exit 2, before any work.
  expect 2 env ZOKIO_BENCH_CHARTJS=$tmp/none.js "$bench" --peer-dir "$d" --html "$tmp/p.html"
  one_line_err "missing Chart.js"
  has "$tmp/err" "libjs-chart.js"
  # No peer built at all: the reasons, then exit 2.
  mkdir "$tmp/empty"
  expect 2 "$bench" --peer-dir "$tmp/empty" --suite runtime --repetitions 1
  has "$tmp/out" "skipped zokio: not built"
  has "$tmp/err" "nothing to run"
  expect 0 "$bench" --help
  has "$tmp/out" "timer_precision_1ms_loaded"
  has "$tmp/out" "Library was built as DEBUG"
  expect 0 "$bench" --version
  [[ $(wc -l <"$tmp/out") -eq 1 ]] || fail "--version is not one line"
  has "$tmp/out" "zokio-bench 0."
  ;;
suites)
  d=$tmp/peers
  good_peers "$d"
  for suite in runtime io; do
    expect 0 "$bench" --peer-dir "$d" --suite "$suite" --repetitions 1 --scale 0.01 \
      --json "$tmp/$suite.json"
    j=$tmp/$suite.json
    has "$j" '"schema": "zokio.bench/1"'
    has "$j" '"reason": "cargo not found (test)"'
    has "$j" '"reason": "not built"'
    has "$j" '"zokio_build_type"'
    has "$j" '"zokio_git_dirty": "' # a string, as Google Benchmark context values are
    has "$j" '"run_type": "aggregate"'
    has "$j" '"aggregate_name": "median"'
    has "$tmp/out" "skipped tokio: cargo not found (test)"
    has "$tmp/out" "skipped node: not built"
    has "$tmp/out" "no 95% confidence interval"
    has "$tmp/out" "zokio-bench: exit 0 (passed)"
    # The document reads back: compare against itself finds nothing.
    expect 0 "$bench" compare "$j" "$j"
  done
  has "$tmp/runtime.json" '"name": "runtime/spawn_join/zokio"'
  has "$tmp/runtime.json" '"reason": "not implemented by asio"'
  has "$tmp/runtime.json" '"name": "runtime/spawn_join/asio"'
  # park_memory: bytes per task = extra.rss_growth_bytes / ops (the fake peer reports 200 per op).
  has "$tmp/runtime.json" '"name": "runtime/park_memory/zokio"'
  has "$tmp/runtime.json" '"bytes_per_task": 200'
  has "$tmp/io.json" '"name": "io/tcp_stream/libuv"'
  has "$tmp/io.json" '"bytes_per_second"'
  has "$tmp/io.json" '"name": "io/timer_precision_1ms/zokio"'
  has "$tmp/io.json" '"p99"'
  # Enough repetitions for an interval of the median.
  expect 0 "$bench" --peer-dir "$d" --workloads spawn_join --repetitions 6 --scale 0.01 \
    --peers zokio,libuv --json "$tmp/ci.json"
  has "$tmp/ci.json" '"ci_level": 0.96875'
  if grep -q '"ci95_low": null' "$tmp/ci.json"; then fail "no interval with 6 repetitions"; fi
  has "$tmp/ci.json" '"ratio":'
  ;;
formats)
  d=$tmp/peers
  good_peers "$d"
  w="--workloads spawn_join,yield_many,tcp_stream,timer_precision_1ms --repetitions 2 --scale 0.01"
  # shellcheck disable=SC2086
  expect 0 "$bench" --peer-dir "$d" $w --json - --format json
  has "$tmp/out" '"schema": "zokio.bench/1"'
  has "$tmp/err" "zokio-bench: exit 0" # the table goes to stderr when the JSON is on stdout
  # shellcheck disable=SC2086
  expect 0 "$bench" --peer-dir "$d" $w --format github
  has "$tmp/out" '"name": "io/tcp_stream/zokio"'
  has "$tmp/out" '"unit": "ns/KiB"'
  has "$tmp/out" '"range": "± '
  [[ $(head -c1 "$tmp/out") == "[" ]] || fail "github format is not an array"
  # shellcheck disable=SC2086
  expect 0 "$bench" --peer-dir "$d" $w --format markdown --json "$tmp/out.md"
  has "$tmp/out.md" "| runtime | spawn_join | ns/op |"
  has "$tmp/out.md" "skipped **tokio**: cargo not found (test)"
  # One run, every format.
  # shellcheck disable=SC2086
  expect 0 "$bench" --peer-dir "$d" $w --json "$tmp/all.json" --markdown "$tmp/all.md" \
    --github "$tmp/all-github.json"
  has "$tmp/all.json" '"schema": "zokio.bench/1"'
  has "$tmp/all.md" "| runtime | spawn_join | ns/op |"
  has "$tmp/all-github.json" '"unit": "ns/KiB"'
  # --json - into a pipe whose reader has gone: one line naming the output, exit 2, no SIGPIPE.
  "$bench" --peer-dir "$d" --workloads spawn_join --repetitions 1 --scale 0.01 --json - \
    2>"$tmp/cp.err" | true
  rc=${PIPESTATUS[0]}
  ((rc == 2)) || { cat "$tmp/cp.err" >&2; fail "closed pipe: exit $rc, not 2"; }
  tail -n 1 "$tmp/cp.err" | grep -Fq "zokio-bench: --json -: " ||
    fail "closed pipe: the last line does not name the output"
  ;;
pin)
  # --pin: a one-worker runtime workload's repetition runs its peers on one CPU, the repetitions
  # taking the CPUs in turn; multi-worker workloads keep every CPU, and so does a run without it.
  d=$tmp/peers
  good_peers "$d"
  w="--workloads spawn_join,multi_worker_spawn_many --peers zokio,libuv --scale 0.01"
  # shellcheck disable=SC2086
  expect 0 "$bench" --peer-dir "$d" $w --repetitions 3 --pin --json "$tmp/pin.json" \
    --markdown "$tmp/pin.md"
  has "$tmp/out" "each repetition of a one-worker runtime workload ran all its peers on one CPU"
  has "$tmp/pin.md" "Pinned (\`--pin\`)"
  # shellcheck disable=SC2086
  expect 0 "$bench" --peer-dir "$d" $w --repetitions 1 --json "$tmp/free.json"
  python3 - "$tmp/pin.json" "$tmp/free.json" <<'PY' || fail "--pin did not pin as documented"
import json, os, sys
pinned, free = (json.load(open(p)) for p in sys.argv[1:3])
everything = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
cpus = sorted(os.sched_getaffinity(0))
assert pinned["context"]["pin"] is True and free["context"]["pin"] is False
for b in pinned["benchmarks"]:
    if b["name"].startswith("runtime/spawn_join/"):
        # three repetitions: the CPUs in turn, each sample on one CPU; the last is in "extra"
        assert b["sample_cpus"] == [cpus[i % len(cpus)] for i in range(3)], b
        assert b["extra"]["allowed_cpus"] == str(cpus[2 % len(cpus)]), b
    else:  # multi_worker_spawn_many: not pinned, and the driver's own set came back after
        assert "sample_cpus" not in b, b
        assert b["extra"]["allowed_cpus"] == everything, b
for b in free["benchmarks"]:
    assert "sample_cpus" not in b and b["extra"]["allowed_cpus"] == everything, b
PY
  ;;
malformed)
  d=$tmp/peers
  mkpeer "$d" zokio cheat
  mkpeer "$d" libuv badversion
  mkpeer "$d" asio bad
  mkpeer "$d" tokio good
  start=$(date +%s)
  expect 3 "$bench" --peer-dir "$d" --timeout 3 --repetitions 1 --scale 0.01 --json "$tmp/m.json" \
    --workloads spawn_join,yield_many,chained_spawn,ping_pong,spawn_many_local,mpsc_ping,park_memory
  (($(date +%s) - start < 60)) || fail "the run took too long: the watchdog did not work"
  o=$tmp/out
  has "$o" "broken libuv: --version exited 1: fake peer: cannot tell my version"
  has "$o" "spawn_join asio repetition 1: standard output is not a JSON object: 'this is not JSON'"
  has "$o" "yield_many asio repetition 1: exited 1: fake peer: count wrong"
  has "$o" "chained_spawn asio repetition 1: timed out after 3 s (killed by the watchdog)"
  has "$o" "ping_pong asio repetition 1: printed 2 lines on standard output, not 1"
  has "$o" "spawn_many_local asio repetition 1: killed by signal 6"
  has "$o" "mpsc_ping asio repetition 1: printed nothing on standard output"
  has "$o" "park_memory asio repetition 1: extra.rss_growth_bytes missing"
  has "$o" "spawn_join zokio repetition 1: rejected: checks.sync_fallbacks = 1, not 0"
  has "$o" "zokio-bench: exit 3"
  has "$tmp/m.json" '"timed_out": true'
  has "$tmp/m.json" '"name": "runtime/ping_pong/tokio"'
  # Without the hang, failures are exit 1.
  expect 1 "$bench" --peer-dir "$d" --timeout 3 --repetitions 1 --scale 0.01 \
    --workloads spawn_join,ping_pong --peers zokio,asio,tokio
  has "$tmp/out" "zokio-bench: exit 1"
  ;;
http)
  d=$tmp/peers
  mkpeer "$d" zokio zokio
  mkpeer "$d" libuv good
  mkpeer "$d" asio serve-badexit
  mkpeer "$d" tokio serve-noline
  expect 1 "$bench" --peer-dir "$d" --suite http --repetitions 1 --scale 0.01 --timeout 20 \
    --json "$tmp/h.json"
  has "$tmp/h.json" '"name": "http/http_plaintext/zokio"'
  has "$tmp/h.json" '"name": "http/http_connections/libuv"'
  has "$tmp/h.json" '"server_cpu_us_per_request"'
  has "$tmp/h.json" '"rss_after_kib"'
  has "$tmp/h.json" '"p999"'
  has "$tmp/out" "the server exited 7 after SIGTERM, not 0"
  has "$tmp/out" "--serve http: not a listening line: 'ready'"
  expect 0 "$bench" --peer-dir "$d" --suite http --repetitions 1 --scale 0.01 --timeout 20 \
    --peers zokio,libuv
  ;;
html)
  d=$tmp/peers
  good_peers "$d"
  expect 0 "$bench" --peer-dir "$d" --workloads spawn_join,yield_many,tcp_stream,timer_precision_1ms \
    --repetitions 2 --scale 0.01 --html "$tmp/page.html"
  if grep -q 'src="http' "$tmp/page.html"; then fail "the page loads something from the network"; fi
  has "$tmp/page.html" "Chart.js v"
  command -v chromium >/dev/null || fail "chromium not installed (scripts/install-deps.sh)"
  timeout 90 chromium --headless --no-sandbox --disable-gpu --virtual-time-budget=5000 \
    --user-data-dir="$tmp/chromium" --dump-dom "file://$tmp/page.html" >"$tmp/dom.html" 2>"$tmp/chromium.log" ||
    { tail -5 "$tmp/chromium.log" >&2; fail "chromium failed"; }
  has "$tmp/dom.html" 'data-rendered="4"'
  sizes=$(grep -o 'data-size="[0-9]*x[0-9]*"' "$tmp/dom.html")
  [[ $(wc -l <<<"$sizes") -eq 4 ]] || fail "not 4 canvases drawn: $sizes"
  if grep -q 'data-size="0x\|x0"' <<<"$sizes"; then fail "a canvas of size zero: $sizes"; fi
  ;;
compare)
  f=$src/fixtures
  expect 1 "$bench" compare "$f/base.json" "$f/regressed.json"
  has "$tmp/out" "REGRESSED"
  has "$tmp/out" "1 Zokio benchmark(s) regressed"
  # 9 against 9, all apart: the exact two-sided p is 2 / C(18, 9) = 4.11e-05.
  has "$tmp/out" "+20.0% 4.11e-05  REGRESSED"
  expect 1 "$bench" compare "$f/base.json" "$f/regressed_rate.json" --threshold 5%
  has "$tmp/out" "io/tcp_stream/zokio"
  expect 0 "$bench" compare "$f/base.json" "$f/regressed.json" --threshold 30%
  expect 0 "$bench" compare "$f/base.json" "$f/improved.json"
  has "$tmp/out" "improved"
  expect 0 "$bench" compare "$f/base.json" "$f/same.json"
  expect 0 "$bench" compare "$f/few_base.json" "$f/few.json"
  has "$tmp/out" "too few repetitions"
  expect 2 "$bench" compare "$f/base.json" "$f/malformed.json"
  one_line_err malformed
  has "$tmp/err" "malformed.json: not valid JSON"
  expect 2 "$bench" compare "$f/wrong_schema.json" "$f/base.json"
  one_line_err wrong schema
  expect 2 "$bench" compare "$f/base.json" "$tmp/missing.json"
  one_line_err missing
  has "$tmp/err" "missing.json: cannot be read"
  ;;
interrupt)
  d=$tmp/peers
  mkpeer "$d" asio bad
  "$bench" --peer-dir "$d" --peers asio --workloads chained_spawn --timeout 100 --repetitions 1 \
    --json "$tmp/i.json" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  sleep 2
  kill -TERM $pid
  for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  kill -0 $pid 2>/dev/null && { kill -KILL $pid; fail "zokio-bench did not stop on SIGTERM"; }
  wait $pid
  rc=$?
  ((rc == 3)) || { cat "$tmp/out" "$tmp/err"; fail "exit $rc after SIGTERM, not 3"; }
  has "$tmp/out" "interrupted"
  has "$tmp/i.json" '"interrupted": true'
  if pgrep -f "$d/zokio-bench-peer-asio" >/dev/null; then fail "the peer outlived zokio-bench"; fi
  ;;
real_peers)
  d=$(dirname "$bench")
  built=$(find "$d" -maxdepth 1 -name 'zokio-bench-peer-*' ! -name '*.skipped' -perm -u+x | wc -l)
  if ((built == 0)); then
    echo "no peer is built in $d: nothing to smoke (skipped)"
    exit 77
  fi
  for suite in runtime io http; do
    expect 0 "$bench" --suite "$suite" --repetitions 1 --scale 0.01 --timeout 60 \
      --json "$tmp/$suite.json"
    cat "$tmp/out"
    for s in "$d"/zokio-bench-peer-*.skipped; do
      [[ -e $s ]] || continue
      has "$tmp/$suite.json" "\"reason\": \"$(head -n1 "$s")"
    done
  done
  for format in github markdown; do
    expect 0 "$bench" --workloads spawn_join,tcp_ping_pong --repetitions 1 --scale 0.01 \
      --format "$format" --json "$tmp/out.$format"
  done
  ;;
*) fail "unknown case" ;;
esac
echo "bench_driver_$case_name: passed"
