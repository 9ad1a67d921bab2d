#!/usr/bin/env bash
# The integration cases of zokio-diag that need more than an exit code.
#
#   diag-cases.sh CASE DIAG JSON_CHECK WORKDIR [README]
#
# CASE is one of:
#   check-async-json   --check-async --json FILE exits 0; the file is a passing report and no
#                      temporary file is left beside it
#   json-stdout        --check-async --json - exits 0; standard output is exactly one passing
#                      JSON document; the table went to standard error
#   bad-usage          unknown flags, unknown --inject / --only values, a bad --scenario-timeout
#                      and no check flag each exit 2 with one line on standard error
#   help-version       --help exits 0 and prints the exit-code table; --version prints
#                      "zokio-diag X.Y.Z (commit[-dirty])" and exits 0
#   readme-exit-codes  every line of --help's exit-code table is quoted in README
#   inject-hang        --inject hang exits 3 with a task dump, and the report says "hang"
#   inject-sync-fallback, inject-deadlock, inject-unclean-shutdown
#                      each injection exits 5, 4 and 1, with the matching verdict in the report
#   interrupt-int, interrupt-term
#                      SIGINT / SIGTERM during a hung scenario: exit 3, the report lists the
#                      scenarios done, the interrupted one, and the rest as not-run
#   json-symlink       --json LINK: the link's target is replaced, the link stays a link
#   json-fifo          --json FIFO with a reader: the reader gets the report, the FIFO stays
#   json-dev-stdout    --json /dev/stdout: the report is on standard output; /dev/stdout stays
#                      what it was (a symlink, also when run as root)
#   json-procsub       --json >(cat >FILE): the process substitution gets the report
#   json-bad-path      --json into a missing directory, or a directory: exit 2 at once, one
#                      line naming the path, no scenario run
#   check-deadlock-json
#                      --check-deadlock --json FILE exits 0: 3 clean scenarios pass, no cycle
#                      reported; with --check-async too, both checks are in one report
#   inject-deadlock-cycles
#                      --check-deadlock --inject deadlock exits 4; the report names each planted
#                      cycle (task names, spawn sites, co_await sites) and the table prints them
#   hang-before-deadlock
#                      --check-async --check-deadlock with a hang in the first check: exit 3, and
#                      the report lists the deadlock check's scenarios as not-run
#   check-stall-json   --check-stall exits 0: the well-behaved workload has no stall, and its
#                      report lists none
#   inject-stall       --check-stall --inject stall exits 1; each planted stall (a 300 ms busy
#                      loop, a 300 ms sleep) is reported once with its task name, spawn site,
#                      duration and a backtrace naming the injected function
#   inject-callback-stall
#                      --check-stall --inject callback-stall exits 1; a 300 ms busy loop in a
#                      libuv timer callback and one in an I/O callback of the poll phase (no task
#                      running) are each reported once as a stall in a libuv callback, with a
#                      backtrace naming the injected function; the clean scenario passes
#   check-stall-threshold
#                      --stall-threshold 40 is the threshold the clean scenario runs with (its
#                      note says so); --stall-threshold 0 exits 2
#   check-lifecycle-json
#                      --check-lifecycle exits 0: every start/stop round shut down clean
#   inject-handle-leak --check-lifecycle --inject handle-leak exits 1 naming the handle type (tcp)
#   inject-stuck-task  --check-lifecycle --inject unclean-shutdown exits 1 naming the task
#   inject-lifecycle-hang
#                      --check-lifecycle --inject hang: the shutdown that never finishes becomes
#                      exit 3 through the scenario watchdog
#   check-leaks-json   --check-leaks exits 0: every sampled resource (rss, fds, threads, handles,
#                      tasks) stays within its tolerance, and the report holds the samples
#   inject-leak        --check-leaks --inject leak exits 1 naming each growing resource (rss,
#                      fds, handles, tasks), with its trend in the report
#   check-blocking-json
#                      --check-blocking exits 0: waits in the poller and the pools are not
#                      reported, and a 200 ms busy loop is reported as on-CPU, not blocked
#   inject-blocking    --check-blocking --inject blocking exits 1; the planted sleep and read are
#                      reported as "blocked (off-CPU)" with their system call and a backtrace
#                      naming the injected function
#   junit              --junit FILE: one <testcase> per scenario, a planted leak as a <failure>
#                      with its evidence; a hang as an <error> and the scenarios not run as
#                      <skipped>; --junit into a missing directory, or --json and --junit both on
#                      standard output, exit 2
#   schema             docs/schema/zokio.diag-1.schema.json is a valid JSON Schema; a report of
#                      --all validates against it, and documents with a field missing or a bad
#                      verdict do not
#   isolation-crash    --inject crash: the async check's process dies of SIGSEGV as its second
#                      scenario begins; exit 4, the signal named on standard error and in that
#                      scenario's reason, the rest of the check not-run, and the deadlock check,
#                      in a process of its own, still runs and passes
#   check-lost-wakeup-json
#                      --check-lost-wakeup exits 0: delivered wake-ups are never reported
#   inject-lost-wakeup --check-lost-wakeup --inject lost-wakeup exits 4; the dropped waker's task
#                      is named with its spawn site and last co_await site
#   list               --list prints one line per check and per --inject kind, and exits 0
#   all                --all runs every check into one report and exits 0; --all --inject stall
#                      exits 1 with only the stall check failing
set -u

# shellcheck source=cases-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cases-lib.sh"
args_or_usage 4 5 "diag-cases.sh CASE DIAG JSON_CHECK WORKDIR [README]" $#
case_name=$1
diag=$2
json_check=$3
work=$4
readme=${5:-}
mkdir -p "$work"

