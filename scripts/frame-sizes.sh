#!/usr/bin/env bash
# Prints what a task of the runtime suite costs in memory, as the compiler lays it out: the
# record of a spawned task (sizeof root_promise<void>) and the coroutine frames of the suite's
# parked task (park_memory: `++*parked; co_await go->wait(); c->arrive();`) and its spawned task
# (spawn_many_local: `c->arrive(); co_return;`), with the frame pool's block for each (16-byte
# classes). The frames are read from a small program linked with a frame_alloc of its own that
# prints each size it is asked for (docs/decisions.md, "A wait's site is passed as scalars").
#
# Usage: scripts/frame-sizes.sh [BUILD_DIR]   (default build; needs BUILD_DIR/lib/libzokio.a)
# Environment: CXX (default g++).
# Exit: 0 printed, 1 the program did not build or run, 2 usage.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ $build = /* ]] || build=$root/$build
if (($# > 1)) || [[ ${1:-} == -h || ${1:-} == --help ]]; then
  echo "usage: scripts/frame-sizes.sh [BUILD_DIR]" >&2
  exit 2
fi
lib=$build/lib/libzokio.a
if [[ ! -f $lib ]]; then
  echo "frame-sizes: $lib not found: build the tree first (cmake --build $build)" >&2
  exit 1
fi
cxx=${CXX:-g++}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/sizes.cpp" <<'EOF'
#include <zokio/zokio.hpp>

#include <cstdio>
#include <cstdlib>

// Replaces the pool's allocator in this program only: each frame's size is printed.
namespace zokio::detail {
const char* g_what = "";
void* frame_alloc(std::size_t n) {
  std::printf("%-40s %4zu bytes, a %zu-byte block\n", g_what, n, (n + 15) / 16 * 16);
  return std::malloc(n);
}
void frame_free(void* p, std::size_t) noexcept { std::free(p); }
std::size_t frame_pool_reserved_bytes() noexcept { return 0; }
} // namespace zokio::detail

struct countdown {
  long left = 1;
  void arrive() { --left; }
};

// The runtime suite's tasks (tools/zokio-bench/peers/zokio/runtime_workloads.cpp).
zokio::task<void> park(zokio::event* go, std::uint64_t* parked, countdown* c) {
  ++*parked;
  co_await go->wait();
  c->arrive();
}
zokio::task<void> arrive(countdown* c) {
  c->arrive();
  co_return;
}

int main() {
  const std::size_t record = sizeof(zokio::detail::root_promise<void>);
  std::printf("%-40s %4zu bytes, a %zu-byte block\n", "record (root_promise<void>)", record,
              (record + 15) / 16 * 16);
  std::printf("%-40s %4zu bytes\n", "event's awaiter", sizeof(zokio::detail::event_awaiter));
  zokio::event go;
  std::uint64_t parked = 0;
  countdown c;
  zokio::detail::g_what = "frame of park (park_memory)";
  { auto t = park(&go, &parked, &c); } // lazy: allocated, never started, destroyed
  zokio::detail::g_what = "frame of arrive (spawn_many_local)";
  { auto t = arrive(&c); }
}
EOF
if ! "$cxx" -std=c++20 -O2 -I"$root/runtime/include" "$work/sizes.cpp" "$lib" -luv -lpthread \
  -o "$work/sizes" 2>"$work/err"; then
  echo "frame-sizes: the program did not build:" >&2
  head -20 "$work/err" >&2
  exit 1
fi
echo "frame-sizes: $("$cxx" --version | head -1), -O2"
"$work/sizes"
