#!/usr/bin/env bash
# The text engines side by side (native and spark-nlp): quality, clean and score speed; see --help.
# --record appends the run to benchmarks/runs.jsonl (docs/benchmarking.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/line.sh"   # --spark 3.5 first: the Spark 3.5 line
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"   # the benchmarks package: a folder of the clone, not installed
"$root/scripts/setup.sh" "${line_option[@]}" >/dev/null
exec "$venv/bin/python" -m benchmarks.engines --root "$root" "$@"
