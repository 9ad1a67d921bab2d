#!/usr/bin/env bash
# zokio-soak --resume: a run killed with SIGKILL mid-way (parent and child, as a machine crash
# or the OOM killer would) is continued from its checkpoint to a verdict, in two segments; a
# finished, missing or garbage directory is refused with one line and exit 2.
# Usage: resume_test.sh ZOKIO_SOAK
set -u
bin=$1
dir=$(mktemp -d /tmp/zokio-soak-resume.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.log; do echo "--- $f"; cat "$f"; done; exit 1; }

"$bin" --profile ci --duration 20s --out "$dir/run" >"$dir/first.log" 2>&1 &
parent=$!
# Wait for 8 checkpointed samples (1 s apart in the CI profile), then kill both processes.
n=0
for _ in $(seq 1 300); do
  n=$(jq -r '.samples' "$dir/run/checkpoint.json" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 8 ] && break
  sleep 0.1
done
[ "${n:-0}" -ge 8 ] || fail "no checkpoint with 8 samples in 30 s"
child=$(pgrep -P "$parent" | head -1)
kill -KILL "$parent" ${child:+"$child"}
wait "$parent" 2>/dev/null
# The child may take a moment to go.
for _ in $(seq 1 50); do [ -n "$child" ] && kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
[ ! -e "$dir/run/summary.json" ] || fail "a killed run wrote summary.json"
[ "$(jq -r .state "$dir/run/checkpoint.json")" = running ] || fail "checkpoint state is not running"

"$bin" --resume "$dir/run" >"$dir/resume.log" 2>&1
rc=$?
[ "$rc" -le 1 ] || fail "--resume exited $rc (want 0 or 1: a verdict)"
sum="$dir/run/summary.json"
[ "$(jq '.segments | length' "$sum")" = 2 ] || fail "summary.json does not show 2 segments"
[ "$(jq -r '.segments[1].after' "$sum")" = killed ] || fail "segment 1 is not marked as after a kill"
verdict=$(jq -r .verdict "$sum")
case $verdict in pass | fail) ;; *) fail "verdict '$verdict'" ;; esac
[ "$(jq .exit_code "$sum")" = "$rc" ] || fail "exit code differs from summary.json"
[ "$(jq -r '.config.duration_s' "$sum")" = 20 ] || fail "the resumed run's duration is not the original"
jq -e '[.criteria[] | select(.name == "heap_slope") | .about | test("per segment")] | all' "$sum" \
  >/dev/null || fail "heap_slope not judged per segment"
# samples.jsonl: both segments, the restart marked on segment 1's first sample, time increasing.
jq -s -e '(map(.segment) | unique) == [0, 1]' "$dir/run/samples.jsonl" >/dev/null ||
  fail "samples.jsonl lacks one of the segments"
jq -s -e '[.[] | select(.segment == 1)][0].restart == "killed"' "$dir/run/samples.jsonl" \
  >/dev/null || fail "segment 1's first sample does not mark the restart"
jq -s -e '[.[].t] as $t | [range(1; $t | length) | $t[.] >= $t[. - 1]] | all' \
  "$dir/run/samples.jsonl" >/dev/null || fail "sample times go back"
grep -q "^verdict: $verdict" "$dir/resume.log" || fail "no verdict line"
[ "$(jq -r .state "$dir/run/checkpoint.json")" = finished ] || fail "checkpoint not finished"

# Refusals: one line on standard error, exit 2.
refuse() { # NAME EXPECTED_TEXT DIR
  "$bin" --resume "$3" >"$dir/$1.log" 2>&1
  local rc=$?
  [ "$rc" = 2 ] || fail "$1: exit $rc, want 2"
  [ "$(wc -l <"$dir/$1.log")" = 1 ] || fail "$1: not one line"
  grep -q -- "$2" "$dir/$1.log" || fail "$1: no '$2'"
}
refuse finished "already finished" "$dir/run"
refuse missing "no such directory" "$dir/nowhere"
mkdir "$dir/empty"
refuse empty "no checkpoint.json" "$dir/empty"
mkdir "$dir/garbage"
printf '{"schema": "zokio.soak.checkpoint/1", "state": "running", "run": 3' >"$dir/garbage/checkpoint.json"
refuse garbage "not a valid checkpoint" "$dir/garbage"
"$bin" --resume "$dir/run" --rate 5 >"$dir/flags.log" 2>&1
[ $? = 2 ] || fail "--resume with --rate: not exit 2"
echo "ok: killed at $n samples, resumed to verdict $verdict (exit $rc) in 2 segments; refusals exit 2"
