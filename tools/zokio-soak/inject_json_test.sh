#!/usr/bin/env bash
# Runs one zokio-soak command with --json and checks its exit code and its JSON summary.
#
#   inject_json_test.sh EXPECTED_EXIT PYTHON_EXPRESSION zokio-soak ARGS...
#
# EXPECTED_EXIT is a code or a range "0-1". PYTHON_EXPRESSION must be true on the summary, with
# `d` the document and `crit` its criteria by name (python3, as the other JSON checks of the tests).
set -u
expected=$1
expr=$2
shift 2
json=$(mktemp /tmp/zokio-soak-json.XXXXXX)
trap 'rm -f "$json"' EXIT
"$@" --json "$json" 2>&1
rc=$?
lo=${expected%-*}
hi=${expected#*-}
if [ "$rc" -lt "$lo" ] || [ "$rc" -gt "$hi" ]; then
  echo "inject_json_test: exit $rc, expected $expected: $*" >&2
  exit 1
fi
if ! python3 - "$json" "$expr" <<'PY'; then
import json, sys
d = json.load(open(sys.argv[1]))
crit = {c["name"]: c for c in d["criteria"]}
if not eval(sys.argv[2]):
    print("inject_json_test: not true on the summary:", sys.argv[2])
    print("stalls:", d.get("stalls"))
    for c in d["criteria"]:
        print(" ", c["name"], c["pass"], c["value"])
    sys.exit(1)
PY
  exit 1
fi
echo "inject_json_test: ok (exit $rc)"
