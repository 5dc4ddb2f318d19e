#!/usr/bin/env bash
# Set up this clone on a fresh machine: a venv with the project (pinned Spark, Delta, Spark NLP) and its extras,
# stacktags.jar compiled (the text scanners), and the Maven jars resolved once into Spark's Ivy cache so that later
# runs need no network. Idempotent; when nothing changed it takes a second.
# Usage: scripts/setup.sh [--spark 3.5] [EXTRAS]   (default extras: the line's Spark, then dev,bench,deploy)
#   the 4.1 line (default): .venv, var/jvm;   --spark 3.5: .venv-spark3.5, var/spark3.5/jvm (lib/stacktags/lines.py)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/line.sh"
cd "$root"
spark_extra="$([ "$spark_line" = 4.1 ] && echo spark || echo spark35)"
extras="${1:-$spark_extra,dev,bench,deploy}"

command -v javac >/dev/null || { echo "setup: a Java 17 JDK is needed (apt-get install openjdk-17-jdk-headless)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "setup: Python 3.11 or newer is needed" >&2; exit 1; }

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp="$venv/.stacktags-setup"
want="$(sha256sum setup.py | cut -d' ' -f1) $extras"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # one install of the project at a time: each writes lib/stacktags.egg-info (scripts/test.sh sets up lines at once)
  mkdir -p var
  flock var/.pip-install.lock "$venv/bin/python" -m pip install --quiet -e ".[$extras]"
  echo "$want" > "$stamp"
fi
python="$venv/bin/python"
"$python" -m stacktags.jars build --conf-file "$conf_dir/local.toml" >/dev/null   # the line's stacktags.jar
for target in local local-s3 local-postgres; do   # local-s3: with the S3 connector; local-postgres: PostgreSQL's JDBC driver
  [ ! -e "$conf_dir/$target.toml" ] || "$python" -m stacktags.jars resolve --conf-file "$conf_dir/$target.toml"
done
if [ "$spark_line" = 3.5 ]; then   # and with Spark NLP's jar, for text.engine = "spark-nlp" (4.1's is not served here)
  "$python" -m stacktags.jars resolve --conf-file "$conf_dir/local.toml" --set text.engine=spark-nlp
fi
"$python" -m stacktags.classarchive --conf-file "$conf_dir/local.toml"
