#!/usr/bin/env bash
# Model quality on a real StackSample-format folder, beside the seed's scikit-learn approach; see --help.
# Records with --record BENCHMARKS.md
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" >/dev/null
exec "$root/.venv/bin/python" -m stacktags.quality --root "$root" "$@"
