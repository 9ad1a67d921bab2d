# Shared by diag-cases.sh and bench-cases.sh (sourced, not run): failure counting, running a
# tool with its outputs kept, and the verdict of the case.
#
# Source it first; the functions below that record or run need $work (the case's directory)
# and $case_name.

failures=0

# args_or_usage MIN MAX USAGE COUNT: exits 2 with USAGE unless MIN <= COUNT <= MAX.
args_or_usage() {
  if (($4 < $1 || $4 > $2)); then
    echo "usage: $3" >&2
    exit 2
  fi
}

# fail MESSAGE: records a failure; the case goes on so that every failure is reported.
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run_tool NAME COMMAND [ARG...]: runs COMMAND (at most 120 s), keeping its outputs in
# $work/NAME.out and $work/NAME.err; sets rc.
run_tool() {
  local name=$1
  shift
  timeout 120 "$@" >"$work/$name.out" 2>"$work/$name.err"
  rc=$?
}

# finish_case SCRIPT: exits 1 when a failure was recorded, 0 otherwise.
finish_case() {
  if ((failures != 0)); then
    echo "$1 $case_name: $failures failure(s)" >&2
    exit 1
  fi
  echo "$1 $case_name: ok"
  exit 0
}
