#!/usr/bin/env bash
# Faults in a tool's --json output (issue #6, "Fault injection" and "Bad input to the tools"):
# a full disk, an unwritable directory, and paths that are pipes, links or directories.
#
#   fault-cases.sh CASE WORKDIR JSON_CHECK TOOL [ARG...]
#
# TOOL ARG... is a quick run of the tool (ARG... before the `--json PATH` this script appends);
# JSON_CHECK FILE validates what it writes. CASE is one of:
#   full-disk       --json /dev/full, and into a full tmpfs (over an older file, and as a new
#                   name): exit 2, the last line on stderr (the only one naming the path) says
#                   ENOSPC, no temporary or half-written file left, the older file intact
#   unwritable-dir  --json into a read-only directory (a read-only tmpfs as root, mode 555
#                   otherwise; and /proc): exit 2 before any work, one line on stderr naming
#                   the path, an older file there intact
#   path-kinds      --json DIRECTORY: exit 2 at once, one line; --json LINK to a file: exit 0,
#                   the link kept, its target holds valid JSON, no temporary left; --json - and
#                   --json /dev/stdout into a pipe: exit 0, the pipe carries valid JSON
#   closed-pipe     --json - into a pipe whose reader has gone: exit 2 and one line naming the
#                   broken pipe (not death by SIGPIPE, status 141)
#   bad-args        an unknown flag, --json without its value: exit 2 at once, one line on
#                   stderr, nothing on stdout, no crash
#   bad-numbers     a number that is not one, a negative number, a negative duration (the
#                   tool's own flags, known by its name): as bad-args
#
# The tmpfs parts need mount(2) (root); without it they are skipped with a line saying so, and
# the /dev/full and mode-555 parts still run.
set -u

# shellcheck source=cases-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cases-lib.sh"
args_or_usage 4 99 "fault-cases.sh CASE WORKDIR JSON_CHECK TOOL [ARG...]" $#
case_name=$1
work=$2
json_check=$3
tool=$4
quick=("${@:5}")
name=$(basename "$tool")

mounts=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local m
  for m in "${mounts[@]}"; do
    umount "$m" 2>/dev/null
  done
  chmod -R u+w "$work" 2>/dev/null
}
trap cleanup EXIT
for m in "$work"/mnt-*; do # left by an earlier run that was killed
  [[ -d $m ]] && umount "$m" 2>/dev/null
done
chmod -R u+w "$work" 2>/dev/null
rm -rf "$work" && mkdir -p "$work"

# run NAME PATH: runs the tool with --json PATH; sets rc, keeps $work/NAME.out and .err.
run() {
  run_tool "$1" "$tool" "${quick[@]}" --json "$2"
}

# show NAME: the run's exit code and standard error, for the log.
show() {
  echo "--- $1: exit $rc; stderr:"
  cat "$work/$1.err"
}

# refused NAME PATH REASON: the run exited 2, and the last line of its stderr, the only one that
# names PATH, is the error, containing REASON (an extended regular expression). (What the tool
# printed on stderr while it worked, a benchmark's context for one, comes before.)
refused() {
  show "$1"
  ((rc == 2)) || fail "$1: --json $2 exited $rc, expected 2"
  [[ $(grep -cF -- "--json $2" "$work/$1.err") == 1 ]] || fail "$1: not one line naming the path"
  tail -n 1 "$work/$1.err" | grep -Fq "$name: --json $2: " ||
    fail "$1: the last line on stderr is not the error naming the path"
  tail -n 1 "$work/$1.err" | grep -Eq "$3" || fail "$1: the error does not say '$3'"
  ! grep -Eq 'XXXXXX|\.json\.[A-Za-z0-9]{6}' "$work/$1.err" ||
    fail "$1: the error names a temporary file"
}

# before_any_work NAME: the tool failed before it worked: nothing on standard output, and the
# error is all it printed on stderr.
before_any_work() {
  [[ ! -s $work/$1.out ]] || fail "$1: the tool worked before it found the path unusable"
  [[ $(wc -l <"$work/$1.err") == 1 ]] || fail "$1: more than the error on stderr"
}

# only_files DIR FILE...: DIR holds exactly FILE... (no temporary, nothing half-written).
only_files() {
  local dir=$1 got want
  shift
  got=$(cd "$dir" && find . -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
  [[ $got == "$want" ]] || fail "$dir holds '$got', expected '$want'"
}

# tmpfs DIR OPTIONS: mounts a tmpfs on DIR; false (with a line saying so) if that is not allowed.
tmpfs() {
  mkdir -p "$1"
  if ! mount -t tmpfs -o "$2" tmpfs "$1" 2>"$work/mount.err"; then
    echo "skip: cannot mount a tmpfs here ($(head -1 "$work/mount.err")); that part is skipped"
    return 1
  fi
  mounts+=("$1")
}

case $case_name in
full-disk)
  run dev-full /dev/full
  refused dev-full /dev/full 'No space left on device'

  disk="$work/mnt-full"
  if tmpfs "$disk" size=64k; then
    printf 'older report\n' >"$disk/report.json"
    # Fill it up: what is left is not enough for any report.
    dd if=/dev/zero of="$disk/filler" bs=4k 2>/dev/null
    run full-over-old "$disk/report.json"
    refused full-over-old "$disk/report.json" 'No space left on device'
    [[ $(cat "$disk/report.json") == "older report" ]] || fail "the older report was damaged"
    run full-new "$disk/new.json"
    refused full-new "$disk/new.json" 'No space left on device'
    only_files "$disk" filler report.json
  fi
  ;;
