#!/usr/bin/env bash
# Make this commit's package the version the AWS state machine (infra/stacktags.yaml) runs:
#   scripts/publish.sh --target glue [--dry-run] [--set section.key=value ...]
# uploads var/dist/<version> (scripts/package.sh) as scripts/submit.sh does, then writes the Glue arguments of each of
# the machine's jobs (ingest, clean, train, evaluate, score, monitor), with the --set settings, to
# <[aws] artifacts>/state-machine/arguments.json. --dry-run prints that document and calls nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/line.sh"   # --spark 3.5 first: the Spark 3.5 line
exec "$venv/bin/python" -m stacktags.launch --root "$root" publish "$@"