# Every report a case checks is first validated against the published JSON Schema, and at the end
# of every case each *.json report left in $work is too (schema_sweep).
schema="$(dirname "${BASH_SOURCE[0]}")/../../docs/schema/zokio.diag-1.schema.json"
schema_check="$(dirname "${BASH_SOURCE[0]}")/json_schema_check.py"
# schema_rc FILE...: validates FILE... with the first python3 that has the jsonschema module
# (Debian's first: it imports in a fraction of the time of a pip one); its exit code, 2 when none
# has it.
schema_rc() {
  local py rc=2
  for py in /usr/bin/python3 python3; do
    "$py" "$schema_check" "$schema" "$@"
    rc=$?
    ((rc == 2)) || return "$rc"
  done
  return "$rc"
}
validate_schema() {
  schema_rc "$@"
  case $? in
  0) return 0 ;;
  2) fail "no python3 with the jsonschema module (scripts/install-deps.sh installs python3-jsonschema)" ;;
  *) fail "not valid against $(basename "$schema"): $*" ;;
  esac
  return 1
}
report_check=$json_check
schema_then_check() {
  validate_schema "$1" || return 1
  "$report_check" "$@"
}
json_check=schema_then_check
schema_sweep() {
  local reports=()
  mapfile -t reports < <(find "$work" -type f -name '*.json')
  ((${#reports[@]} == 0)) || validate_schema "${reports[@]}" >/dev/null
}

# run NAME ARG...: runs diag, keeping its outputs in $work/NAME.out and $work/NAME.err; sets rc.
run() {
  local name=$1
  shift
  run_tool "$name" "$diag" "$@"
}

# inject NAME KIND CODE VERDICT: --inject KIND exits CODE and the report's verdict is VERDICT.
inject() {
  local report="$work/$1.json"
  rm -f "$report"
  run "$1" --check-async --inject "$2" --json "$report"
  show "$1"
  ((rc == $3)) || fail "--inject $2 exited $rc, expected $3"
  "$json_check" "$report" --verdict "$4" --exit-code "$3" --scenarios 7 ||
    fail "the report of --inject $2 is wrong"
  grep -q "^zokio-diag: exit $3 " "$work/$1.out" || fail "no 'zokio-diag: exit $3' line"
}

# interrupt NAME SIGNAL: a run whose second scenario hangs gets SIGNAL after 2 s.
interrupt() {
  local report="$work/$1.json"
  rm -f "$report"
  timeout 60 "$diag" --check-async --only no-runtime,yield,timeout --inject hang \
    --scenario-timeout 50 --json "$report" >"$work/$1.out" 2>"$work/$1.err" &
  local pid=$!
  sleep 2
  kill "-$2" "$pid"
  wait "$pid"
  rc=$?
  show "$1"
  ((rc == 3)) || fail "SIG$2 during the run exited $rc, expected 3"
  "$json_check" "$report" --verdict interrupted --exit-code 3 --scenarios 3 ||
    fail "the report of the interrupted run is wrong"
  grep -q '"verdict": "not-run"' "$report" || fail "no scenario was reported as not-run"
  grep -q "^zokio-diag: interrupted by SIG$2" "$work/$1.err" ||
    fail "no 'interrupted by SIG$2' line on standard error"
}

# checked NAME CODE VERDICT SCENARIOS ARG...: runs diag ARG... --json $work/NAME.json (the path
# is left in $report); it must exit CODE with a valid report of verdict VERDICT holding SCENARIOS
# scenarios.
checked() {
  local name=$1 code=$2 verdict=$3 scenarios=$4
  shift 4
  report="$work/$name.json"
  rm -f "$report"
  run "$name" "$@" --json "$report"
  show "$name"
  ((rc == code)) || fail "zokio-diag $* exited $rc, expected $code"
  "$json_check" "$report" --verdict "$verdict" --exit-code "$code" --scenarios "$scenarios" ||
    fail "the report of zokio-diag $* is wrong"
}

# temporaries DIR: fails when a temporary file of the writer is left in DIR.
no_temporaries() {
  local left
  left=$(find "$1" -maxdepth 1 -name '.*.??????' -o -maxdepth 1 -name '*.tmp')
  [[ -z $left ]] || fail "temporary files left behind: $left"
}

show() {
  echo "--- $1: stdout"
  cat "$work/$1.out"
  echo "--- $1: stderr"
  cat "$work/$1.err"
}

case $case_name in
check-async-json)
  report="$work/check-async.json"
  rm -f "$report"
  run check-async --check-async --json "$report"
  show check-async
  ((rc == 0)) || fail "--check-async --json FILE exited $rc, expected 0"
  [[ -f $report && ! -L $report ]] || fail "$report is not a regular file"
  no_temporaries "$work"
  "$json_check" "$report" --verdict pass --exit-code 0 --scenarios 7 || fail "the report is wrong"
  grep -q '^check-async: PASS (7/7 scenarios)$' "$work/check-async.out" ||
    fail "no 'check-async: PASS (7/7 scenarios)' line on standard output"
  ;;
json-stdout)
  run json-stdout --check-async --json -
  show json-stdout
  ((rc == 0)) || fail "--check-async --json - exited $rc, expected 0"
  # The checker parses the whole of standard output: anything besides the document fails it.
  "$json_check" "$work/json-stdout.out" --verdict pass --exit-code 0 --scenarios 7 ||
    fail "standard output is not one passing JSON document"
  grep -q '^check-async: PASS' "$work/json-stdout.err" ||
    fail "the table did not go to standard error"
  ;;
bad-usage)
  expect_usage_error() {
    local name=$1
    shift
    run "$name" "$@"
    if ((rc != 2)); then
      show "$name"
      fail "zokio-diag $* exited $rc, expected 2"
      return
    fi
    local lines
    lines=$(wc -l <"$work/$name.err")
    if [[ $lines != 1 ]] || ! grep -q '^zokio-diag: ' "$work/$name.err"; then
      show "$name"
      fail "zokio-diag $* did not print exactly one 'zokio-diag: ...' line on standard error"
      return
    fi
    echo "ok: zokio-diag $* -> 2: $(cat "$work/$name.err")"
  }
  expect_usage_error unknown-flag --no-such-flag
  expect_usage_error unknown-flag-with-check --check-async --no-such-flag
  expect_usage_error inject-nonsense --check-async --inject nonsense
  expect_usage_error only-nonsense --check-async --only nonsense
  expect_usage_error only-one-nonsense --check-async --only yield,nonsense
  expect_usage_error no-check
  expect_usage_error no-check-with-json --json -
  expect_usage_error positional --check-async extra
  expect_usage_error timeout-zero --check-async --scenario-timeout 0
  expect_usage_error timeout-word --check-async --scenario-timeout soon
  expect_usage_error timeout-fraction --check-async --scenario-timeout 1.5
  expect_usage_error deadlock-inject-hang --check-deadlock --inject hang
  expect_usage_error deadlock-only-planted --check-deadlock --only join-cycle
  expect_usage_error deadlock-only-async-name --check-deadlock --only yield
  expect_usage_error stall-inject-handle-leak --check-stall --inject handle-leak
  expect_usage_error stall-only-planted --check-stall --only busy-loop
  expect_usage_error lifecycle-inject-stall --check-lifecycle --inject stall
  expect_usage_error leaks-inject-stall --check-leaks --inject stall
  expect_usage_error leak-inject-without-check --check-async --inject leak
  expect_usage_error blocking-inject-stall --check-blocking --inject stall
  expect_usage_error blocking-only-planted --check-blocking --only sleep-on-loop
  expect_usage_error lost-wakeup-only-planted --check-lost-wakeup --only dropped-waker
  ;;
