#!/usr/bin/env bash
# The tests. Without --spark: both runtime lines. It sets both up (if needed), checks the code with ruff (lint and
# format, configured in pyproject.toml) and the infra templates, runs the tests on the 4.1 line and on the 3.5 line
# and, at the same time, those that start no JVM again under Python 3.13, which AWS Glue 6.0 runs
# (scripts/test-python.sh; pyenv's 3.13); their output one after the other.
# With --spark 4.1 or --spark 3.5 first: that line's tests only.
# Extra arguments go to pytest, e.g. scripts/test.sh -k ingest, scripts/test.sh --spark 3.5 -k ingest
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# two workers a line, a test file each at a time (its module fixtures stay in one process; docs/architecture.md)
pytest_line() { "$1/bin/python" -m pytest tests -n 2 --dist loadfile "${@:2}"; }
if [ "${1:-}" = "--spark" ]; then
  source scripts/line.sh
  scripts/setup.sh "${line_option[@]}"
  pytest_line "$venv" "$@"
  exit
fi
# Both lines' set-ups and the infra templates' checks at once, so that downloads, pip and JVM runs overlap; their
# outputs one after the other once all have ended.
steps=("scripts/setup.sh" "scripts/setup.sh --spark 3.5" "scripts/lint-infra.sh")   # lint-infra: infra/ (.venv-infra)
pids=(); logs=()
for step in "${steps[@]}"; do
  logs+=("$(mktemp)"); $step >"${logs[-1]}" 2>&1 & pids+=($!)
done
failed=()
for i in "${!steps[@]}"; do wait "${pids[$i]}" || failed+=("${steps[$i]}"); done
cat "${logs[@]}"; rm -f "${logs[@]}"
[ "${#failed[@]}" -eq 0 ] || { printf 'test: %s failed\n' "${failed[@]}" >&2; exit 1; }
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet . || { echo "test: ruff format would change the files above (run .venv/bin/ruff format .)" >&2; exit 1; }
python313="$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.13*/bin/python3.13 2>/dev/null | tail -1)"
[ -n "$python313" ] || { echo "test: no Python 3.13 under pyenv (pyenv install 3.13): Glue 6.0's Python is not tested" >&2; exit 1; }
log35="$(mktemp)"; log313="$(mktemp)"
pytest_line .venv-spark3.5 "$@" >"$log35" 2>&1 &
pid35=$!
scripts/test-python.sh "$python313" "$@" >"$log313" 2>&1 &   # no JVM: little CPU beside the lines' tests
pid313=$!
status41=0; pytest_line .venv "$@" || status41=$?
status35=0; wait "$pid35" || status35=$?
status313=0; wait "$pid313" || status313=$?
echo "--- the Spark 3.5 line:"; cat "$log35"
echo "--- Python 3.13, the tests that start no JVM:"; cat "$log313"
rm -f "$log35" "$log313"
[ "$status41" -eq 0 ] || { echo "test: the 4.1 line's tests failed" >&2; exit "$status41"; }
[ "$status35" -eq 0 ] || { echo "test: the 3.5 line's tests failed" >&2; exit "$status35"; }
[ "$status313" -eq 0 ] || { echo "test: the tests under Python 3.13 failed" >&2; exit "$status313"; }
