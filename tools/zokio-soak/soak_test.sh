#!/usr/bin/env bash
# Runs one zokio-soak command and checks its exit code and, optionally, a line of its output.
#
#   soak_test.sh EXPECTED_EXIT 'REGEX|' zokio-soak ARGS...
#
# REGEX (grep -E, on standard output and standard error together) may be empty.
set -u
expected=$1
pattern=$2
shift 2
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne "$expected" ]; then
  echo "soak_test: exit $rc, expected $expected: $*" >&2
  exit 1
fi
if [ -n "$pattern" ] && ! grep -Eq -- "$pattern" <<<"$out"; then
  echo "soak_test: no line matches '$pattern': $*" >&2
  exit 1
fi
echo "soak_test: ok (exit $rc)"
