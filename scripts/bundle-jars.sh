#!/usr/bin/env bash
# Copy the project's resolved jars (Delta and its dependencies) into DIR with a SHA256SUMS list, for clusters without
# internet. Then set [jars] dir = "DIR" in the target's conf file.   Usage: scripts/bundle-jars.sh DIR [--conf-file F]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/line.sh"   # --spark 3.5 first: the Spark 3.5 line
[ $# -ge 1 ] || { echo "usage: scripts/bundle-jars.sh [--spark 3.5] DIR [--conf-file conf/local.toml]" >&2; exit 2; }
dest="$(realpath -m "$1")"; shift
cd "$root"
exec "$venv/bin/python" -m stacktags.jars bundle "$dest" "$@"