help-version)
  run help --help
  ((rc == 0)) || fail "--help exited $rc, expected 0"
  grep -q -- '--check-async' "$work/help.out" || fail "--help does not mention --check-async"
  grep -q -- '--check-deadlock' "$work/help.out" || fail "--help does not mention --check-deadlock"
  for code in 0 1 2 3 4 5; do
    grep -Eq "^  $code  [a-z]" "$work/help.out" || fail "--help has no line for exit code $code"
  done
  run version --version
  ((rc == 0)) || fail "--version exited $rc, expected 0"
  grep -Eq '^zokio-diag [0-9]+\.[0-9]+\.[0-9]+ \(([0-9a-f]{12}(-dirty)?|unknown)\)$' \
    "$work/version.out" ||
    fail "--version printed '$(cat "$work/version.out")', not 'zokio-diag X.Y.Z (commit[-dirty])'"
  ;;
readme-exit-codes)
  [[ -f $readme ]] || fail "no README given"
  run help --help
  lines=$(grep -E '^  [0-9]  ' "$work/help.out")
  [[ -n $lines ]] || fail "--help printed no exit-code table"
  while read -r code meaning; do
    grep -Fq "| $code | $meaning |" "$readme" ||
      fail "README does not quote exit code $code as '| $code | $meaning |'"
  done <<<"$lines"
  ;;
inject-sync-fallback) inject sync-fallback sync-fallback 5 sync-fallback ;;
inject-deadlock) inject deadlock deadlock 4 deadlock ;;
inject-unclean-shutdown)
  inject unclean-shutdown unclean-shutdown 1 fail
  grep -q 'shutdown not clean: 1 task(s) left' "$work/unclean-shutdown.json" ||
    fail "the report does not say that the shutdown was not clean"
  ;;
interrupt-int) interrupt interrupt-int INT ;;
interrupt-term) interrupt interrupt-term TERM ;;
json-symlink)
  rm -rf "$work/links" && mkdir -p "$work/links/target-dir"
  echo stale >"$work/links/target-dir/report.json"
  chmod 640 "$work/links/target-dir/report.json"
  ln -s target-dir/report.json "$work/links/link.json"
  run symlink --check-async --only yield --json "$work/links/link.json"
  show symlink
  ((rc == 0)) || fail "--json LINK exited $rc, expected 0"
  [[ -L $work/links/link.json ]] || fail "the symlink was replaced"
  [[ $(readlink "$work/links/link.json") == target-dir/report.json ]] || fail "the link changed"
  "$json_check" "$work/links/target-dir/report.json" --verdict pass --exit-code 0 --scenarios 1 ||
    fail "the link's target does not hold the report"
  [[ $(stat -c %a "$work/links/target-dir/report.json") == 640 ]] ||
    fail "the target's permissions were not kept"
  no_temporaries "$work/links"
  no_temporaries "$work/links/target-dir"
  ;;
json-fifo)
  fifo="$work/report.fifo"
  rm -f "$fifo" "$work/fifo.got"
  mkfifo "$fifo"
  timeout 60 cat "$fifo" >"$work/fifo.got" &
  reader=$!
  run fifo --check-async --only yield --json "$fifo"
  show fifo
  wait "$reader" || fail "the FIFO's reader failed or timed out"
  ((rc == 0)) || fail "--json FIFO exited $rc, expected 0"
  [[ -p $fifo ]] || fail "the FIFO is no longer a FIFO"
  "$json_check" "$work/fifo.got" --verdict pass --exit-code 0 --scenarios 1 ||
    fail "the FIFO's reader did not get the report"
  ;;
json-dev-stdout)
  before=$(stat -c %F /dev/stdout)
  run dev-stdout --check-async --only yield --json /dev/stdout
  show dev-stdout
  ((rc == 0)) || fail "--json /dev/stdout exited $rc, expected 0 (uid $(id -u))"
  after=$(stat -c %F /dev/stdout)
  [[ $before == "$after" ]] || fail "/dev/stdout was '$before' and is now '$after'"
  [[ ! -e /dev/stdout.tmp ]] || fail "/dev/stdout.tmp was created"
  "$json_check" "$work/dev-stdout.out" --verdict pass --exit-code 0 --scenarios 1 ||
    fail "standard output is not the report alone"
  grep -q '^check-async: PASS' "$work/dev-stdout.err" ||
    fail "the table did not go to standard error"
  ;;
json-procsub)
  rm -f "$work/procsub.got"
  timeout 120 "$diag" --check-async --only yield --json >(cat >"$work/procsub.got") \
    >"$work/procsub.out" 2>"$work/procsub.err"
  rc=$?
  wait $! # the process substitution
  show procsub
  ((rc == 0)) || fail "--json >(...) exited $rc, expected 0"
  "$json_check" "$work/procsub.got" --verdict pass --exit-code 0 --scenarios 1 ||
    fail "the process substitution did not get the report"
  ;;
