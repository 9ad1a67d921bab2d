#!/usr/bin/env bash
# The live console (runtime_options::console, ZOKIO_CONSOLE) and the SIGQUIT dumps, against a
# real program (console_target.cpp) read by the real zokio-diag.
#
#   console-cases.sh CASE DIAG TARGET SCHEMA WORKDIR
#
# CASE is one of:
#   dump-top      the target with ZOKIO_CONSOLE: the socket is mode 0600; `dump --json` twice,
#                 each valid against the schema, the second naming the waiter's wait time, the
#                 long-wait, never-yielded and woken-without-progress lints (the yielder, not the
#                 ticker), the join cycle, the stall and the handles by
#                 type; `top` with stdout not a terminal prints the table once; then a clean
#                 shutdown removes the socket file
#   top-tty       `top` on a terminal (a pseudo-terminal): it redraws (several frames), `s` switches
#                 the sort from busy to wait time, `q` ends it with exit 0
#   malformed     the target with runtime_options::console: a malformed request and an overlong
#                 line each close their own connection only; a connection opened before still
#                 answers, and `dump` still works
#   sigquit-json  ZOKIO_DUMP=json: a real SIGQUIT prints one JSON document on standard error, valid
#                 against the schema, with tasks and handles by type
#   sigquit-text  ZOKIO_DUMP=1: a real SIGQUIT prints the text dump with the open handles by type
#   usage         dump without --socket, with a bad --long-wait, or at a socket nobody serves: exit
#                 2 with one line; a console path that is a regular file: the program says so in
#                 one line and runs without it
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cases-lib.sh"
args_or_usage 5 5 "console-cases.sh CASE DIAG TARGET SCHEMA WORKDIR" $#
case_name=$1
diag=$2
target=$3
schema=$4
work=$5
rm -rf "$work"
mkdir -p "$work"
# Unix socket paths are short (107 bytes): the socket lives in a short directory of its own.
sockdir=$(mktemp -d /tmp/zokio-console.XXXXXX)
sock="$sockdir/c.sock"
stop="$work/stop"
pid=
cleanup() {
  [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null
  rm -rf "$sockdir"
}
trap cleanup EXIT

# start [ENV=VALUE...] -- ARG...: starts the target in the background (outputs in $work/target.*);
# $pid is the target itself (env execs it), so that a signal reaches it and no wrapper.
start() {
  local envs=()
  while [[ $1 != -- ]]; do
    envs+=("$1")
    shift
  done
  shift
  env "${envs[@]}" "$target" "$stop" "$@" >"$work/target.out" 2>"$work/target.err" &
  pid=$!
}

# wait_for_socket: until the socket file exists (at most 10 s).
wait_for_socket() {
  local i
  for ((i = 0; i < 200; i++)); do
    [[ -S $sock ]] && return 0
    sleep 0.05
  done
  fail "no socket at $sock after 10 s"
  return 1
}

# stop_target: touches the stop file; the target must exit 0 (a clean shutdown, the socket file
# removed, no complaint of the console, whose loop must close) within 20 s.
stop_target() {
  touch "$stop"
  local i
  for ((i = 0; i < 400; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  wait "$pid"
  local code=$?
  pid=
  ((code == 0)) || fail "the target exited $code: $(cat "$work/target.out" "$work/target.err")"
  grep -q "shutdown: clean; socket file removed" "$work/target.out" ||
    fail "no clean shutdown line: $(cat "$work/target.out")"
  [[ ! -e $sock ]] || fail "the socket file is still there after the shutdown"
  # The console's own loop closes too (console.cpp says so on standard error when it does not).
  grep -q "zokio: console:" "$work/target.err" && fail "the console complained: $(cat "$work/target.err")"
  return 0
}

validate() {
  /usr/bin/python3 "$here/json_schema_check.py" "$schema" "$@" ||
    fail "not valid against $(basename "$schema"): $*"
}

case $case_name in
dump-top)
  start "ZOKIO_CONSOLE=$sock" --
  wait_for_socket || exit 1
  mode=$(stat -c %a "$sock")
  [[ $mode == 600 ]] || fail "the socket's mode is $mode, not 600"
  sleep 0.5 # the spinner's stall happens in the first 250 ms
  run_tool first "$diag" dump --socket "$sock" --json
  ((rc == 0)) || fail "dump --json exited $rc: $(cat "$work/first.err")"
  sleep 1.2
  run_tool second "$diag" dump --socket "$sock" --json --long-wait 1
  ((rc == 0)) || fail "dump --json exited $rc: $(cat "$work/second.err")"
  [[ $(wc -l <"$work/second.out") == 1 ]] || fail "dump --json printed more than one line"
  cp "$work/first.out" "$work/first.json"
  cp "$work/second.out" "$work/second.json"
  validate "$work/first.json" "$work/second.json"
  /usr/bin/python3 - "$work/second.json" <<'PY' || fail "the snapshot lacks what the target planted"
import json, sys
d = json.load(open(sys.argv[1]))
bad = []
def need(cond, what):
    if not cond:
        bad.append(what)
need(d["runtime"] == "console-target", "runtime name")
need(d["workers"] == 2 and len(d["stats"]["workers"]) == 2, "two workers")
need(d["wait_times"] and d["detectors"], "a console snapshot with detectors")
tasks = {t["name"]: t for t in d["tasks"]}
for n in ["ticker", "waiter", "spinner", "yielder", "joins-first", "joins-second"]:
    need(n in tasks, "task " + n)
need("zokio.console" not in tasks, "the census task is left out")
w = tasks.get("waiter", {})
need(w.get("state") == "suspended" and w.get("waiting_on") == "event", "the waiter waits on an event")
need(w.get("wait_ns", 0) >= 1_000_000_000, "the waiter has waited at least 1 s as the console saw it")
need(any(l["lint"] == "long_wait" and l["task_id"] == w.get("id") for l in d["lints"]),
     "a long_wait lint for the waiter")
sp = tasks.get("spinner", {})
need(any(s["task_name"] == "spinner" and s["duration_ns"] >= 50_000_000 for s in d["stalls"]),
     "the spinner's stall")
need(any(l["lint"] == "never_yielded" and l["task_id"] == sp.get("id") for l in d["lints"]),
     "a never_yielded lint for the spinner")
need(d["stats"]["stalls"] >= 1, "stats.stalls counts the stall")
cycles = [sorted(t["name"] for t in c["tasks"]) for c in d["deadlocks"]]
need(["joins-first", "joins-second"] in cycles, "the join cycle")
need(d["stats"]["deadlocks_detected"] >= 1, "stats.deadlocks_detected counts the cycle")
h = d["handles"]
need(h["asked"] and h["complete"], "every worker answered the handle census")
need(h["by_type"].get("poll", 0) >= 1, "the tcp listener (a uv_poll handle) among the handles")
need(h["by_type"].get("timer", 0) >= 1 and h["by_type"].get("async", 0) >= 2, "timers and asyncs")
y = tasks.get("yielder", {})
need(y.get("wakes", 0) >= 100 and y.get("self_wakes", 0) * 2 > y.get("wakes", 0),
     "the yielder's wakes are mostly its own")
need(any(l["lint"] == "woken_without_progress" and l["task_id"] == y.get("id") for l in d["lints"]),
     "a woken_without_progress lint for the yielder")
tk = tasks.get("ticker", {})
need(tk.get("wakes", 0) >= 20 and tk.get("self_wakes", 1) == 0, "the ticker is woken by its timer")
need(not any(l["lint"] == "woken_without_progress" and l["task_id"] == tk.get("id")
             for l in d["lints"]), "no woken_without_progress lint for the ticker")
need(d["lints_coming"] == [], "no lint left to come")
if bad:
    print("missing: " + "; ".join(bad))
    sys.exit(1)
PY
  run_tool top "$diag" top --socket "$sock" --sort wait
  ((rc == 0)) || fail "top (not a TTY) exited $rc: $(cat "$work/top.err")"
  for want in "WORKER" "TASKS (by wait time)" "waiter" "DEADLOCK CYCLES (1)" "joins-first" \
    "STALLS (" "spinner" "poll=" "SELF_WK%" "woken_without_progress: task"; do
    grep -qF "$want" "$work/top.out" || fail "top's table lacks '$want'"
  done
  grep -q $'\033' "$work/top.out" && fail "top wrote terminal escapes to a file"
  stop_target
  ;;
top-tty)
  start -- "$sock"
  wait_for_socket || exit 1
  /usr/bin/python3 - "$diag" "$sock" <<'PY' || fail "top on a terminal did not redraw, sort or quit"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], ["zokio-diag", "top", "--socket", sys.argv[2], "--interval", "0.3"])
