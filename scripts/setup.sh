#!/usr/bin/env bash
# Set up this clone on a fresh machine: .venv with the project (pinned Spark, Delta, Spark NLP) and its extras,
# stacktags.jar compiled (the text scanners), and the Maven jars resolved once into Spark's Ivy cache so that later
# runs need no network. Idempotent; when nothing changed it takes a second.
# Usage: scripts/setup.sh [EXTRAS]   (default: spark,dev,bench,deploy)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
extras="${1:-spark,dev,bench,deploy}"

command -v javac >/dev/null || { echo "setup: a Java 17 JDK is needed (apt-get install openjdk-17-jdk-headless)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "setup: Python 3.11 or newer is needed" >&2; exit 1; }

[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.stacktags-setup
want="$(sha256sum setup.py | cut -d' ' -f1) $extras"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[$extras]"
  echo "$want" > "$stamp"
fi
.venv/bin/python -m stacktags.jars build --conf-file conf/local.toml >/dev/null   # var/jvm/stacktags.jar
.venv/bin/python -m stacktags.jars resolve --conf-file conf/local.toml
.venv/bin/python -m stacktags.jars resolve --conf-file conf/local-s3.toml   # with the S3 connector
.venv/bin/python -m stacktags.jars resolve --conf-file conf/local-postgres.toml   # with PostgreSQL's JDBC driver
.venv/bin/python -m stacktags.classarchive --conf-file conf/local.toml
