#!/usr/bin/env bash
# echo_signal_early.sh SERVER: sends SIGTERM (and once SIGINT) to echo_server the moment it says
# it listens, before it has served anything, and requires a clean stop every time: exit 0 and
# "shutdown: clean". A signal the library does not watch yet would kill it (exit 143 or 130).
set -u
server=$1
dir=$(mktemp -d)

# stopped_within SECONDS PID: true once PID has exited (it is our child: wait reaps it later).
stopped_within() {
  local i
  for ((i = 0; i < $1 * 10; ++i)); do
    kill -0 "$2" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# backtraces PID: every thread's stack, when gdb is there (the evidence a hang needs).
backtraces() {
  if command -v gdb >/dev/null; then
    timeout 60 gdb -p "$1" -batch -ex 'thread apply all bt 30' 2>&1 | grep -E '^(Thread|#)'
  else
    echo "(gdb not installed: no backtraces)"
  fi
}
trap 'rm -rf "$dir"' EXIT
fail=0
for sig in TERM TERM TERM TERM TERM INT; do
  fifo="$dir/out.$RANDOM"
  mkfifo "$fifo"
  "$server" --port 0 --workers 2 >"$fifo" 2>&1 &
  pid=$!
  exec 3<"$fifo"
  line=
  if ! IFS= read -r -t 10 line <&3 || [[ $line != listening* ]]; then
    echo "echo_server did not start: $line"
    kill -9 "$pid" 2>/dev/null
    exec 3<&-
    wait "$pid" 2>/dev/null
    exit 1
  fi
  kill -"$sig" "$pid" # at once: no sleep between "listening" and the signal
  rest=$(timeout 20 cat <&3)
  exec 3<&-
  if kill -0 "$pid" 2>/dev/null && ! stopped_within 10 "$pid"; then
    # Never hang: say where it is stuck, then fail.
    echo "SIG$sig right after start: echo_server has not stopped after 30 s"
    printf '%s\n%s\n' "$line" "$rest"
    backtraces "$pid"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$fifo"
    fail=1
    continue
  fi
  wait "$pid"
  rc=$?
  rm -f "$fifo"
  if [[ $rc -ne 0 ]] || ! grep -q '^shutdown: clean' <<<"$rest"; then
    echo "SIG$sig right after start: exit $rc"
    printf '%s\n%s\n' "$line" "$rest"
    fail=1
  fi
done
[[ $fail -eq 0 ]] && echo "echo_server stopped cleanly on every early signal"
exit $fail
