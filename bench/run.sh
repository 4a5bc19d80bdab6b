#!/usr/bin/env bash
# The benchmark, from anywhere: bench/run.sh [--quick] [--out bench/results/latest.md] [--wrk] ...
# Installs nothing: see bench/README.md for the optional load generator (wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
exec "$PYTHON" -m bench "$@"
