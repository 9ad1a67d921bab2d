#!/usr/bin/env bash
# zokio-diag --timeout SECONDS: the bound on each check.
#
#   diag-timeout.sh DIAG SCHEMA WORKDIR
#
# --inject hang --timeout 1 exits 3 within 15 s (the scenario deadline is 30 s) with the check's
# bound named, a task dump and a report valid against the schema (timeout_s 1, the hung scenario
# "did not finish within 1 s", the rest not run); a passing check under --timeout 60 exits 0 with
# timeout_s 60 in its report; --timeout 0, -1, 1.5 and abc each exit 2 with one line.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cases-lib.sh"
args_or_usage 3 3 "diag-timeout.sh DIAG SCHEMA WORKDIR" $#
case_name=timeout
diag=$1
schema=$2
work=$3
rm -rf "$work"
mkdir -p "$work"

start=$(date +%s)
run_tool hang "$diag" --check-async --inject hang --timeout 1 --json "$work/hang.json"
took=$(($(date +%s) - start))
((rc == 3)) || fail "--inject hang --timeout 1 exited $rc, expected 3"
((took < 15)) || fail "--timeout 1 took ${took} s (the scenario deadline is 30 s)"
grep -q "the check (--timeout) did not finish within 1 s; task dump:" "$work/hang.err" ||
  fail "no --timeout line and task dump: $(head -3 "$work/hang.err")"
run_tool pass "$diag" --check-async --only yield --timeout 60 --json "$work/pass.json"
((rc == 0)) || fail "--check-async --only yield --timeout 60 exited $rc, expected 0"
/usr/bin/python3 "$here/json_schema_check.py" "$schema" "$work/hang.json" "$work/pass.json" ||
  fail "a report is not valid against $(basename "$schema")"
/usr/bin/python3 - "$work/hang.json" "$work/pass.json" <<'PY' || fail "the reports do not show the bound"
import json, sys
hang, ok = (json.load(open(p)) for p in sys.argv[1:3])
assert hang["options"]["timeout_s"] == 1 and hang["exit_code"] == 3, hang["options"]
sc = hang["checks"][0]["scenarios"]
assert sc[0]["verdict"] == "hang" and "within 1 s" in sc[0]["reason"], sc[0]
assert all(s["verdict"] == "not-run" for s in sc[1:]) and len(sc) > 1, sc
assert ok["options"]["timeout_s"] == 60 and ok["exit_code"] == 0, ok["options"]
PY
for bad in 0 -1 1.5 abc; do
  run_tool "bad$bad" "$diag" --check-async --timeout "$bad"
  ((rc == 2)) || fail "--timeout $bad exited $rc, expected 2"
  [[ $(wc -l <"$work/bad$bad.err") == 1 ]] || fail "--timeout $bad: not one line"
done
finish_case diag-timeout.sh
