#!/usr/bin/env bash
# The PostgreSQL server of conf/local-postgres.toml's Hive metastore (several Spark processes on one warehouse):
#   scripts/metastore.sh start|stop|status [--conf-file FILE] [--set metastore.port=5434 ...]
# start makes the server's data folder and the metastore's database on first use; needs Debian's postgresql package.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case " $* " in
  *" --conf-file "*|*" --conf-file="*) exec "$root/.venv/bin/python" -m stacktags.metastore "$@" ;;
  *) exec "$root/.venv/bin/python" -m stacktags.metastore "$@" --conf-file "$root/conf/local-postgres.toml" ;;
esac
