#!/usr/bin/env bash
# Refresh the dashboard's chart library from npm: bifrost_proxy/ui/static/vendor/refresh-uplot.sh [VERSION]
# Fetches the uplot package with `npm pack` (the registry's tarball, checked against its published integrity),
# copies the two files the page loads and the license, and records the version. Nothing is built.
set -euo pipefail
VERSION="${1:-$(cat "$(dirname "$0")/UPLOT_VERSION")}"
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "uplot@$VERSION" >/dev/null && tar xzf "uplot-$VERSION.tgz")
install -m 644 "$WORK/package/dist/uPlot.iife.min.js" "$HERE/uPlot.iife.min.js"
install -m 644 "$WORK/package/dist/uPlot.min.css" "$HERE/uPlot.min.css"
install -m 644 "$WORK/package/LICENSE" "$HERE/uPlot.LICENSE"
echo "$VERSION" > "$HERE/UPLOT_VERSION"
echo "uPlot $VERSION in $HERE; run the dashboard's browser test: python -m pytest tests/functional/test_dashboard_browser.py"
