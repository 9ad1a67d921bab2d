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
# js FILE EXPRESSION: prints a Python expression over FILE's JSON document `d` (a .jsonl file:
# the list of its lines' documents); nothing when FILE is missing or not JSON.
js() {
  python3 - "$1" "$2" <<'PY' 2>/dev/null
import json, sys
try:
    text = open(sys.argv[1]).read()
    d = [json.loads(l) for l in text.splitlines()] if sys.argv[1].endswith(".jsonl") else json.loads(text)
except (OSError, ValueError):
    sys.exit(0)
v = eval(sys.argv[2])
print(str(v).lower() if isinstance(v, bool) else v)
PY
}

"$bin" --profile ci --duration 20s --out "$dir/run" >"$dir/first.log" 2>&1 &
parent=$!
# Wait for 8 checkpointed samples (1 s apart in the CI profile), then kill both processes.
n=0
for _ in $(seq 1 300); do
  n=$(js "$dir/run/checkpoint.json" "d['samples']")
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
[ "$(js "$dir/run/checkpoint.json" "d['state']")" = running ] || fail "checkpoint state is not running"

"$bin" --resume "$dir/run" >"$dir/resume.log" 2>&1
rc=$?
[ "$rc" -le 1 ] || fail "--resume exited $rc (want 0 or 1: a verdict)"
sum="$dir/run/summary.json"
[ "$(js "$sum" "len(d['segments'])")" = 2 ] || fail "summary.json does not show 2 segments"
[ "$(js "$sum" "d['segments'][1]['after']")" = killed ] || fail "segment 1 is not marked as after a kill"
verdict=$(js "$sum" "d['verdict']")
case $verdict in pass | fail) ;; *) fail "verdict '$verdict'" ;; esac
[ "$(js "$sum" "d['exit_code']")" = "$rc" ] || fail "exit code differs from summary.json"
[ "$(js "$sum" "d['config']['duration_s']")" = 20.0 ] || fail "the resumed run's duration is not the original"
[ "$(js "$sum" "'per segment' in [c for c in d['criteria'] if c['name'] == 'heap_slope'][0]['about']")" = true ] ||
  fail "heap_slope not judged per segment"
# samples.jsonl: both segments, the restart marked on segment 1's first sample, time increasing.
samples="$dir/run/samples.jsonl"
[ "$(js "$samples" "sorted({x['segment'] for x in d}) == [0, 1]")" = true ] ||
  fail "samples.jsonl lacks one of the segments"
[ "$(js "$samples" "[x for x in d if x['segment'] == 1][0].get('restart') == 'killed'")" = true ] ||
  fail "segment 1's first sample does not mark the restart"
[ "$(js "$samples" "all(a['t'] <= b['t'] for a, b in zip(d, d[1:]))")" = true ] ||
  fail "sample times go back"
# Conservation across the kill: the checkpoint saved the counters and the latency histograms
# as of its last sample, so the whole run's counts equal the samples' (both segments), exactly.
# For each operation: ok + errors == the completions of every sample window, and the steady-run
# histogram (totals.ops.X.after_warmup) holds exactly the judged windows' completions (steady,
# not a burst), with their largest value. Without the histograms in the checkpoint, segment 0's
# judged completions would be missing from after_warmup.n.
[ "$(js "$samples" "sum(x['ops']['get_hello']['n'] for x in d if x['segment'] == 0 and x['phase'] == 'steady' and not x['burst'])")" -gt 0 ] ||
  fail "segment 0 has no judged completions: the conservation check below would prove nothing"
conservation=$(python3 - "$sum" "$samples" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
samples = [json.loads(l) for l in open(sys.argv[2])]
bad = []
for name, o in s["totals"]["ops"].items():
    every = sum(x["ops"][name]["n"] for x in samples)
    judged = [x["ops"][name] for x in samples if x["phase"] == "steady" and not x["burst"]]
    if o["ok"] + o["errors"] != every:
        bad.append("%s: ok+errors %d, samples %d" % (name, o["ok"] + o["errors"], every))
    if o["after_warmup"]["n"] != sum(w["n"] for w in judged):
        bad.append("%s: after_warmup.n %d, judged samples %d"
                   % (name, o["after_warmup"]["n"], sum(w["n"] for w in judged)))
    if o["after_warmup"]["max_us"] != max([w["max_us"] for w in judged if w["n"]] or [0]):
        bad.append("%s: after_warmup.max_us %s, judged samples' %s"
                   % (name, o["after_warmup"]["max_us"], max([w["max_us"] for w in judged] or [0])))
if s["totals"]["after_warmup_percentiles"] != "the whole run":
    bad.append("after_warmup_percentiles: " + s["totals"]["after_warmup_percentiles"])
print("; ".join(bad) if bad else "ok")
PY
)
[ "$conservation" = ok ] || fail "counts not conserved across the resume: $conservation"
grep -q "^verdict: $verdict" "$dir/resume.log" || fail "no verdict line"
[ "$(js "$dir/run/checkpoint.json" "d['state']")" = finished ] || fail "checkpoint not finished"

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
# A checkpoint whose histograms no histogram can have (a bucket past the end), or one of the
# earlier format without them.
mkdir "$dir/badhist" "$dir/oldformat"
python3 - "$dir/run/checkpoint.json" "$dir/badhist/checkpoint.json" "$dir/oldformat/checkpoint.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["state"] = "running"
c["histograms"]["ops"]["get_hello"]["buckets"].append([100000, 1])
json.dump(c, open(sys.argv[2], "w"))
c["schema"] = "zokio.soak.checkpoint/1"
json.dump(c, open(sys.argv[3], "w"))
PY
cp "$dir/run/checkpoint.samples.jsonl" "$dir/badhist/"
refuse badhist "histograms" "$dir/badhist"
refuse oldformat "older zokio-soak" "$dir/oldformat"
"$bin" --resume "$dir/run" --rate 5 >"$dir/flags.log" 2>&1
[ $? = 2 ] || fail "--resume with --rate: not exit 2"
echo "ok: killed at $n samples, resumed to verdict $verdict (exit $rc) in 2 segments, counts and histograms conserved; refusals exit 2"
