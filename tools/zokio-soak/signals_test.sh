#!/usr/bin/env bash
# zokio-soak's signals and terminal output (issue #11, "Output"), on a real run of the CI
# profile, the signals sent to the parent (the watchdog forwards them to the child):
#   interrupt  SIGINT after 4 samples: the load stops, the drain runs, summary.json has verdict
#              "interrupted" and exit_code 3, the checkpoint is resumable ("interrupted"), exit 3
#   twice      SIGINT twice: exit 130 at once (well before the drain limit), no summary.json
#   usr1       SIGUSR1 just after a sample: a task dump on standard error and one more sample
#              at once, off the 1 s schedule, which goes on unmoved
#   tty        on a terminal (script(1)'s pty) the progress line is drawn (elapsed, time left,
#              rate, p99, RSS, verdict so far); not a terminal: no progress line
#   childkill  the watched child killed by SIGKILL: exit 4 (a harness error), the signal named
# Usage: signals_test.sh CASE ZOKIO_SOAK
set -u
case_name=$1
bin=$2
dir=$(mktemp -d /tmp/zokio-soak-signals.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL ($case_name): $*"; for f in "$dir"/*.log; do echo "--- $f"; cat "$f"; done; exit 1; }
# samples DIR: how many samples DIR's checkpoint counts (0 before the first).
samples() {
  python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1]))["samples"])
except Exception: print(0)' "$1/checkpoint.json"
}
# wait_samples DIR N: until the checkpoint counts N samples (30 s at most).
wait_samples() {
  for _ in $(seq 1 300); do
    [ "$(samples "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "no checkpoint with $2 samples in 30 s"
}
# wait_exit PID SECONDS: the process's exit status, or fail when it is still running after.
wait_exit() {
  local waited=0
  while kill -0 "$1" 2>/dev/null; do
    [ "$waited" -ge $(($2 * 10)) ] && { kill -KILL "$1"; fail "still running after $2 s"; }
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$1"
}

case $case_name in
interrupt)
  "$bin" --profile ci --duration 60s --out "$dir/run" >"$dir/run.log" 2>&1 &
  pid=$!
  wait_samples "$dir/run" 4
  kill -INT "$pid"
  wait_exit "$pid" 40
  rc=$?
  [ "$rc" = 3 ] || fail "exit $rc after SIGINT, want 3"
  grep -q "SIGINT: stopping the load, draining" "$dir/run.log" || fail "no line saying the drain"
  grep -q "^verdict: interrupted" "$dir/run.log" || fail "no verdict line 'interrupted'"
  got=$(python3 -c 'import json,sys
s = json.load(open(sys.argv[1] + "/summary.json")); c = json.load(open(sys.argv[1] + "/checkpoint.json"))
crit = {x["name"]: x["pass"] for x in s["criteria"]}
print(s["verdict"], s["exit_code"], c["state"], s["drain"] is not None and s["drain"]["reached"], crit.get("drain_complete"))' "$dir/run")
  [ "$got" = "interrupted 3 interrupted True True" ] ||
    fail "summary/checkpoint say '$got', want 'interrupted 3 interrupted True True'"
  echo "ok: SIGINT drained and exited 3, verdict interrupted, checkpoint resumable"
  ;;
twice)
  "$bin" --profile ci --duration 60s --out "$dir/run" >"$dir/run.log" 2>&1 &
  pid=$!
  wait_samples "$dir/run" 4
  kill -INT "$pid"
  sleep 0.05
  kill -INT "$pid"
  wait_exit "$pid" 10
  rc=$?
  [ "$rc" = 130 ] || fail "exit $rc after two SIGINTs, want 130"
  grep -q "second SIGINT: exiting now" "$dir/run.log" || fail "no line saying the second SIGINT"
  [ ! -e "$dir/run/summary.json" ] || fail "a run stopped by a second SIGINT wrote summary.json"
  echo "ok: a second SIGINT exited 130 at once"
  ;;
usr1)
  "$bin" --profile ci --duration 12s --out "$dir/run" >"$dir/run.log" 2>&1 &
  pid=$!
  wait_samples "$dir/run" 4
  n=$(samples "$dir/run")
  wait_samples "$dir/run" $((n + 1))
  kill -USR1 "$pid"
  wait_exit "$pid" 60
  rc=$?
  [ "$rc" -le 1 ] || fail "exit $rc, want a verdict (0 or 1)"
  grep -q "task dump:" "$dir/run.log" || fail "no task dump after SIGUSR1"
  # The asked-for sample: less than 0.9 s after the one before it (the schedule is 1 s), before
  # the drain; the next one on the schedule, within 1.5 s of the one before the signal.
  got=$(python3 -c 'import json,sys
d = [json.loads(l) for l in open(sys.argv[1] + "/samples.jsonl")]
d = [x for x in d if x["phase"] != "drain"]
off = [i for i in range(1, len(d)) if d[i]["t"] - d[i - 1]["t"] < 0.9]
if not off: print("no sample off the schedule"); sys.exit()
i = off[0]
nxt = d[i + 1]["t"] - d[i - 1]["t"] if i + 1 < len(d) else 0
print("ok" if nxt <= 1.5 else "the schedule moved: %.2f s from the sample before the signal to the one after" % nxt)' "$dir/run")
  [ "$got" = ok ] || fail "$got"
  echo "ok: SIGUSR1 printed a task dump and took a sample at once, the schedule unmoved"
  ;;
tty)
  script -qfec "$bin --profile ci --duration 6s" /dev/null >"$dir/tty.log" 2>&1
  rc=$?
  [ "$rc" -le 1 ] || fail "on a terminal: exit $rc"
  grep -aq "s left\] .* op/s  worst p99 .* ms  RSS .* MiB  \(pass so far\|FAIL\)" "$dir/tty.log" ||
    fail "no progress line on a terminal"
  "$bin" --profile ci --duration 6s >"$dir/pipe.log" 2>&1
  rc=$?
  [ "$rc" -le 1 ] || fail "not on a terminal: exit $rc"
  ! grep -aq "s left\]" "$dir/pipe.log" || fail "a progress line when not on a terminal"
  echo "ok: a progress line on a terminal, none in a pipe"
  ;;
childkill)
  # The harness-error path: the watched child dies of a signal (SIGKILL, as the OOM killer
  # would): the parent exits 4 with one line naming the signal.
  "$bin" --profile ci --duration 60s --out "$dir/run" >"$dir/run.log" 2>&1 &
  pid=$!
  wait_samples "$dir/run" 3
  child=$(pgrep -P "$pid" | head -1)
  [ -n "$child" ] || fail "no watched child"
  kill -KILL "$child"
  wait_exit "$pid" 20
  rc=$?
  [ "$rc" = 4 ] || fail "exit $rc when the child was killed, want 4"
  grep -qi "signal" "$dir/run.log" || fail "no line naming the signal"
  echo "ok: a child killed by a signal is exit 4"
  ;;
*)
  echo "usage: signals_test.sh interrupt|twice|usr1|tty|childkill ZOKIO_SOAK" >&2
  exit 2
  ;;
esac
