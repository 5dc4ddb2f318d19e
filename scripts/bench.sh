#!/usr/bin/env bash
# Benchmark the jobs on a corpus (make one with scripts/make-corpus); see --help. Records with --record BENCHMARKS.md
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" >/dev/null
exec "$root/.venv/bin/python" -m stacktags.bench --root "$root" "$@"