unwritable-dir)
  ro="$work/mnt-ro"
  if ((EUID != 0)); then
    mkdir -p "$ro" && printf 'older report\n' >"$ro/report.json" && chmod 555 "$ro"
    ready=1
  elif tmpfs "$ro" size=64k; then
    printf 'older report\n' >"$ro/report.json"
    mount -o remount,ro "$ro" || fail "cannot remount $ro read-only"
    ready=1
  else
    ready=0
  fi
  if ((ready)); then
    for target in report.json new.json; do
      SECONDS=0
      run "ro-$target" "$ro/$target"
      refused "ro-$target" "$ro/$target" 'Read-only file system|Permission denied'
      before_any_work "ro-$target"
      ((SECONDS < 60)) || fail "ro-$target: it took ${SECONDS}s to fail"
    done
    [[ $(cat "$ro/report.json") == "older report" ]] || fail "the older report was damaged"
    only_files "$ro" report.json
  fi
  # A directory nobody can create files in, root included.
  run proc /proc/zokio-fault.json
  refused proc /proc/zokio-fault.json 'cannot create a file in /proc'
  before_any_work proc
  ;;
path-kinds)
  mkdir -p "$work/dir" && touch "$work/dir/inside"
  run directory "$work/dir"
  refused directory "$work/dir" 'Is a directory'
  before_any_work directory
  only_files "$work/dir" inside

  mkdir -p "$work/links/target-dir"
  printf 'older report\n' >"$work/links/target-dir/report.json"
  ln -s target-dir/report.json "$work/links/link.json"
  run link "$work/links/link.json"
  show link
  ((rc == 0)) || fail "--json LINK exited $rc, expected 0"
  [[ -L $work/links/link.json ]] || fail "the link was replaced by a file"
  [[ $(readlink "$work/links/link.json") == target-dir/report.json ]] || fail "the link changed"
  "$json_check" "$work/links/target-dir/report.json" || fail "the link's target is not the JSON"
  only_files "$work/links" link.json target-dir
  only_files "$work/links/target-dir" report.json

  for path in - /dev/stdout; do
    timeout 120 "$tool" "${quick[@]}" --json "$path" 2>"$work/pipe.err" | cat >"$work/pipe.json"
    statuses=("${PIPESTATUS[@]}")
    echo "--- pipe ($path): exit ${statuses[0]}"
    ((statuses[0] == 0)) || fail "--json $path into a pipe exited ${statuses[0]}, expected 0"
    "$json_check" "$work/pipe.json" || fail "--json $path: the pipe did not carry the JSON alone"
  done
  ;;
closed-pipe)
  # The reader closes its end at once, long before the tool writes its report: EPIPE.
  timeout 120 "$tool" "${quick[@]}" --json - 2>"$work/closed.err" | (exec 0<&-)
  rc=${PIPESTATUS[0]}
  show closed
  ((rc == 2)) || fail "--json - into a closed pipe: status $rc, expected exit 2"
  # zokio-diag ends with its "exit N (meaning)" line: the error is the line before it then.
  grep -v -E "^$name: exit [0-9]+ \(" "$work/closed.err" | tail -n 1 |
    grep -Eq "^$name: --json -: .*Broken pipe" ||
    fail "the last error line on stderr does not name the output and the broken pipe"
  ;;
bad-args | bad-numbers)
  # The bad command lines, one a line (split on spaces), for this case and tool.
  if [[ $case_name == bad-args ]]; then
    lines=("--zokio-no-such-flag" "--json")
  elif [[ $name == zokio-diag ]]; then
    lines=("--scenario-timeout abc" "--scenario-timeout -5" "--scenario-timeout 1.5x"
      "--only yield --scenario-timeout 99999999999999999999")
  elif [[ $name == zokio-bench ]]; then
    lines=("--repetitions abc" "--repetitions -3" "--scale -1" "--timeout 1.5x")
  elif [[ $name == zokio-soak ]]; then
    lines=("--rate abc" "--rate -3" "--workers 0" "--seed x")
  elif [[ $name == zokio-bench-* ]]; then
    lines=("--benchmark_min_time=abc" "--benchmark_min_time=-1" "--benchmark_repetitions=-3"
      "--benchmark_repetitions=x")
  else
    fail "no bad numbers known for $name"
    lines=()
  fi
  i=0
  for line in "${lines[@]}"; do
    i=$((i + 1))
    read -ra bad <<<"$line"
    timeout 120 "$tool" "${quick[@]}" "${bad[@]}" >"$work/bad$i.out" 2>"$work/bad$i.err"
    rc=$?
    echo "--- $line: exit $rc; stderr:"
    cat "$work/bad$i.err"
    ((rc == 2)) || fail "'$line' exited $rc, expected 2"
    [[ $(wc -l <"$work/bad$i.err") == 1 ]] || fail "'$line': not one line on stderr"
    [[ ! -s $work/bad$i.out ]] || fail "'$line': the tool ran (something on stdout)"
    ! grep -Eq 'terminate called|Aborted|what\(\)' "$work/bad$i.err" || fail "'$line': a crash"
  done
  ;;
*)
  echo "fault-cases.sh: unknown case '$case_name'" >&2
  exit 2
  ;;
esac

finish_case "fault-cases.sh ($name)"
