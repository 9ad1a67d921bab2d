#!/usr/bin/env bash
# Renders a zokio-soak report.html in headless Chromium and checks, from the DOM, that every
# chart was drawn (the page sets data-charts-rendered="N" on <body> once Chart.js has drawn N).
#
#   html_test.sh REPORT.html EXPECTED_CHARTS
set -u
report=$1
expected=$2
if [ ! -s "$report" ]; then
  echo "html_test: $report is missing or empty" >&2
  exit 1
fi
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "html_test: chromium not found (Debian: chromium)" >&2
  exit 1
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
dom=$("$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$profile" \
  --virtual-time-budget=5000 --dump-dom "file://$(realpath "$report")" 2>/dev/null)
canvases=$(grep -o '<canvas id="chart[0-9]*"' <<<"$dom" | wc -l)
if ! grep -q "data-charts-rendered=\"$expected\"" <<<"$dom"; then
  echo "html_test: $report: the DOM does not say $expected charts were drawn ($canvases canvases)" >&2
  exit 1
fi
if [ "$canvases" -ne "$expected" ]; then
  echo "html_test: $report: $canvases canvases, expected $expected" >&2
  exit 1
fi
echo "html_test: ok ($expected charts drawn)"