json-bad-path)
  expect_path_error() {
    local name=$1 path=$2
    SECONDS=0
    run "$name" --check-async --json "$path"
    if ((rc != 2)); then
      show "$name"
      fail "--json $path exited $rc, expected 2"
      return
    fi
    [[ ! -s $work/$name.out ]] || fail "--json $path: something ran before the error (stdout)"
    ((SECONDS < 5)) || fail "--json $path took ${SECONDS}s to fail: the scenarios ran first"
    [[ $(wc -l <"$work/$name.err") == 1 ]] || fail "--json $path: not one line on stderr"
    grep -Fq "zokio-diag: --json $path: " "$work/$name.err" ||
      fail "--json $path: the error does not name the path: $(cat "$work/$name.err")"
    ! grep -Eq 'tmp|XXXXXX' "$work/$name.err" || fail "--json $path: the error names a temporary"
    echo "ok: --json $path -> 2: $(cat "$work/$name.err")"
  }
  expect_path_error missing-dir "$work/no/such/dir/report.json"
  mkdir -p "$work/a-directory"
  expect_path_error directory "$work/a-directory"
  ;;
check-deadlock-json)
  report="$work/check-deadlock.json"
  rm -f "$report"
  run check-deadlock --check-deadlock --json "$report"
  show check-deadlock
  ((rc == 0)) || fail "--check-deadlock exited $rc, expected 0"
  "$json_check" "$report" --verdict pass --exit-code 0 --scenarios 3 || fail "the report is wrong"
  grep -q '^check-deadlock: PASS (3/3 scenarios)$' "$work/check-deadlock.out" ||
    fail "no 'check-deadlock: PASS (3/3 scenarios)' line on standard output"
  python3 - "$report" <<'PY' || fail "the passing report holds a cycle or lacks the check"
import json, sys
doc = json.load(open(sys.argv[1]))
[check] = doc["checks"]
assert check["check"] == "deadlock", check["check"]
for s in check["scenarios"]:
    assert s["cycles"] == [], (s["name"], s["cycles"])
    assert "no cycle" in s["reason"], s["reason"]
PY
  report="$work/both.json"
  run both --check-async --check-deadlock --only yield,join-chain --json "$report"
  show both
  ((rc == 0)) || fail "--check-async --check-deadlock exited $rc, expected 0"
  "$json_check" "$report" --verdict pass --exit-code 0 --scenarios 2 || fail "the report is wrong"
  grep -q '"check": "deadlock"' "$report" && grep -q '"check": "async"' "$report" ||
    fail "the report does not hold both checks"
  ;;
hang-before-deadlock)
  report="$work/hang-first.json"
  rm -f "$report"
  run hang-first --check-async --check-deadlock --only yield,join-chain --inject hang \
    --scenario-timeout 1 --json "$report"
  show hang-first
  ((rc == 3)) || fail "a hang in --check-async exited $rc, expected 3"
  python3 - "$report" <<'PY' || fail "the report of the hang does not list the later check"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["exit_code"] == 3, doc["exit_code"]
checks = {c["check"]: c for c in doc["checks"]}
assert checks["async"]["verdict"] == "hang", checks["async"]
[later] = checks["deadlock"]["scenarios"]
assert later["name"] == "join-chain" and later["verdict"] == "not-run", later
assert checks["deadlock"]["verdict"] == "not-run", checks["deadlock"]
PY
  ;;
inject-deadlock-cycles)
  report="$work/inject-deadlock.json"
  rm -f "$report"
  run inject-deadlock --check-deadlock --inject deadlock --json "$report"
  show inject-deadlock
  ((rc == 4)) || fail "--check-deadlock --inject deadlock exited $rc, expected 4"
  "$json_check" "$report" --verdict deadlock --exit-code 4 --scenarios 8 ||
    fail "the report is wrong"
  python3 - "$report" <<'PY' || fail "the report does not name the planted cycles"
import json, sys
doc = json.load(open(sys.argv[1]))
[check] = doc["checks"]
by_name = {s["name"]: s for s in check["scenarios"]}
expected = {
    "join-cycle": ({"joins-first", "joins-second"}, "join"),
    "lock-order-cycle": ({"locks-a-then-b", "locks-b-then-a"}, "mutex"),
    "partial-deadlock": ({"locks-a-then-b", "locks-b-then-a"}, "mutex"),
}
for name in ("join-chain", "mutex-contention", "lock-order"):
    assert by_name[name]["verdict"] == "pass", by_name[name]
for name, (tasks, kind) in expected.items():
    s = by_name[name]
    assert s["verdict"] == "deadlock", (name, s["verdict"], s["reason"])
    [cycle] = s["cycles"]
    ring = cycle["tasks"]
    assert {t["name"] for t in ring} == tasks, (name, ring)
    for i, t in enumerate(ring):
        assert t["waiting_on"] == kind, (name, t)
        assert t["waits_for_task"] == ring[(i + 1) % len(ring)]["id"], (name, ring)
        assert t["spawn_site"]["file"].endswith("check_deadlock.cpp"), t
        assert t["spawn_site"]["line"] > 0, t
        assert t["await_site"]["file"].endswith("check_deadlock.cpp"), t
        assert t["await_site"]["line"] > 0, t
    assert "found in" in s["reason"], s["reason"]
assert "timer kept firing" in by_name["partial-deadlock"]["reason"]
for name in ("channel-self-sender", "semaphore-cycle"):
    quiet = by_name[name]
    assert quiet["verdict"] == "deadlock" and "quiescence" in quiet["reason"], quiet
