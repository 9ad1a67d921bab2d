#!/usr/bin/env bash
# Installs the Debian 12 packages Zokio needs to build and test, and nothing else.
# Only Debian's archive is used; nothing is downloaded from anywhere else.
# Idempotent: when every package is already installed it does nothing.
set -euo pipefail

# package -> why it is needed (shown before installing).
declare -A why=(
  [build-essential]="GCC 12 and make build the runtime and tools"
  [cmake]="the build system (>= 3.25)"
  [ninja-build]="the CMake generator used by the presets"
  [pkg-config]="finds libuv (Debian ships only a pkg-config file for it); the install test builds with zokio.pc"
  [libuv1-dev]="the event loop the runtime is built on"
  [libcli11-dev]="command-line parsing for the tools"
  [nlohmann-json3-dev]="JSON output of the tools"
  [libgtest-dev]="the unit and integration tests"
  [libgmock-dev]="the unit and integration tests"
  [libbenchmark-dev]="the micro benchmarks (zokio-bench-micro)"
  [clang-14]="sanitizer builds (ASan/UBSan, TSan) and libFuzzer"
  [libclang-rt-14-dev]="the sanitizer runtimes for Clang 14"
  [llvm-14]="llvm-symbolizer, so sanitizer reports name functions and lines (not a clang-14 dependency)"
  [clang-format]="the formatting check in the test suite"
  [node-llhttp]="the HTTP/1.1 parser's C sources (/usr/share/llhttp), built into zokio/http"
  [wrk]="the HTTP load test (hello_http under keep-alive load) and its benchmark"
  [curl]="the HTTP tests' client (every route of hello_http)"
  [libasio-dev]="zokio-bench's Asio peer (standalone Asio 1.22, C++20 coroutines)"
  [librust-tokio-dev]="zokio-bench's Tokio peer (Tokio 1.24, built offline from /usr/share/cargo/registry)"
  [librust-hyper-dev]="zokio-bench's Tokio peer for the http suite (hyper 0.14 on Tokio)"
  [libjs-chart.js]="Chart.js, inlined into the HTML reports of zokio-bench and zokio-soak"
  [chromium]="headless Chromium: the tests render the HTML reports and check every chart drew"
  [python3-jsonschema]="the tests validate zokio-diag's JSON reports against docs/schema/"
)
order=(build-essential cmake ninja-build pkg-config libuv1-dev libcli11-dev nlohmann-json3-dev
       libgtest-dev libgmock-dev libbenchmark-dev clang-14 libclang-rt-14-dev llvm-14 clang-format
       node-llhttp wrk curl libasio-dev librust-tokio-dev librust-hyper-dev libjs-chart.js chromium
       python3-jsonschema)
# The Tokio peer needs cargo; a machine with rustup's cargo on PATH keeps it, otherwise Debian's.
if ! command -v cargo >/dev/null 2>&1; then
  why[cargo]="builds zokio-bench's Tokio peer (offline, Debian's crates)"
  order+=(cargo)
fi

missing=()
for p in "${order[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${#missing[@]} Debian package(s):"
for p in "${missing[@]}"; do
  echo "  $p: ${why[$p]}"
done

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
    exit 2
  fi
  sudo_cmd=(sudo)
  echo "install-deps: not running as root, using sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists; refresh them once before installing.
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
