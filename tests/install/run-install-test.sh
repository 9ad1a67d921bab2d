#!/usr/bin/env bash
# Install test: installs a Zokio build into a fresh prefix, then checks what a user gets there:
# - every tool the build installs (<build-dir>/zokio-installed-tools.txt: zokio-diag, the
#   zokio-bench-* tools, zokio-soak) is in bin/ and runs from there (`--version` exits 0);
# - an outside project (tests/install/consumer) configures, builds and runs with
#   find_package(zokio) and zokio::runtime;
# - the same program builds with `pkg-config --cflags --libs zokio` (the installed zokio.pc,
#   found through PKG_CONFIG_PATH) and runs.
#
#   tests/install/run-install-test.sh <build-dir> <work-dir>
#
# <work-dir> is deleted and re-created; it receives prefix/, consumer-build/ and pkg-config/.
# Optional environment (set by ctest from the build's own settings):
#   ZOKIO_CONSUMER_CXX_COMPILER  C++ compiler for the consumer (default: cmake's choice)
#   ZOKIO_CONSUMER_FLAGS         extra compile and link flags (the build's sanitizer flags)
#   ZOKIO_CONSUMER_BUILD_TYPE    CMAKE_BUILD_TYPE of the consumer (default: Release)
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 <build-dir> <work-dir>" >&2
  exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=$(cd "$1" && pwd)
work_dir=$2

case "$work_dir" in
  "" | / | . | .. | "$HOME" | "$build_dir")
    echo "run-install-test: refusing to use '$work_dir' as the work directory" >&2
    exit 2
    ;;
esac

rm -rf -- "$work_dir"
mkdir -p -- "$work_dir"
work_dir=$(cd "$work_dir" && pwd)
prefix=$work_dir/prefix
consumer_build=$work_dir/consumer-build
pc_build=$work_dir/pkg-config

step() { printf '\n== install test: %s\n' "$*"; }
fail() {
  echo "run-install-test: FAIL: $*" >&2
  exit 1
}

step "cmake --install $build_dir --prefix $prefix"
cmake --install "$build_dir" --prefix "$prefix"

config=$(find "$prefix" -name zokioConfig.cmake -print -quit)
[[ -n $config ]] || fail "no zokioConfig.cmake under $prefix"
echo "found $config"

step "the installed tools run from $prefix/bin"
tools_list=$build_dir/zokio-installed-tools.txt
[[ -f $tools_list ]] || fail "no $tools_list: configure the build with this source tree"
mapfile -t tools < <(grep -v '^$' "$tools_list" || true)
if grep -q '^ZOKIO_BUILD_TOOLS:BOOL=ON$' "$build_dir/CMakeCache.txt"; then
  [[ " ${tools[*]} " == *" zokio-diag "* ]] || fail "zokio-diag is built but not installed"
fi
if grep -q '^ZOKIO_BUILD_BENCH:BOOL=ON$' "$build_dir/CMakeCache.txt"; then
  [[ " ${tools[*]} " == *" zokio-bench-"* ]] || fail "zokio-bench is built but not installed"
fi
for tool in "${tools[@]}"; do
  exe=$prefix/bin/$tool
  [[ -x $exe ]] || fail "$tool is not installed as $exe"
  version=$("$exe" --version) || fail "$exe --version exited $?"
  if [[ $tool == zokio-bench-peer-* ]]; then
    # A zokio-bench peer names what it runs ("tokio 1.24.2 (rustc ...)"), in one line
    # (tools/zokio-bench/peers/PROTOCOL.md).
    [[ -n $version && $version != *$'\n'* ]] ||
      fail "$exe --version printed '$version', not one line"
  else
    [[ $version == "$tool "* ]] || fail "$exe --version printed '$version', not '$tool <version>'"
  fi
  echo "$version"
done

configure_args=(
  -S "$here/consumer"
  -B "$consumer_build"
  "-DCMAKE_PREFIX_PATH=$prefix"
  "-DZOKIO_EXPECTED_PREFIX=$prefix"
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  "-DCMAKE_BUILD_TYPE=${ZOKIO_CONSUMER_BUILD_TYPE:-Release}"
)
if command -v ninja >/dev/null; then
  configure_args+=(-G Ninja)
fi
if [[ -n ${ZOKIO_CONSUMER_CXX_COMPILER:-} ]]; then
  configure_args+=("-DCMAKE_CXX_COMPILER=$ZOKIO_CONSUMER_CXX_COMPILER")
fi
if [[ -n ${ZOKIO_CONSUMER_FLAGS:-} ]]; then
  configure_args+=("-DCMAKE_CXX_FLAGS=$ZOKIO_CONSUMER_FLAGS"
    "-DCMAKE_EXE_LINKER_FLAGS=$ZOKIO_CONSUMER_FLAGS")
fi

step "configure the consumer"
cmake "${configure_args[@]}"

step "build the consumer"
cmake --build "$consumer_build" -j 2

step "run the consumer"
"$consumer_build/zokio_consumer"

step "build the same program with pkg-config"
pc_file=$(find "$prefix" -name zokio.pc -print -quit)
[[ -n $pc_file ]] || fail "no zokio.pc under $prefix"
echo "found $pc_file"
command -v pkg-config >/dev/null || fail "pkg-config is not installed (scripts/install-deps.sh)"
export PKG_CONFIG_PATH=$(dirname "$pc_file")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
found_pc=$(pkg-config --variable=pcfiledir zokio)
[[ $(cd "$found_pc" && pwd -P) == $(cd "$(dirname "$pc_file")" && pwd -P) ]] ||
  fail "pkg-config finds zokio.pc in $found_pc, not in $(dirname "$pc_file")"
pc_flags=$(pkg-config --cflags --libs zokio)
echo "pkg-config --cflags --libs zokio: $pc_flags"
[[ $pc_flags == *-luv* ]] || fail "zokio.pc does not link libuv (no -luv)"
mkdir -p -- "$pc_build"
cxx=${ZOKIO_CONSUMER_CXX_COMPILER:-${CXX:-c++}}
# The flags are words on purpose (word splitting of pkg-config's output, as in a Makefile).
# shellcheck disable=SC2086
"$cxx" -std=c++20 -O2 ${ZOKIO_CONSUMER_FLAGS:-} "$here/consumer/main.cpp" \
  -o "$pc_build/zokio_consumer" $pc_flags

step "run the pkg-config build"
"$pc_build/zokio_consumer"
