#!/usr/bin/env bash
# 10,000 concurrent keep-alive connections against the real hello_http binary:
#   tests/http/hello_http_10k.sh <hello_http> <many_connections_client> [COUNT] [MAX_KIB]
# The client (a separate process, tests/http/many_connections_client.cpp) opens COUNT (10000)
# connections at once, gets one answer on each, checks /metrics while they are held, prints the
# server's VmRSS growth per connection (failing at MAX_KIB, default 64, or more; 0: print only),
# closes them all and checks /metrics comes back to its own connection. Then the server must
# still answer curl, and exit 0 with a clean shutdown on SIGTERM. Both processes raise their
# descriptor limit to the hard limit (the shell here too). Every wait is bounded.
set -u
bin=$1
client=$2
count=${3:-10000}
max_kib=${4:-64}
. "$(dirname "$0")/hello_http_lib.sh"

ulimit -n "$(ulimit -Hn)" 2>/dev/null
echo "descriptors: soft $(ulimit -Sn), hard $(ulimit -Hn)"
start_hello_http "$bin" --workers 2 --max-connections $((count + 100))
grep -q '^Max open files' "/proc/$pid/limits" &&
  echo "server $(grep '^Max open files' "/proc/$pid/limits" | tr -s ' ')"

"$client" "$port" "$count" "$pid" "$max_kib" || fail "the client failed (exit $?)"

base=http://127.0.0.1:$port
[ "$(curl -sS --max-time 10 "$base/hello")" = "Hello, World!" ] ||
  fail "GET /hello after the connections closed"
curl -sS --max-time 10 "$base/metrics" >"$work/metrics" || fail "GET /metrics"
grep -q '^zokio_http_connections_open 1$' "$work/metrics" ||
  fail "/metrics: $(grep '^zokio_http_connections_open' "$work/metrics"), not 1 (curl's own)"
grep '^zokio_http_connections_accepted_total\|^zokio_http_connections_rejected_total' \
  "$work/metrics"

stop_hello_http
echo "$count connections held and answered, all closed; hello_http healthy and exit 0"
