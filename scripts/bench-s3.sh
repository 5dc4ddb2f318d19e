#!/usr/bin/env bash
# The pipeline with its warehouse on S3 (a moto server on 127.0.0.1) beside local; see --help. --record appends
# the run to benchmarks/runs.jsonl (docs/benchmarking.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"   # the benchmarks package: a folder of the clone, not installed
"$root/scripts/setup.sh" >/dev/null
exec "$root/.venv/bin/python" -m benchmarks.s3 --root "$root" "$@"