print("cycles named:", ", ".join(expected))
PY
  grep -q '^ *deadlock: 2 task(s) in a cycle$' "$work/inject-deadlock.out" ||
    fail "the table does not print the cycles"
  grep -q "'locks-a-then-b' worker 0 waits on mutex for task" "$work/inject-deadlock.out" ||
    fail "the table does not name the lock-order cycle's tasks"
  grep -q "^zokio-diag: exit 4 " "$work/inject-deadlock.out" || fail "no 'zokio-diag: exit 4' line"
  ;;
check-stall-json)
  checked check-stall 0 pass 1 --check-stall
  grep -q '^check-stall: PASS (1/1 scenarios)$' "$work/check-stall.out" ||
    fail "no 'check-stall: PASS (1/1 scenarios)' line on standard output"
  python3 - "$report" <<'PY' || fail "the passing report holds a stall"
import json, sys
doc = json.load(open(sys.argv[1]))
[check] = doc["checks"]
assert check["check"] == "stall", check["check"]
for s in check["scenarios"]:
    assert all(r["preempted"] for r in s["stalls"]), s["stalls"]
    assert s["counters"]["stalls"] == len(s["stalls"]), s
PY
  ;;
inject-stall)
  checked inject-stall 1 fail 3 --check-stall --inject stall
  python3 - "$report" <<'PY' || fail "the report does not name the planted stalls"
import json, sys
doc = json.load(open(sys.argv[1]))
[check] = doc["checks"]
by_name = {s["name"]: s for s in check["scenarios"]}
planted = {
    "busy-loop": ("stall-injected-busy", "injected_busy_loop"),
    "blocking-sleep": ("stall-injected-sleep", "injected_blocking_sleep"),
}
for name, (task, function) in planted.items():
    s = by_name[name]
    assert s["verdict"] == "fail", (name, s["verdict"])
    assert "MISSING" not in s["reason"], (name, s["reason"])
    [r] = s["stalls"]
    assert r["name"] == task, r
    assert r["spawn_site"]["file"].endswith("check_stall.cpp") and r["spawn_site"]["line"] > 0, r
    assert r["resumed_from"]["file"].endswith("check_stall.cpp"), r
    assert 25 <= r["duration_ms"] < 300, r  # the default threshold of --check-stall: 25 ms
    assert r["ended"] and r["total_ms"] >= 295, r
    assert any(function in f for f in r["backtrace"]), r["backtrace"]
    assert s["counters"]["stalls"] == 1, s["counters"]
    print(name, "reported", r["duration_ms"], "ms into the stall; backtrace:", r["backtrace"][:3])
assert by_name["well-behaved"]["verdict"] == "pass", by_name["well-behaved"]
PY
  grep -q "stall: task [0-9]* 'stall-injected-busy' on worker 1 ran" "$work/inject-stall.out" ||
    fail "the table does not print the stall report"
  grep -q "injected_busy_loop" "$work/inject-stall.out" ||
    fail "the table does not print the backtrace"
  grep -q "^zokio-diag: exit 1 " "$work/inject-stall.out" || fail "no 'zokio-diag: exit 1' line"
  ;;
inject-callback-stall)
  checked inject-callback-stall 1 fail 3 --check-stall --inject callback-stall
  python3 - "$report" <<'PY' || fail "the report does not name the planted callback stalls"
import json, sys
doc = json.load(open(sys.argv[1]))
[check] = doc["checks"]
by_name = {s["name"]: s for s in check["scenarios"]}
for name, poll in [("callback-timer", False), ("callback-io", True)]:
    s = by_name[name]
    assert s["verdict"] == "fail", (name, s["verdict"])
    assert "MISSING" not in s["reason"], (name, s["reason"])
    [r] = s["stalls"]
    assert r["in_callback"] and r["in_poll_phase"] == poll, r
    assert r["task_id"] == 0 and r["name"] == "" and r["worker"] == 1, r
    assert 25 <= r["duration_ms"] < 300, r
    assert r["ended"] and r["total_ms"] >= r["duration_ms"], r  # as the watchdog watched it
    assert any("injected_callback_busy_loop" in f for f in r["backtrace"]), r["backtrace"]
    assert s["counters"]["stalls"] == 1, s["counters"]
    print(name, "reported", r["duration_ms"], "ms into the stall; backtrace:", r["backtrace"][:3])
assert by_name["well-behaved"]["verdict"] == "pass", by_name["well-behaved"]
PY
  grep -q "stall: in a libuv callback on worker 1 (outside the poll phase" \
    "$work/inject-callback-stall.out" || fail "the table does not print the timer callback's stall"
  grep -q "stall: in a libuv callback on worker 1 (an I/O callback of the poll phase)" \
    "$work/inject-callback-stall.out" || fail "the table does not print the I/O callback's stall"
  grep -q "injected_callback_busy_loop" "$work/inject-callback-stall.out" ||
    fail "the table does not print the backtrace"
  ;;
check-stall-threshold)
  checked check-stall-threshold 0 pass 1 --check-stall --stall-threshold 40
  grep -q "threshold 40.0 ms" "$work/check-stall-threshold.json" ||
    fail "the report does not say the threshold given"
  run bad-threshold --check-stall --stall-threshold 0
  ((rc == 2)) || fail "--stall-threshold 0 exited $rc, expected 2"
  ;;
check-lifecycle-json)
  checked check-lifecycle 0 pass 2 --check-lifecycle
  grep -q '^check-lifecycle: PASS (2/2 scenarios)$' "$work/check-lifecycle.out" ||
    fail "no 'check-lifecycle: PASS (2/2 scenarios)' line on standard output"
  grep -q 'shut down clean with' "$report" || fail "the report does not say what shut down clean"
  ;;
inject-handle-leak)
  checked handle-leak 1 fail 3 --check-lifecycle --inject handle-leak
  grep -q "handle-leak: shutdown not clean: .*handles left: poll=1" "$report" ||
    fail "the report does not name the leaked handle's type"
  ;;
inject-stuck-task)
  checked stuck-task 1 fail 3 --check-lifecycle --inject unclean-shutdown
  grep -q "1 task(s) left.*'ignores-cancellation'" "$report" ||
    fail "the report does not name the task left"
  ;;
