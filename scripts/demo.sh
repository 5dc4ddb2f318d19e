#!/usr/bin/env bash
# The main command: set up this clone, then run the pipeline on the bundled sample (data/sample) in local mode.
# Extra arguments go to every job, e.g. scripts/demo.sh --warehouse /tmp/wh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/submit.sh" ingest --source "$root/data/sample" "$@"
"$root/scripts/submit.sh" clean "$@"
