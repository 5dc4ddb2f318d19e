#!/usr/bin/env bash
# The main command: set up this clone, then run the whole pipeline (ingest, clean, train, evaluate, score) on the
# bundled sample (data/sample) in local mode.
# Extra arguments go to every job, e.g. scripts/demo.sh --warehouse /tmp/wh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/submit.sh" pipeline --source "$root/data/sample" "$@"
