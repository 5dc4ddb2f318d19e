#!/usr/bin/env bash
# Submit a job:  scripts/submit.sh JOB [--target local|local-s3|standalone|glue|emr|emr-serverless] [--master URL]
#                                      [--dry-run] [job options]
# local, local-s3, standalone: spark-submit with the jars, Spark properties and a --py-files zip of lib/stacktags that
# conf/<target>.toml gives; glue, emr, emr-serverless: a run started through AWS's API (lib/stacktags/cloud).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/line.sh"   # --spark 3.5 first: the Spark 3.5 line
exec "$venv/bin/python" -m stacktags.launch --root "$root" submit "$@"