inject-lifecycle-hang)
  checked lifecycle-hang 3 hang 1 --check-lifecycle --inject hang --only shutdown-hang \
    --scenario-timeout 2
  grep -q "watchdog: 'shutdown-hang' did not finish" "$work/lifecycle-hang.err" ||
    fail "no watchdog line naming the scenario on standard error"
  grep -q "ignores-cancellation" "$work/lifecycle-hang.err" ||
    fail "the task dump does not show the task that holds the shutdown"
  ;;
list)
  run list --list
  ((rc == 0)) || fail "--list exited $rc, expected 0"
  for c in async deadlock stall lifecycle leaks blocking lost-wakeup; do
    grep -q "^check $c " "$work/list.out" || fail "--list has no line for check $c"
  done
  for k in sync-fallback hang deadlock unclean-shutdown stall callback-stall handle-leak leak \
    blocking lost-wakeup crash; do
    grep -q "^inject $k .*exit [0-9]" "$work/list.out" || fail "--list has no line for --inject $k"
  done
  lines=$(wc -l <"$work/list.out")
  ((lines == 18)) || fail "--list printed $lines lines, expected 18 (7 checks, 11 injections)"
  ;;
all)
  checked all 0 pass 18 --all
  python3 - "$report" <<'PY' || fail "the report of --all does not hold every check"
import json, sys
doc = json.load(open(sys.argv[1]))
assert [c["check"] for c in doc["checks"]] == ["async", "deadlock", "stall", "lifecycle",
                                               "leaks", "blocking", "lost-wakeup"], doc
assert all(c["verdict"] == "pass" for c in doc["checks"]), [c["verdict"] for c in doc["checks"]]
PY
  report="$work/all-stall.json"
  run all-stall --all --inject stall \
    --only yield,join-chain,busy-loop,start-stop-1-worker,runtime-cycles,waits-off-loop \
    --json "$report"
  show all-stall
  ((rc == 1)) || fail "--all --inject stall exited $rc, expected 1"
  "$json_check" "$report" --exit-code 1 --scenarios 6 || fail "the report of --all is wrong"
  python3 - "$report" <<'PY' || fail "only the stall check may fail"
import json, sys
doc = json.load(open(sys.argv[1]))
v = {c["check"]: c["verdict"] for c in doc["checks"]}
assert v == {"async": "pass", "deadlock": "pass", "stall": "fail", "lifecycle": "pass",
             "leaks": "pass", "blocking": "pass"}, v
PY
  ;;
check-leaks-json)
  checked check-leaks 0 pass 2 --check-leaks
  grep -q '^check-leaks: PASS (2/2 scenarios)$' "$work/check-leaks.out" ||
    fail "no 'check-leaks: PASS (2/2 scenarios)' line on standard output"
  python3 - "$report" <<'PY' || fail "the passing report does not show flat resources"
import json, sys
doc = json.load(open(sys.argv[1]))
[check] = doc["checks"]
assert check["check"] == "leaks", check["check"]
by_name = {s["name"]: s for s in check["scenarios"]}
want = {"steady-runtime": ["rss", "fds", "threads", "handles", "tasks"],
        "runtime-cycles": ["rss", "fds", "threads"]}
for name, resources in want.items():
    s = by_name[name]
    if "rss not judged: a sanitizer build" in s["reason"]:
        resources = [r for r in resources if r != "rss"]
    assert [r["name"] for r in s["resources"]] == resources, s["resources"]
    for r in s["resources"]:
        assert not r["leaking"], (name, r)
        assert len(r["samples"]) >= 20, (name, r["name"], len(r["samples"]))
        assert r["growth"] <= r["max_growth"] or r["slope_per_round"] <= r["max_slope_per_round"]
    assert "back to its baseline" in s["reason"], s["reason"]
PY
  ;;
inject-leak)
  checked inject-leak 1 fail 2 --check-leaks --inject leak
  python3 - "$report" <<'PY' || fail "the report does not name the growing resources"
import json, sys
doc = json.load(open(sys.argv[1]))
[check] = doc["checks"]
by_name = {s["name"]: s for s in check["scenarios"]}
want = {"steady-runtime": {"rss", "fds", "handles", "tasks"},
        "runtime-cycles": {"rss", "fds"}}
for name, growing in want.items():
    s = by_name[name]
    assert s["verdict"] == "fail", s
    if "rss" not in {r["name"] for r in s["resources"]}:
        # Only a sanitizer build leaves the RSS out (check-leaks-json checks its note).
        assert "/build-asan/" in sys.argv[1] or "/build-tsan/" in sys.argv[1], (name, "no rss")
        growing = growing - {"rss"}
    leaking = {r["name"] for r in s["resources"] if r["leaking"]}
    assert leaking == growing, (name, leaking)
    for r in s["resources"]:
        if r["leaking"]:
            assert "leak: " + r["name"] + " grew from" in s["reason"], (r["name"], s["reason"])
            per_round = 1024 if r["name"] == "rss" else 1
            assert r["slope_per_round"] > 0.8 * per_round, r
    print(name, "leaks:", sorted(leaking))
PY
  grep -q "leak: fds from [0-9]* to [0-9]* count" "$work/inject-leak.out" ||
    fail "the table does not print the growing resource"
  grep -q "^zokio-diag: exit 1 " "$work/inject-leak.out" || fail "no 'zokio-diag: exit 1' line"
  ;;
check-blocking-json)
  checked check-blocking 0 pass 2 --check-blocking
  grep -q '^check-blocking: PASS (2/2 scenarios)$' "$work/check-blocking.out" ||
    fail "no 'check-blocking: PASS (2/2 scenarios)' line on standard output"
  python3 - "$report" <<'PY' || fail "the passing report holds a blocking call"
import json, sys
doc = json.load(open(sys.argv[1]))
[check] = doc["checks"]
assert check["check"] == "blocking", check["check"]
by_name = {s["name"]: s for s in check["scenarios"]}
for s in check["scenarios"]:
    assert not any(r["blocked"] for r in s["stalls"]), (s["name"], s["stalls"])
