#!/usr/bin/env bash
# Smoke test of one zokio-bench peer (PROTOCOL.md), not a timing: --version prints one line;
# every workload of --list runs once at a small size, exits 0 and prints one JSON line of the
# protocol's shape; an unknown workload exits 2; a peer that lists http_plaintext serves
# GET /plaintext to curl and exits 0 on SIGTERM. Every step runs under `timeout`.
#   smoke-peer.sh PEER_PROGRAM
set -uo pipefail
peer=${1:?usage: smoke-peer.sh PEER_PROGRAM}
fail() { echo "smoke-peer: $(basename "$peer"): $*" >&2; exit 1; }

version=$(timeout 30 "$peer" --version) || fail "--version failed"
[[ $(wc -l <<<"$version") -eq 1 && -n $version ]] || fail "--version must print one line"
echo "version: $version"

workloads=$(timeout 30 "$peer" --list) || fail "--list failed"
[[ -n $workloads ]] || fail "--list printed no workload"

small_size() { # workload -> a size small enough for a smoke run
  case $1 in
    tcp_stream) echo 1048576 ;;
    timer_precision_*) echo 5 ;;
    tcp_echo_many | mpsc_contended | multi_worker_*) echo 6400 ;;
    yield_many | semaphore_contended) echo 6400 ;;
    *) echo 2000 ;;
  esac
}

for w in $workloads; do
  case $w in http_plaintext | http_connections) continue ;; esac
  out=$(timeout 120 "$peer" --run "$w" --size "$(small_size "$w")" --workers 2)
  rc=$?
  ((rc == 0)) || fail "--run $w exited $rc"
  [[ $(wc -l <<<"$out") -eq 1 ]] || fail "--run $w printed $(wc -l <<<"$out") lines on stdout, not 1"
  [[ $out == "{\"workload\":\"$w\""* ]] || fail "--run $w: output does not start with {\"workload\":\"$w\": $out"
  [[ $out == *'"ops":'* && $out == *'"seconds":'* && $out == *'}' ]] ||
    fail "--run $w: ops or seconds missing: $out"
  echo "ok: $out"
done

timeout 30 "$peer" --run no_such_workload --size 10 >/dev/null 2>&1
rc=$?
((rc == 2)) || fail "--run no_such_workload exited $rc, not 2"

if grep -qx http_plaintext <<<"$workloads"; then
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  "$peer" --serve http --port 0 >"$fifo" &
  pid=$!
  exec 3<"$fifo"
  rm -f "$fifo"
  IFS= read -r -t 30 line <&3 || { kill -KILL $pid; fail "--serve http printed no listening line"; }
  port=$(sed -n 's/^{"listening":\([0-9]*\)}$/\1/p' <<<"$line")
  [[ -n $port ]] || { kill -KILL $pid; fail "--serve http: not a listening line: $line"; }
  body=$(curl -sS --max-time 10 "http://127.0.0.1:$port/plaintext")
  [[ $body == "Hello, World!" ]] || { kill -KILL $pid; fail "GET /plaintext answered: $body"; }
  kill -TERM $pid
  for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  if kill -0 $pid 2>/dev/null; then
    kill -KILL $pid
    fail "--serve http did not exit within 10 s of SIGTERM"
  fi
  wait $pid
  rc=$?
  ((rc == 0)) || fail "--serve http exited $rc after SIGTERM, not 0"
  echo "ok: --serve http on port $port"
fi
echo "smoke-peer: $(basename "$peer"): passed"
