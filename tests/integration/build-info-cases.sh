#!/usr/bin/env bash
# cmake/zokio-build-info.cmake, run as the build runs it, against a scratch git repository:
# the header names HEAD and a clean tree after a commit, turns dirty when a tracked file changes,
# follows a new commit without any reconfigure, and is not rewritten when nothing changed (so an
# unchanged tree recompiles nothing).
#
#   build-info-cases.sh CMAKE SCRIPT WORKDIR
set -u
# shellcheck source=cases-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cases-lib.sh"
args_or_usage 3 3 "build-info-cases.sh CMAKE SCRIPT WORKDIR" $#
cmake=$1
script=$2
work=$3
case_name=build-info
rm -rf "$work" && mkdir -p "$work/repo"

header="$work/build_info.hpp"
generate() {
  "$cmake" "-DSOURCE_DIR=$work/repo" "-DOUTPUT=$header" -DVERSION=1.2.3 \
    "-DGIT=$(command -v git)" -P "$script" || fail "the script failed"
}
expect() { # expect COMMIT DIRTY
  grep -Fq "#define ZOKIO_GIT_COMMIT \"$1\"" "$header" ||
    fail "the header does not name commit $1: $(grep COMMIT "$header")"
  grep -Fq "#define ZOKIO_GIT_DIRTY $2" "$header" ||
    fail "the header's dirty flag is not $2: $(grep DIRTY "$header")"
}
g() { git -C "$work/repo" -c user.name=t -c user.email=t@t -c commit.gpgsign=false "$@"; }

g init -q
echo one >"$work/repo/file"
g add file && g commit -qm one
first=$(g rev-parse HEAD)
generate
expect "$first" 0
grep -Fq '#define ZOKIO_VERSION "1.2.3"' "$header" || fail "the header has no version"

touch -d '2000-01-01' "$header"
generate
[[ $(stat -c %Y "$header") == $(date -d '2000-01-01' +%s) ]] ||
  fail "the header was rewritten although nothing changed"

echo two >"$work/repo/file"
generate
expect "$first" 1

echo untracked >"$work/repo/new-file" # untracked files do not make a build dirty
g commit -qam two
second=$(g rev-parse HEAD)
generate
expect "$second" 0

rm -rf "$work/repo/.git"
generate
expect unknown 0

finish_case build-info-cases.sh
