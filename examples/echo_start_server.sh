# Sourced by the examples' tests (examples/CMakeLists.txt):
#   start_echo_server SERVER OUT [ARG...]
# starts SERVER --port 0 ARG... in the background with its output in the file OUT and waits until
# it says `listening on HOST:PORT`; then $pid is its process and $port the port it picked. When it
# does not start within 10 s, it prints OUT, kills it and exits the test with 1.
start_echo_server() {
  local server=$1 out=$2
  shift 2
  "$server" --port 0 "$@" >"$out" 2>&1 &
  pid=$!
  port=
  for _ in $(seq 1 200); do
    port=$(sed -n 's/^listening on [^ ]*:\([0-9]*\).*/\1/p' "$out")
    [ -n "$port" ] && return 0
    sleep 0.05
  done
  echo "echo_server did not start:"
  cat "$out"
  kill -9 "$pid" 2>/dev/null
  exit 1
}
