#!/usr/bin/env bash
# Package the project for the cloud targets into var/dist/<version>/ (lib/stacktags/package.py; see --help):
# the wheel, the job files, Glue's entry script, the conf files, stacktags.jar and EMR's packed Python environment,
# with SHA256SUMS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" >/dev/null
exec "$root/.venv/bin/python" -m stacktags.package --conf-file "$root/conf/glue.toml" "$@"   # the same package serves every cloud target
