#!/usr/bin/env bash
# The PostgreSQL server of conf/local-postgres.toml's Hive metastore (several Spark processes on one warehouse):
#   scripts/metastore.sh start|stop|status [--conf-file FILE] [--set metastore.port=5434 ...]
# start makes the server's data folder and the metastore's database on first use; needs Debian's postgresql package.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/line.sh"   # --spark 3.5 first: the Spark 3.5 line
case " $* " in
  *" --conf-file "*|*" --conf-file="*) exec "$venv/bin/python" -m stacktags.metastore "$@" ;;
  *) exec "$venv/bin/python" -m stacktags.metastore "$@" --conf-file "$conf_dir/local-postgres.toml" ;;
esac
