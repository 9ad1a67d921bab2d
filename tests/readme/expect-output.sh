#!/usr/bin/env bash
# Runs a command and passes only when it exits with the expected code AND its standard output has
# a line matching the expected regular expression (CTest's PASS_REGULAR_EXPRESSION alone ignores
# the exit code).
#
#   expect-output.sh CODE REGEX COMMAND [ARG...]
#
# Exit 0 when both hold, 1 when either does not, 2 on bad arguments.
set -u

if (($# < 3)); then
  echo "usage: expect-output.sh CODE REGEX COMMAND [ARG...]" >&2
  exit 2
fi
expected=$1
regex=$2
shift 2

out=$("$@")
actual=$?
printf '%s\n' "$out"
status=0
if [[ $actual != "$expected" ]]; then
  echo "expect-output: expected exit $expected, got $actual: $*" >&2
  status=1
fi
if ! grep -Eq -- "$regex" <<<"$out"; then
  echo "expect-output: no line of the output matches '$regex': $*" >&2
  status=1
fi
exit $status
