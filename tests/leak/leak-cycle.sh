#!/usr/bin/env bash
# LeakSanitizer checks over the examples' start, serve, shutdown cycle (tests/leak/CMakeLists.txt).
#
#   leak-cycle.sh canary LEAK_CANARY
#       passes when LeakSanitizer reports the canary's deliberate leak (and the process fails)
#   leak-cycle.sh echo ECHO_SERVER ECHO_CLIENT SIGNAL WORKERS
#       starts echo_server on a free port with WORKERS workers, checks one echo by hand on a
#       connection it then leaves open, runs echo_client against the server, stops the server
#       with SIGNAL (TERM or INT) while that connection is still open, and passes when both
#       programs exit 0, the server reports "shutdown: clean", and no sanitizer said anything
#
# The binaries must come from the ASan build. LeakSanitizer is switched on here whatever the
# caller's ASAN_OPTIONS say (later options win), and it reports at exit: a leak turns the exit
# code into 23 and prints "ERROR: LeakSanitizer: detected memory leaks".
set -u

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:leak_check_at_exit=1"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "leak-cycle: FAIL: $*" >&2
  for f in "$work"/*.log; do
    [[ -s $f ]] || continue
    echo "---- $(basename "$f")"
    cat "$f"
  done
  exit 1
}

# A sanitizer report of any kind (ASan, UBSan, LeakSanitizer) in a log file.
has_report() { grep -Eq 'Sanitizer|runtime error:' "$1"; }

# The program really is an ASan build (its runtime answers help=1), so a clean run means
# something.
require_asan() {
  ASAN_OPTIONS=help=1 "$1" --help >"$work/probe.log" 2>&1
  grep -q 'Available flags for AddressSanitizer' "$work/probe.log" ||
    fail "$1 is not built with AddressSanitizer (configure with the asan preset)"
  rm -f "$work/probe.log"
}

canary() {
  local canary=$1
  require_asan "$canary"
  "$canary" >"$work/canary.log" 2>&1
  local rc=$?
  grep -q 'ERROR: LeakSanitizer: detected memory leaks' "$work/canary.log" ||
    fail "LeakSanitizer did not report the canary's leak (exit $rc): it is off or cannot run here"
  ((rc != 0)) || fail "LeakSanitizer reported the leak but the canary exited 0"
  echo "leak-cycle: the canary's leak was reported (exit $rc), as it must be"
}

echo_cycle() {
  local server=$1 client=$2 sig=$3 workers=$4
  require_asan "$server"
  require_asan "$client"

  "$server" --port 0 --workers "$workers" >"$work/server.out.log" 2>"$work/server.err.log" &
  local pid=$!
  local port=
  for _ in $(seq 1 400); do
    port=$(sed -n 's/^listening on [^ ]*:\([0-9]*\).*/\1/p' "$work/server.out.log")
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [[ -z $port ]]; then
    kill -KILL "$pid" 2>/dev/null
    fail "echo_server did not start"
  fi
  echo "leak-cycle: echo_server (pid $pid, $workers worker(s)) listening on port $port"

  # One connection by hand: an echo, then it stays open across the shutdown, so the server has
  # to cancel a reader and close its stream.
  exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to echo_server"
  printf 'zokio-leak-check\n' >&3
  local line=
  read -r -t 20 line <&3
  [[ $line == zokio-leak-check ]] || fail "no echo on the idle connection (got '$line')"

  "$client" --port "$port" --clients 20 --messages 50 --size 16384 --workers 2 \
    >"$work/client.log" 2>&1
  local client_rc=$?

  kill "-$sig" "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null && ((waited < 600)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -ABRT "$pid" 2>/dev/null
    sleep 1
    kill -KILL "$pid" 2>/dev/null
    fail "echo_server did not exit within 60 s of SIG$sig"
  fi
  wait "$pid"
  local server_rc=$?
  exec 3>&-

  ((client_rc == 0)) || fail "echo_client exited $client_rc"
  ! has_report "$work/client.log" || fail "a sanitizer reported in echo_client"
  ! has_report "$work/server.err.log" || fail "a sanitizer reported in echo_server"
  ((server_rc == 0)) || fail "echo_server exited $server_rc after SIG$sig (23: a leak)"
  grep -q '^shutdown: clean' "$work/server.out.log" || fail "echo_server did not shut down clean"
  cat "$work/client.log" "$work/server.out.log"
  echo "leak-cycle: echo_server and echo_client: start, serve, SIG$sig shutdown, no leak"
}

case "${1:-}" in
  canary)
    (($# == 2)) || { echo "usage: $0 canary LEAK_CANARY" >&2; exit 2; }
    canary "$2"
    ;;
  echo)
    (($# == 5)) || { echo "usage: $0 echo ECHO_SERVER ECHO_CLIENT TERM|INT WORKERS" >&2; exit 2; }
    echo_cycle "$2" "$3" "$4" "$5"
    ;;
  *)
    echo "usage: $0 canary LEAK_CANARY | echo ECHO_SERVER ECHO_CLIENT TERM|INT WORKERS" >&2
    exit 2
    ;;
esac
