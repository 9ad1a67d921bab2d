#!/usr/bin/env bash
# line_server_test.sh SERVER: runs examples/line_server against real sockets on 127.0.0.1.
#   1. lines come back upper-cased, "\r\n" endings included, split writes included;
#   2. a client silent for longer than the idle limit (300 ms here) is disconnected;
#   3. SIGTERM with a client still connected stops the server: exit 0, which line_server gives
#      only after a clean runtime shutdown (no task, no handle left).
set -u
server=$1
dir=$(mktemp -d)
out="$dir/out"
pid=
cleanup() {
  [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "line_server_test: $*"
  echo "--- server output:"
  cat "$out"
  exit 1
}

"$server" 0 300 >"$out" 2>&1 &
pid=$!
for ((i = 0; i < 100; ++i)); do
  grep -q '^listening on' "$out" && break
  sleep 0.1
done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
[[ -n $port ]] || fail "the server did not say where it listens"

# 1. Upper-cased lines.
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"
printf 'hello\r\nwor' >&3
sleep 0.05
printf 'ld\nzokio\n' >&3
got=$(timeout 5 head -n 3 <&3 | tr -d '\r')
exec 3<&-
[[ $got == $'HELLO\nWORLD\nZOKIO' ]] || fail "expected HELLO/WORLD/ZOKIO, got: $got"

# 2. The idle limit: a silent client is disconnected (EOF) long before 5 s.
exec 4<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"
start=$(date +%s%N)
timeout 5 cat <&4 >/dev/null
rc=$?
exec 4<&-
took_ms=$((($(date +%s%N) - start) / 1000000))
[[ $rc -eq 0 ]] || fail "a silent client was not disconnected within 5 s (cat exit $rc)"
((took_ms >= 250)) || fail "a silent client was disconnected after only $took_ms ms (limit 300)"

# 3. SIGTERM with a client connected: a clean stop.
exec 5<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"
printf 'still here\n' >&5
IFS= read -r -t 5 echo_line <&5 || fail "no answer before SIGTERM"
kill -TERM "$pid"
for ((i = 0; i < 100; ++i)); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  fail "the server did not stop within 10 s of SIGTERM"
fi
wait "$pid"
rc=$?
pid=
exec 5<&-
[[ $rc -eq 0 ]] || fail "exit $rc after SIGTERM (0 means a clean shutdown)"
echo "line_server: upper-cased lines, idle clients dropped after ${took_ms} ms, clean stop on SIGTERM"
