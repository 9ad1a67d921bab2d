#!/usr/bin/env bash
# hello_http end to end, with real clients over loopback:
#   tests/http/hello_http_e2e.sh <hello_http binary>
# curl against every route (a 1 MiB POST echo compared byte for byte, a chunked upload, 404,
# 405 + Allow, HEAD, 413), a short wrk run (zero socket errors, zero non-2xx; skipped with a
# message if wrk is absent), then SIGTERM while a request is half sent: that request still gets
# its full response once the rest arrives, and the server exits 0 after a clean shutdown.
# Every wait is bounded.
set -u
bin=$1
. "$(dirname "$0")/hello_http_lib.sh"

start_hello_http "$bin" --workers 2
base=http://127.0.0.1:$port
c() { curl -sS --max-time 10 "$@"; }

# --- a second server on the same port fails, it does not share the port silently ------------
timeout 10 "$bin" --port "$port" --workers 2 >"$work/second" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "a second hello_http on port $port exited $rc, not 1: $(cat "$work/second")"
grep -qi 'address already in use' "$work/second" || fail "second server: $(cat "$work/second")"

# --- every route -----------------------------------------------------------------------------
[ "$(c "$base/hello")" = "Hello, World!" ] || fail "GET /hello"
c -i "$base/hello" | tr -d '\r' >"$work/hello.h"
grep -q '^HTTP/1.1 200 OK$' "$work/hello.h" || fail "GET /hello status line"
grep -q '^Date: ' "$work/hello.h" || fail "GET /hello: no Date"
grep -q '^Content-Length: 14$' "$work/hello.h" || fail "GET /hello: Content-Length"
c "$base/" | grep -q '<h1>Hello from Zokio</h1>' || fail "GET /"
c -i "$base/" | tr -d '\r' | grep -qi '^content-type: text/html' || fail "GET /: content type"
c "$base/api/status" >"$work/status.json" || fail "GET /api/status"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "workers" in d, d' \
  "$work/status.json" || fail "GET /api/status is not the runtime's JSON: $(cat "$work/status.json")"
[ "$(c "$base/healthz")" = "ok" ] || fail "GET /healthz"
c "$base/metrics" >"$work/metrics" || fail "GET /metrics"
for m in zokio_http_requests_total zokio_http_connections_open zokio_http_connections_rejected_total \
  zokio_http_accept_errors_total \
  zokio_http_parse_errors_total zokio_http_bytes_in_total zokio_http_bytes_out_total \
  zokio_http_request_duration_seconds_bucket; do
  grep -q "^$m" "$work/metrics" || fail "/metrics lacks $m"
done
grep -q '^zokio_http_requests_total{method="GET",status="2xx"} [1-9]' "$work/metrics" ||
  fail "/metrics does not count the GETs"
[ "$(grep -c '^zokio_' "$work/metrics")" -gt 20 ] || fail "/metrics lacks the runtime counters"
[ "$(c -o /dev/null -w '%{http_code}' "$base/nowhere")" = 404 ] || fail "404"
c -i -X DELETE "$base/hello" | tr -d '\r' >"$work/405"
grep -q '^HTTP/1.1 405 Method Not Allowed$' "$work/405" || fail "405: $(cat "$work/405")"
grep -q '^Allow: GET, HEAD$' "$work/405" || fail "405 without Allow: $(cat "$work/405")"
c -I "$base/hello" | tr -d '\r' >"$work/head"
grep -q '^Content-Length: 14$' "$work/head" || fail "HEAD: $(cat "$work/head")"

# --- bodies ----------------------------------------------------------------------------------
head -c 1048576 /dev/urandom >"$work/1m"
c --data-binary @"$work/1m" -H 'Content-Type: application/octet-stream' "$base/api/echo" \
  -o "$work/1m.back" || fail "1 MiB echo"
cmp "$work/1m" "$work/1m.back" || fail "1 MiB echo differs"
head -c 300000 /dev/urandom >"$work/chunked"
c -H 'Transfer-Encoding: chunked' --data-binary @"$work/chunked" "$base/api/echo" \
  -o "$work/chunked.back" || fail "chunked upload"
cmp "$work/chunked" "$work/chunked.back" || fail "chunked echo differs"
head -c 1048577 /dev/zero >"$work/big"
[ "$(c -o /dev/null -w '%{http_code}' --data-binary @"$work/big" "$base/api/echo")" = 413 ] ||
  fail "1 MiB + 1 not refused with 413"
echo "curl: every route OK (1 MiB echo and chunked upload byte for byte)"

# --- load --------------------------------------------------------------------------------------
if command -v wrk >/dev/null; then
  timeout 30 wrk -t1 -c16 -d2s "$base/hello" >"$work/wrk" 2>&1 || fail "wrk: $(cat "$work/wrk")"
  cat "$work/wrk"
  grep -q 'Socket errors' "$work/wrk" && fail "wrk saw socket errors"
  grep -q 'Non-2xx' "$work/wrk" && fail "wrk saw non-2xx responses"
  grep -Eq '^Requests/sec: +[1-9]' "$work/wrk" || fail "wrk made no request"
else
  echo "SKIP wrk run: wrk is not installed (apt-get install wrk)"
fi

# --- graceful shutdown with a request half sent ------------------------------------------------
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "connect for the half-sent request"
exec 4<>"/dev/tcp/127.0.0.1/$port" || fail "connect for the idle connection"
printf 'POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Le' >&3
sleep 0.3
kill -TERM "$pid"
sleep 0.5
kill -0 "$pid" 2>/dev/null || fail "the server exited with a request in flight"
printf 'ngth: 11\r\n\r\nhalf-sent!!' >&3
timeout 10 cat <&3 | tr -d '\r' >"$work/half" || true
exec 3<&-
grep -q '^HTTP/1.1 200 OK$' "$work/half" || fail "half-sent request: $(cat "$work/half")"
grep -q '^Connection: close$' "$work/half" || fail "half-sent request: no Connection: close"
[ "$(tail -c 11 "$work/half")" = "half-sent!!" ] || fail "half-sent request: body $(cat "$work/half")"
# The idle connection was closed by the server (EOF, no bytes).
[ -z "$(timeout 10 cat <&4)" ] || fail "the idle connection got bytes"
exec 4<&-
wait_hello_http_exit
echo "graceful shutdown: the half-sent request got its response, exit 0"
