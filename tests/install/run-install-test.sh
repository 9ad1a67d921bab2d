#!/usr/bin/env bash
# Install test: installs a Zokio build into a fresh prefix, then configures, builds and runs an
# outside project (tests/install/consumer) that finds it with find_package(zokio) and links
# zokio::runtime.
#
#   tests/install/run-install-test.sh <build-dir> <work-dir>
#
# <work-dir> is deleted and re-created; it receives prefix/ and consumer-build/.
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

step() { printf '\n== install test: %s\n' "$*"; }

step "cmake --install $build_dir --prefix $prefix"
cmake --install "$build_dir" --prefix "$prefix"

config=$(find "$prefix" -name zokioConfig.cmake -print -quit)
if [[ -z $config ]]; then
  echo "run-install-test: FAIL: no zokioConfig.cmake under $prefix" >&2
  exit 1
fi
echo "found $config"

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