busy = by_name["busy-is-not-blocking"]
assert busy["stalls"], busy
assert "not as blocking" in busy["reason"], busy["reason"]
PY
  ;;
inject-blocking)
  checked inject-blocking 1 fail 4 --check-blocking --inject blocking
  python3 - "$report" <<'PY' || fail "the report does not name the planted blocking calls"
import json, sys
doc = json.load(open(sys.argv[1]))
[check] = doc["checks"]
by_name = {s["name"]: s for s in check["scenarios"]}
planted = {
    "sleep-on-loop": ("blocking-sleep", "injected_sleep_on_loop_thread", "nanosleep"),
    "read-on-loop": ("blocking-read", "injected_blocking_read", "read"),
}
# ThreadSanitizer defers a signal that arrives in an intercepted blocking call (read) until the
# call returns, so there the backtrace of a blocked read may be missing ("the thread did not
# answer the signal"); the verdict, task and system call are still required.
tsan = "/build-tsan/" in sys.argv[1]
for name, (task, function, call) in planted.items():
    s = by_name[name]
    assert s["verdict"] == "fail", (name, s["verdict"])
    assert s["reason"].startswith("blocked (off-CPU): task '" + task + "'"), s["reason"]
    blocked = [r for r in s["stalls"] if r["blocked"]]
    assert blocked, s["stalls"]
    r = blocked[0]
    assert r["name"] == task and r["thread_state"] in ("S", "D"), r
    assert call in r["syscall"], r["syscall"]
    assert r["on_cpu_ms"] * 2 < r["watched_ms"] or r["watched_ms"] == 0, r
    if tsan and not r["backtrace"]:
        print(name, "blocked in", r["syscall"], "(no backtrace under TSan)")
        continue
    assert "MISSING" not in s["reason"], s["reason"]
    assert function in s["reason"], s["reason"]
    assert any(function in f for f in r["backtrace"]), r["backtrace"]
    print(name, "blocked in", r["syscall"], r["wchan"], "at", r["backtrace"][:3])
for name in ("waits-off-loop", "busy-is-not-blocking"):
    assert by_name[name]["verdict"] == "pass", by_name[name]
