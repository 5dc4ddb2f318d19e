#!/usr/bin/env bash
# Set up (if needed), check the code with ruff (lint and format, configured in pyproject.toml), then run the tests.
# Extra arguments go to pytest, e.g. scripts/test.sh -k ingest
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet . || { echo "test: ruff format would change the files above (run .venv/bin/ruff format .)" >&2; exit 1; }
exec .venv/bin/python -m pytest tests "$@"
