#!/usr/bin/env bash
# The main command: set up this clone, then run the whole pipeline (ingest, clean, train, evaluate, score) on the
# bundled sample (data/sample) in local mode.
# Extra arguments go to every job, e.g. scripts/demo.sh --warehouse /tmp/wh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/line.sh"   # --spark 3.5 first: the Spark 3.5 line
"$root/scripts/setup.sh" "${line_option[@]}"
"$root/scripts/submit.sh" "${line_option[@]}" pipeline --source "$root/data/sample" "$@"