out = b""
def drain(secs):
    global out
    end = time.time() + secs
    while time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return
drain(2.0)
os.write(fd, b"s")
drain(1.5)
os.write(fd, b"q")
deadline = time.time() + 10
while time.time() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    drain(0.1)
else:
    os.kill(pid, 9)
    print("q did not end top")
    sys.exit(1)
frames = out.count(b"\x1b[2J")
ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and frames >= 3 and \
    b"(by busy time)" in out and b"(by wait time)" in out
if not ok:
    print("exit status %d, %d frames, busy %s, wait %s" % (status, frames, b"by busy" in out, b"by wait" in out))
sys.exit(0 if ok else 1)
PY
  stop_target
  ;;
malformed)
  start -- "$sock"
  wait_for_socket || exit 1
  /usr/bin/python3 - "$sock" <<'PY' || fail "a malformed request closed more than its connection"
import json, socket, sys
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s
def answer(s, req):
    s.sendall(req)
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            return None
        data += chunk
    return json.loads(data)
good = conn()
for req in [b"bogus\n", b"snapshot long_wait_ms=abc\n", b"x" * 5000]:
    bad = conn()
    bad.sendall(req)
    got = bad.recv(100)
    if got != b"":
        print("a malformed request %r was answered: %r" % (req[:30], got[:60]))
        sys.exit(1)
    bad.close()
