#!/usr/bin/env bash
# Package the project for the cloud targets into var/dist/<version>/ (lib/stacktags/package.py; see --help):
# the wheel, the job files, Glue's entry script, the conf files, stacktags.jar and EMR's packed Python environment,
# with SHA256SUMS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/line.sh"   # --spark 3.5 first: the Spark 3.5 line
"$root/scripts/setup.sh" "${line_option[@]}" >/dev/null
exec "$venv/bin/python" -m stacktags.package --conf-file "$conf_dir/glue.toml" "$@"   # the same package serves every cloud target
