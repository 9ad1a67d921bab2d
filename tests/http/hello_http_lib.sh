# Shared by the hello_http scripts (sourced): a scratch directory, failing with the server's
# output, starting hello_http on a free port and stopping it with SIGTERM. Every wait is bounded.
#   start_hello_http <binary> <flags>...   sets pid and port (the server's output: $work/out)
#   stop_hello_http                        SIGTERM; fails unless it exits 0 with a clean shutdown
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- server output:"
  cat "$work/out" 2>/dev/null
  exit 1
}

start_hello_http() {
  "$@" --port 0 >"$work/out" 2>&1 &
  pid=$!
  port=
  for _ in $(seq 1 200); do
    port=$(sed -n 's/^listening on [^ ]*:\([0-9]*\).*/\1/p' "$work/out")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || fail "hello_http did not start"
}

# Waits up to 10 s for the server to exit (after a SIGTERM sent by the caller or here).
wait_hello_http_exit() {
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && fail "hello_http did not exit within 10 s of SIGTERM"
  wait "$pid"
  local rc=$?
  pid=
  cat "$work/out"
  [ $rc -eq 0 ] || fail "hello_http exited $rc"
  grep -q '^shutdown: clean' "$work/out" || fail "hello_http did not shut down clean"
}

stop_hello_http() {
  kill -TERM "$pid"
  wait_hello_http_exit
}