d = answer(good, b"snapshot detectors=0 handles_wait_ms=500\n")
if d is None or d["schema"] != "zokio.console/1" or d["detectors"]:
    print("the connection opened before does not answer")
    sys.exit(1)
# Two requests in one write: two answers, in order.
good.sendall(b"snapshot detectors=0\nsnapshot detectors=0\n")
data = b""
while data.count(b"\n") < 2:
    chunk = good.recv(1 << 20)
    if not chunk:
        break
    data += chunk
if data.count(b"\n") != 2:
    print("two pipelined requests did not get two answers")
    sys.exit(1)
good.close()
PY
  run_tool after "$diag" dump --socket "$sock"
  ((rc == 0)) || fail "dump after the malformed requests exited $rc: $(cat "$work/after.err")"
  grep -q "zokio console: runtime 'console-target'" "$work/after.out" || fail "dump's text lacks its header"
  stop_target
  ;;
sigquit-json | sigquit-text)
  format=json
  [[ $case_name == sigquit-text ]] && format=1
  start "ZOKIO_DUMP=$format" --
  # The runtime installs its SIGQUIT handler at start; give it a moment, then ask.
  for ((i = 0; i < 100; i++)); do
    grep -q '^SigCgt:' "/proc/$pid/status" 2>/dev/null &&
      (($(printf '%d' "0x$(awk '/^SigCgt:/ {print $2}' "/proc/$pid/status")") & (1 << 2))) && break
    sleep 0.05
  done
  sleep 0.3
  kill -QUIT "$pid"
  for ((i = 0; i < 100; i++)); do
    if [[ $format == json ]]; then
      grep -q '"schema":"zokio.console/1"' "$work/target.err" && break
    else
      grep -q "live task" "$work/target.err" && break
    fi
    sleep 0.05
  done
  if [[ $format == json ]]; then
    grep '"schema":"zokio.console/1"' "$work/target.err" | head -1 >"$work/dump.json"
    [[ -s $work/dump.json ]] || fail "no JSON dump on standard error: $(head -c 500 "$work/target.err")"
    validate "$work/dump.json"
    /usr/bin/python3 - "$work/dump.json" <<'PY' || fail "the JSON dump lacks tasks or handles"
import json, sys
d = json.load(open(sys.argv[1]))
names = {t["name"] for t in d["tasks"]}
assert {"ticker", "waiter", "spinner"} <= names, names
assert not d["wait_times"], "a one-off dump has no wait times"
assert d["handles"]["complete"] and d["handles"]["by_type"].get("poll", 0) >= 1, d["handles"]
PY
  else
    grep -q "zokio: SIGQUIT: runtime 'console-target'" "$work/target.err" || fail "no dump header"
    grep -Eq "^open handles:.* poll=1" "$work/target.err" || fail "no handles by type: $(cat "$work/target.err")"
    grep -q "'waiter'" "$work/target.err" || fail "the dump lacks the waiter"
  fi
  stop_target
  ;;
usage)
  run_tool nosocket "$diag" dump
  ((rc == 2)) || fail "dump without --socket exited $rc, expected 2"
  [[ $(wc -l <"$work/nosocket.err") == 1 ]] || fail "not one line: $(cat "$work/nosocket.err")"
  run_tool badwait "$diag" top --socket "$sock" --long-wait -3
  ((rc == 2)) || fail "top --long-wait -3 exited $rc, expected 2"
  run_tool nobody "$diag" dump --socket "$sock"
  ((rc == 2)) || fail "dump at a socket nobody serves exited $rc, expected 2"
  [[ $(wc -l <"$work/nobody.err") == 1 ]] || fail "not one line: $(cat "$work/nobody.err")"
  grep -q "cannot connect" "$work/nobody.err" || fail "no reason given: $(cat "$work/nobody.err")"
  echo "not a socket" >"$sock"
  start -- "$sock"
  sleep 0.5
  touch "$stop"
  wait "$pid"
  code=$?
  pid=
  ((code == 1)) || fail "the target exited $code, expected 1 (its 'socket' file is a regular file left alone)"
  grep -q "zokio: console: cannot listen on $sock: the path exists and is not a socket; the runtime runs without it" \
    "$work/target.err" || fail "no one-line reason: $(cat "$work/target.err")"
  [[ $(cat "$sock") == "not a socket" ]] || fail "the regular file was touched"
  grep -q "shutdown: clean" "$work/target.out" || fail "not a clean shutdown: $(cat "$work/target.out")"
  ;;
*)
  echo "console-cases.sh: unknown case '$case_name'" >&2
  exit 2
  ;;
esac
finish_case console-cases.sh
