#!/usr/bin/env bash
# Mutation testing by hand: each tests/mutants/*.patch plants one deliberate bug in the runtime.
# This script applies each patch, alone, to a temporary copy of the tree (git archive of HEAD, or
# of the working tree with --worktree), builds that copy and runs the unit tests against it. A
# mutant some test fails on is "killed"; one the whole suite passes is "survived"; a patch that no
# longer applies is "stale" (the code it targets moved: update the patch). Nothing here touches
# the normal build: the copy and its build live under a temporary directory, removed at the end
# unless --keep.
#
#   scripts/mutants.sh [--jobs N] [--test-timeout S] [--json FILE] [--worktree] [--keep]
#                      [--tests REGEX] [--targets "NAME..."] [PATCH...]
#
# --targets builds and runs only the named test executables (e.g. "task_spawn_test"): a quick
# check of one mutant against the tests meant to kill it, when a header mutant would otherwise
# rebuild every test. The full run (no --targets) is the one to record.
#
# Exit: 0 every mutant killed; 1 some mutant survived or a patch is stale; 2 usage or build error.
# Builds go through ccache when it is installed (one configure, then each mutant rebuilds only the
# files its patch touched, and again once it is reverted).

set -euo pipefail

usage() {
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
}

jobs=2
test_timeout=30
json=""
use_worktree=0
keep=0
tests_regex=""
only_targets=""
patches=()
while [[ $# -gt 0 ]]; do
  case "$1" in
  --jobs) jobs="$2"; shift 2 ;;
  --test-timeout) test_timeout="$2"; shift 2 ;;
  --json) json="$2"; shift 2 ;;
  --worktree) use_worktree=1; shift ;;
  --keep) keep=1; shift ;;
  --tests) tests_regex="$2"; shift 2 ;;
  --targets) only_targets="$2"; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  -*) echo "mutants.sh: unknown option $1" >&2; exit 2 ;;
  *) patches+=("$1"); shift ;;
  esac
done

