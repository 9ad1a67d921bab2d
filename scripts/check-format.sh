#!/usr/bin/env bash
# Checks (default) or fixes (--fix) the formatting of the project's C++ sources with clang-format
# and the repository's .clang-format.
#
# Files: *.cpp and *.hpp known to git (tracked, plus new files not ignored by .gitignore) when run
# in a git checkout; otherwise every *.cpp/*.hpp outside build*/, target/, node_modules/ and .git/.
#
#   scripts/check-format.sh          exit 0 when all files are formatted, 1 when one is not
#   scripts/check-format.sh --fix    reformat the files in place
#
# CLANG_FORMAT selects the binary (default: clang-format, then clang-format-14). Exit 2 when
# clang-format is missing or the arguments are wrong.
set -euo pipefail

mode=check
case "${1:-}" in
  "") ;;
  --fix) mode=fix ;;
  -h | --help)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "check-format: unknown argument: $1 (use --fix or nothing)" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

clang_format=${CLANG_FORMAT:-}
if [[ -z $clang_format ]]; then
  for c in clang-format clang-format-14; do
    if command -v "$c" >/dev/null; then
      clang_format=$c
      break
    fi
  done
fi
if [[ -z $clang_format ]] || ! command -v "$clang_format" >/dev/null; then
  echo "check-format: clang-format not found (apt-get install clang-format, or set CLANG_FORMAT)" >&2
  exit 2
fi

files=()
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    [[ -f $f ]] && files+=("$f") # skip files deleted from the work tree but still in the index
  done < <(git ls-files -z --cached --others --exclude-standard -- '*.cpp' '*.hpp' | sort -zu)
else
  while IFS= read -r -d '' f; do
    files+=("${f#./}")
  done < <(find . \( -name '.git' -o -name 'build*' -o -name target -o -name node_modules \) \
    -prune -o -type f \( -name '*.cpp' -o -name '*.hpp' \) -print0 | sort -z)
fi

if ((${#files[@]} == 0)); then
  echo "check-format: no *.cpp/*.hpp files found"
  exit 0
fi

if [[ $mode == fix ]]; then
  "$clang_format" -i --style=file -- "${files[@]}"
  echo "check-format: formatted ${#files[@]} file(s) with $("$clang_format" --version)"
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  if ! "$clang_format" --dry-run -Werror --style=file -- "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done

if ((${#bad[@]} > 0)); then
  echo "check-format: ${#bad[@]} of ${#files[@]} file(s) not formatted ($("$clang_format" --version)):"
  for f in "${bad[@]}"; do
    echo "  $f"
  done
  echo "first differences:"
  "$clang_format" --dry-run -Werror --style=file -- "${bad[@]:0:3}" 2>&1 | head -n 40 || true
  echo "fix with: make format   (or scripts/check-format.sh --fix)"
  exit 1
fi
echo "check-format: ${#files[@]} file(s) formatted"
