#!/usr/bin/env bash
# Set up (if needed), check the code with ruff (lint and format, configured in pyproject.toml), run the tests, then
# run those that start no JVM again under Python 3.13, which AWS Glue 6.0 runs (scripts/test-python.sh; pyenv's 3.13).
# Extra arguments go to pytest, e.g. scripts/test.sh -k ingest
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet . || { echo "test: ruff format would change the files above (run .venv/bin/ruff format .)" >&2; exit 1; }
"$root/scripts/lint-infra.sh"   # the CloudFormation templates (infra/): cfn-lint and checkov, in .venv-infra
# two workers, a test file each at a time (its module fixtures stay in one process): most tests wait on a JVM's
# scheduling, processes starting or files landing rather than on both cores (docs/architecture.md)
.venv/bin/python -m pytest tests -n 2 --dist loadfile "$@"
python313="$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.13*/bin/python3.13 2>/dev/null | tail -1)"
[ -n "$python313" ] || { echo "test: no Python 3.13 under pyenv (pyenv install 3.13): Glue 6.0's Python is not tested" >&2; exit 1; }
exec "$root/scripts/test-python.sh" "$python313" "$@"