root="$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"
if [[ ${#patches[@]} -eq 0 ]]; then
  shopt -s nullglob
  patches=("$root"/tests/mutants/*.patch)
  shopt -u nullglob
fi
if [[ ${#patches[@]} -eq 0 ]]; then
  echo "mutants.sh: no patches in $root/tests/mutants" >&2
  exit 2
fi
for p in "${patches[@]}"; do
  [[ -f "$p" ]] || { echo "mutants.sh: no such patch: $p" >&2; exit 2; }
done

work="$(mktemp -d /tmp/zokio-mutants.XXXXXX)"
cleanup() {
  if [[ $keep -eq 0 ]]; then rm -rf "$work"; else echo "mutants.sh: kept $work"; fi
}
trap cleanup EXIT

src="$work/src"
build="$work/build"
mkdir -p "$src"
commit="$(git -C "$root" rev-parse --short HEAD)"
if [[ $use_worktree -eq 1 ]]; then
  # Tracked and untracked files of the working tree, as they are now (ignored files left out).
  (cd "$root" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 tar -cf - --ignore-failed-read 2>/dev/null) | tar -xf - -C "$src"
  commit="$commit+worktree"
else
  git -C "$root" archive HEAD | tar -xf - -C "$src"
fi

launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$work" CCACHE_NOHASHDIR=true
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

echo "== mutants.sh: configuring a copy of $commit in $work"
if ! cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DZOKIO_BUILD_TOOLS=OFF -DZOKIO_BUILD_BENCH=OFF "${launcher[@]}" >"$work/configure.log" 2>&1; then
  tail -20 "$work/configure.log" >&2
  exit 2
fi
# Only what the unit tests need: the runtime, each tests/unit/*_test.cpp, the README example and
# the replay of each fuzz target's committed inputs (fuzz_<target>_replay, label unit too: a
# unit test whose executable was not built fails as "not run", which is why the replay used to
# fail in this copy without any mutant).
targets=(readme_example)
for f in "$src"/tests/unit/*_test.cpp; do
  targets+=("$(basename "$f" .cpp)")
done
for f in "$src"/tests/fuzz/*_fuzz.cpp; do
  [[ -e "$f" ]] && targets+=("fuzz_$(basename "$f" _fuzz.cpp)_replay")
done
if [[ -n "$only_targets" ]]; then
  read -r -a targets <<<"$only_targets"
  if [[ -z "$tests_regex" ]]; then
    # A gtest executable's cases are "<name>.<Suite>.<Case>"; other tests are "<name>" alone.
    tests_regex="^($(
      IFS='|'
      echo "${targets[*]}"
    ))(\\.|\$)"
  fi
fi
build_all() { # $1: log file
  cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$1" 2>&1
}
echo "== building the unmutated copy (a baseline: its tests must pass)"
if ! build_all "$work/build-base.log"; then
  tail -30 "$work/build-base.log" >&2
  exit 2
fi

# Every unit test except the format check, each under the tests' watchdog (a hang fails in
# test_timeout seconds with what did not happen). A mutant run stops at the first failure: one
# failing test is enough to kill a mutant.
exclude='^format_check$'
run_suite() { # $1: log file, $2: extra ctest arguments
  local extra=()
  [[ -n "$tests_regex" ]] && extra=(-R "$tests_regex")
  # shellcheck disable=SC2086
  ZOKIO_TEST_WATCHDOG_S="$test_timeout" timeout $((test_timeout * 60)) \
    ctest --test-dir "$build" -L unit -E "$exclude" -j "$jobs" --no-tests=error "${extra[@]}" $2 \
    >"$1" 2>&1
}

# Tests that fail without any mutant (a known runtime bug not fixed yet) cannot kill one: they are
# left out of the mutant runs, and named in the summary.
baseline_failures=()
if ! run_suite "$work/baseline.log" ""; then
  mapfile -t baseline_failures < <(sed -n '/The following tests FAILED:/,$p' "$work/baseline.log" |
    sed -nE 's/^[[:space:]]*[0-9]+ - ([^ ]+) \(.*$/\1/p')
  if [[ ${#baseline_failures[@]} -eq 0 ]]; then
    echo "mutants.sh: the unmutated copy's tests did not run:" >&2
    tail -20 "$work/baseline.log" >&2
    exit 2
  fi
  echo "== left out, failing without any mutant: ${baseline_failures[*]}"
  for t in "${baseline_failures[@]}"; do
    exclude="$exclude|^${t//./\\.}\$"
  done
fi

declare -a names results details
killed=0
survived=0
stale=0
for p in "${patches[@]}"; do
  name="$(basename "$p" .patch)"
  names+=("$name")
  if ! patch -d "$src" -p1 --dry-run --silent <"$p" >/dev/null 2>&1; then
    echo "-- $name: STALE (the patch no longer applies)"
    results+=("stale")
    details+=("patch does not apply to $commit")
    stale=$((stale + 1))
    continue
  fi
  patch -d "$src" -p1 --silent <"$p"
  log="$work/$name.log"
  start=$(date +%s)
  if ! build_all "$work/$name.build.log"; then
    # A mutant that does not compile tells nothing: report it, as for a stale patch.
    echo "-- $name: STALE (does not compile)"
    results+=("stale")
    details+=("does not compile: $(grep -m1 'error' "$work/$name.build.log" | cut -c1-200)")
    stale=$((stale + 1))
  elif run_suite "$log" --stop-on-failure; then
    echo "-- $name: SURVIVED (every test passed) [$(($(date +%s) - start)) s]"
    results+=("survived")
    details+=("")
    survived=$((survived + 1))
  else
    first="$(grep -m1 -E '\*\*\*(Failed|Timeout|Exception)|Failed  ' "$log" | sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: //; s/ \.+.*$//')"
    [[ -z "$first" ]] && first="$(grep -m1 -iE 'fail|timeout' "$log")"
    echo "-- $name: killed by $first [$(($(date +%s) - start)) s]"
    results+=("killed")
    details+=("$first")
    killed=$((killed + 1))
  fi
  patch -d "$src" -p1 -R --silent <"$p"
done

echo "== $killed killed, $survived survived, $stale stale, of ${#names[@]} mutants (tree $commit)"

if [[ -n "$json" ]]; then
  {
    printf '{\n  "schema": "zokio.mutants/1",\n  "commit": "%s",\n' "$commit"
    printf '  "date": "%s",\n  "test_timeout_s": %s,\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$test_timeout"
    printf '  "tests": "%s",\n' "${only_targets:-every unit test}"
    printf '  "killed": %d, "survived": %d, "stale": %d,\n' "$killed" "$survived" "$stale"
    printf '  "left_out_failing_without_mutant": ['
    for i in "${!baseline_failures[@]}"; do
      [[ $i -gt 0 ]] && printf ', '
      printf '"%s"' "${baseline_failures[$i]}"
    done
    printf '],\n  "mutants": [\n'
    for i in "${!names[@]}"; do
      sep=","
      [[ $i -eq $((${#names[@]} - 1)) ]] && sep=""
      d="${details[$i]//\\/\\\\}"
      d="${d//\"/\\\"}"
      printf '    {"name": "%s", "result": "%s", "detail": "%s"}%s\n' "${names[$i]}" "${results[$i]}" "$d" "$sep"
    done
    printf '  ]\n}\n'
  } >"$json"
  echo "== wrote $json"
fi

[[ $survived -eq 0 && $stale -eq 0 ]]
