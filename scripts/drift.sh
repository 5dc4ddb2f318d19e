#!/usr/bin/env bash
# The monitor's figures on batches with and without drift (benchmarks/drift.py); see --help. --record appends
# the run to benchmarks/runs.jsonl (docs/benchmarking.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"   # the benchmarks package: a folder of the clone, not installed
"$root/scripts/setup.sh" >/dev/null
exec "$root/.venv/bin/python" -m benchmarks.drift --root "$root" "$@"
