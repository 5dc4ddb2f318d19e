#!/usr/bin/env bash
# Submit a job with spark-submit:  scripts/submit.sh JOB [--target local|standalone] [--master URL] [--dry-run] [job options]
# The jars, Spark properties and a --py-files zip of lib/stacktags come from conf/<target>.toml.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$root/.venv/bin/python" -m stacktags.launch --root "$root" submit "$@"
