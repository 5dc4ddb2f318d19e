#!/usr/bin/env bash
# The tests that start no JVM (pytest -m "not jvm") under another Python, in a venv of its own (.venv-<version>)
# with the project and its extras: Glue 6.0 runs Python 3.13, EMR emr-spark-8.1.0 3.11 to 3.13. The package's tests
# (cluster_python) build for the cluster's Python whatever runs them: they run once, in the main suite.
# Usage: scripts/test-python.sh PYTHON [pytest arguments]     e.g. scripts/test-python.sh python3.13 -q
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 1 ] || { echo "usage: scripts/test-python.sh PYTHON [pytest arguments]" >&2; exit 2; }
python="$1"; shift
command -v "$python" >/dev/null || { echo "test-python: $python not found (pyenv install 3.13, or give its path)" >&2; exit 1; }
version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
venv="$root/.venv-$version"
cd "$root"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
stamp="$venv/.stacktags-setup"
want="$(sha256sum setup.py | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # one install of the project at a time: each writes lib/stacktags.egg-info (scripts/test.sh sets up lines at once)
  mkdir -p var
  flock var/.pip-install.lock "$venv/bin/python" -m pip install --quiet -e ".[spark,dev,bench,deploy]"
  echo "$want" > "$stamp"
fi
"$venv/bin/python" -c "import importlib, pkgutil, stacktags
for module in pkgutil.walk_packages(stacktags.__path__, 'stacktags.'):
    importlib.import_module(module.name)
print('every stacktags module imports under Python $version')"
exec "$venv/bin/python" -m pytest tests -n 2 --dist loadfile -m "not jvm and not cluster_python" "$@"