PY
  grep -q "blocked (off-CPU) in clock_nanosleep" "$work/inject-blocking.out" ||
    fail "the table does not say blocked (off-CPU) with the system call"
  # Under TSan the blocked read may have no backtrace (see above); the sleep's must name its call.
  if ! grep -q "injected_blocking_read" "$work/inject-blocking.out"; then
    { [[ $work == */build-tsan/* ]] &&
      grep -q "no backtrace: the thread did not answer the signal" "$work/inject-blocking.out" &&
      grep -q "injected_sleep_on_loop_thread" "$work/inject-blocking.out"; } ||
      fail "the table does not print the backtrace"
  fi
  grep -q "^zokio-diag: exit 1 " "$work/inject-blocking.out" || fail "no 'zokio-diag: exit 1' line"
  ;;
junit)
  xml="$work/leak.xml"
  rm -f "$xml"
  run junit-leak --check-async --check-leaks --only yield,runtime-cycles --inject leak \
    --junit "$xml" --json "$work/junit-leak.json"
  show junit-leak
  ((rc == 1)) || fail "--junit with a planted leak exited $rc, expected 1"
  python3 - "$xml" <<'PY' || fail "the JUnit report of the leak is wrong"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == \
    ("2", "1", "0", "0"), root.attrib
suites = {s.get("name"): s for s in root.findall("testsuite")}
assert set(suites) == {"zokio-diag.async", "zokio-diag.leaks"}, set(suites)
[ok] = suites["zokio-diag.async"].findall("testcase")
assert ok.get("name") == "yield" and ok.find("failure") is None, ET.tostring(ok)
[leak] = suites["zokio-diag.leaks"].findall("testcase")
assert leak.get("name") == "runtime-cycles" and leak.get("classname") == "zokio-diag.leaks"
failure = leak.find("failure")
assert failure is not None and failure.get("type") == "fail", ET.tostring(leak)
assert failure.get("message").startswith("leak: "), failure.get("message")
assert "leak: fds from" in failure.text, failure.text
props = {p.get("name"): p.get("value") for p in suites["zokio-diag.leaks"].iter("property")}
assert props["inject"] == "leak" and props["verdict"] == "fail", props
print("junit:", root.attrib)
PY
  xml="$work/hang.xml"
  rm -f "$xml"
  run junit-hang --check-async --check-deadlock --only yield,join-chain --inject hang \
    --scenario-timeout 1 --junit "$xml"
  show junit-hang
  ((rc == 3)) || fail "--junit with a hang exited $rc, expected 3"
  python3 - "$xml" <<'PY' || fail "the JUnit report of the hang is wrong"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = {c.get("name"): c for c in root.iter("testcase")}
error = cases["yield"].find("error")
assert error is not None and error.get("type") == "hang", ET.tostring(cases["yield"])
skipped = cases["join-chain"].find("skipped")
assert skipped is not None and "not run" in skipped.get("message"), ET.tostring(cases["join-chain"])
assert (root.get("errors"), root.get("skipped")) == ("1", "1"), root.attrib
PY
  run junit-missing-dir --check-async --junit "$work/no/such/dir/report.xml"
  ((rc == 2)) || fail "--junit into a missing directory exited $rc, expected 2"
  grep -Fq "zokio-diag: --junit $work/no/such/dir/report.xml: " "$work/junit-missing-dir.err" ||
    fail "the error does not name the --junit path"
  run junit-both-stdout --check-async --junit - --json -
  ((rc == 2)) || fail "--junit - --json - exited $rc, expected 2"
  ;;
schema)
  report="$work/all.json"
  rm -f "$report"
  run all --all --only yield,join-chain,well-behaved,start-stop-1-worker,runtime-cycles,busy-is-not-blocking --json "$report"
  show all
  ((rc == 0)) || fail "--all exited $rc, expected 0"
  validate_schema "$report" || fail "the report of --all does not validate"
  # The schema is not vacuous: documents with a required field missing, a verdict it does not know,
  # or a stall without its blocked flag are rejected.
  python3 - "$report" "$work" <<'PY' || fail "could not write the broken documents"
import json, sys
doc = json.load(open(sys.argv[1]))
broken = dict(doc); del broken["exit_code"]
json.dump(broken, open(sys.argv[2] + "/broken-no-exit-code.json.bad", "w"))
broken = json.loads(json.dumps(doc)); broken["checks"][0]["scenarios"][0]["verdict"] = "passed"
json.dump(broken, open(sys.argv[2] + "/broken-verdict.json.bad", "w"))
broken = json.loads(json.dumps(doc))
blocking = [c for c in broken["checks"] if c["check"] == "blocking"][0]
stall = blocking["scenarios"][0]["stalls"][0]
del stall["blocked"]
json.dump(broken, open(sys.argv[2] + "/broken-stall.json.bad", "w"))
PY
  for bad in "$work"/broken-*.json.bad; do
    schema_rc "$bad" >"$work/bad.out" 2>&1
    bad_rc=$?
    if ((bad_rc == 0)); then
      fail "the schema accepted $(basename "$bad")"
    elif ((bad_rc == 1)); then
      echo "rejected as expected: $(basename "$bad"): $(head -1 "$work/bad.out")"
    else
      fail "could not validate $(basename "$bad") (exit $bad_rc): $(cat "$work/bad.out")"
    fi
  done
  ;;
isolation-crash)
  xml="$work/crash.xml"
  rm -f "$xml"
  report="$work/crash.json"
  rm -f "$report"
  run crash --check-async --check-deadlock --only no-runtime,yield,timeout,join-chain \
    --inject crash --junit "$xml" --json "$report"
  show crash
  ((rc == 4)) || fail "--inject crash exited $rc, expected 4"
  "$json_check" "$report" --exit-code 4 --scenarios 4 || fail "the report of the crash is wrong"
  grep -q "watchdog: the watched run died of signal 11 (Segmentation fault)" "$work/crash.err" ||
    fail "no line naming the signal on standard error"
  python3 - "$report" "$xml" <<'PY' || fail "the report of the crash is wrong"
import json, sys, xml.etree.ElementTree as ET
doc = json.load(open(sys.argv[1]))
checks = {c["check"]: c for c in doc["checks"]}
assert checks["async"]["verdict"] == "crash", checks["async"]["verdict"]
v = {s["name"]: s for s in checks["async"]["scenarios"]}
assert v["no-runtime"]["verdict"] == "pass", v["no-runtime"]
assert v["no-runtime"]["counters"] is None or isinstance(v["no-runtime"]["counters"], dict)
assert v["yield"]["verdict"] == "crash", v["yield"]
assert "died of signal 11 (Segmentation fault) while this scenario ran" in v["yield"]["reason"]
assert v["timeout"]["verdict"] == "not-run", v["timeout"]
assert checks["deadlock"]["verdict"] == "pass", checks["deadlock"]
assert doc["exit_code"] == 4
root = ET.parse(sys.argv[2]).getroot()
cases = {c.get("name"): c for c in root.iter("testcase")}
assert cases["yield"].find("failure").get("type") == "crash", ET.tostring(cases["yield"])
assert cases["timeout"].find("skipped") is not None
PY
  grep -q "^check-deadlock: PASS" "$work/crash.out" || fail "the deadlock check did not run"
  ;;
check-lost-wakeup-json)
  checked check-lost-wakeup 0 pass 1 --check-lost-wakeup
  grep -q '^check-lost-wakeup: PASS (1/1 scenarios)$' "$work/check-lost-wakeup.out" ||
    fail "no 'check-lost-wakeup: PASS (1/1 scenarios)' line on standard output"
  grep -q '"lost_wakeups": \[\]' "$report" || fail "the passing report lists a lost wake-up"
  ;;
inject-lost-wakeup)
  checked inject-lost-wakeup 4 lost-wakeup 2 --check-lost-wakeup --inject lost-wakeup
  python3 - "$report" <<'PY' || fail "the report does not name the lost wake-up"
import json, sys
doc = json.load(open(sys.argv[1]))
[check] = doc["checks"]
by_name = {s["name"]: s for s in check["scenarios"]}
assert by_name["wakeups-delivered"]["verdict"] == "pass", by_name["wakeups-delivered"]
s = by_name["dropped-waker"]
assert s["verdict"] == "lost-wakeup" and "MISSING" not in s["reason"], s
[l] = s["lost_wakeups"]
assert l["name"] == "dropped-waker" and l["worker"] == 1, l
assert "not the runtime's" in l["why"], l["why"]
assert l["spawn_site"]["file"].endswith("check_lost_wakeup.cpp"), l
assert l["await_site"]["file"].endswith("check_lost_wakeup.cpp") and l["await_site"]["line"] > 0
print("lost wake-up:", s["reason"])
PY
  grep -q "^zokio-diag: exit 4 " "$work/inject-lost-wakeup.out" || fail "no 'zokio-diag: exit 4' line"
  ;;
inject-hang)
  report="$work/inject-hang.json"
  rm -f "$report"
  run inject-hang --check-async --inject hang --scenario-timeout 1 --only yield --json "$report"
  show inject-hang
  ((rc == 3)) || fail "--inject hang exited $rc, expected 3"
  grep -q "watchdog: 'yield' did not finish" "$work/inject-hang.err" ||
    fail "no watchdog line naming the scenario on standard error"
  grep -q 'suspended on timer at .*check_async.cpp' "$work/inject-hang.err" ||
    fail "the task dump does not show the hung task's co_await site"
  "$json_check" "$report" --verdict hang --exit-code 3 --scenarios 1 ||
    fail "the report of the hang is wrong"
  ;;
*)
  echo "diag-cases.sh: unknown case '$case_name'" >&2
  exit 2
  ;;
esac

schema_sweep

finish_case diag-cases.sh
