#!/usr/bin/env bash
# Runs a command and passes when it exits with exactly the expected code.
#
#   expect-exit.sh CODE COMMAND [ARG...]
#
# The command's output is passed through; on a mismatch the command line and both codes are
# printed and the script exits 1.
set -u

if (($# < 2)); then
  echo "usage: expect-exit.sh CODE COMMAND [ARG...]" >&2
  exit 2
fi
expected=$1
shift

"$@"
actual=$?
if [[ $actual != "$expected" ]]; then
  echo "expect-exit: expected exit $expected, got $actual: $*" >&2
  exit 1
fi
echo "expect-exit: exit $actual as expected: $*"
