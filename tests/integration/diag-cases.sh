#!/usr/bin/env bash
# The integration cases of zokio-diag that need more than an exit code.
#
#   diag-cases.sh CASE DIAG JSON_CHECK WORKDIR
#
# CASE is one of:
#   check-async-json   --check-async --json FILE exits 0; the file is a passing report and no
#                      FILE.tmp is left behind
#   json-stdout        --check-async --json - exits 0; standard output is exactly one passing
#                      JSON document; the table went to standard error
#   bad-usage          unknown flags, unknown --inject / --only values, a bad --scenario-timeout
#                      and no check flag each exit 2 with one line on standard error
#   help-version       --help exits 0; --version prints "zokio-diag X.Y.Z (commit)" and exits 0
#   inject-hang        --inject hang exits 3 with a task dump, and the report says "hang"
set -u

if (($# != 4)); then
  echo "usage: diag-cases.sh CASE DIAG JSON_CHECK WORKDIR" >&2
  exit 2
fi
case_name=$1
diag=$2
json_check=$3
work=$4
mkdir -p "$work"

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run NAME ARG...: runs diag, keeping its outputs in $work/NAME.out and $work/NAME.err; sets rc.
run() {
  local name=$1
  shift
  "$diag" "$@" >"$work/$name.out" 2>"$work/$name.err"
  rc=$?
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
  rm -f "$report" "$report.tmp"
  run check-async --check-async --json "$report"
  show check-async
  ((rc == 0)) || fail "--check-async --json FILE exited $rc, expected 0"
  [[ ! -e $report.tmp ]] || fail "$report.tmp was left behind"
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
  ;;
help-version)
  run help --help
  ((rc == 0)) || fail "--help exited $rc, expected 0"
  grep -q -- '--check-async' "$work/help.out" || fail "--help does not mention --check-async"
  run version --version
  ((rc == 0)) || fail "--version exited $rc, expected 0"
  grep -Eq '^zokio-diag [0-9]+\.[0-9]+\.[0-9]+ \(([0-9a-f]{4,}|unknown)\)$' "$work/version.out" ||
    fail "--version printed '$(cat "$work/version.out")', not 'zokio-diag X.Y.Z (commit)'"
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

if ((failures != 0)); then
  echo "diag-cases.sh $case_name: $failures failure(s)" >&2
  exit 1
fi
echo "diag-cases.sh $case_name: ok"
