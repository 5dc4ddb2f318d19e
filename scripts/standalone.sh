#!/usr/bin/env bash
# A Spark standalone cluster on this machine, the one conf/standalone.toml submits to: a master on 127.0.0.1:7077
# and workers with 1 core each, from the project's pyspark. Logs and work folders under var/standalone.
#   scripts/standalone.sh start [WORKERS] [MEMORY]   # default: 2 workers with 5g each
#   scripts/standalone.sh stop
# Then: scripts/submit.sh JOB --target standalone ...   or   scripts/bench.sh --target standalone ...
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/line.sh"   # --spark 3.5 first: the Spark 3.5 line
"$root/scripts/setup.sh" "${line_option[@]}" >/dev/null
SPARK_HOME="$("$venv/bin/python" -c 'from pyspark.find_spark_home import _find_spark_home; print(_find_spark_home())')"
export SPARK_HOME PATH="$venv/bin:$PATH"  # spark-class finds Spark through the venv's python
run="$root/var/standalone"

stop() {
  for pid_file in "$run"/*.pid; do
    [ -e "$pid_file" ] || continue
    kill "$(cat "$pid_file")" 2>/dev/null || true
    rm -f "$pid_file"
  done
}

case "${1:-}" in
  start)
    workers="${2:-2}"
    memory="${3:-5g}"
    [ ! -e "$run/master.pid" ] || { echo "standalone: already started ($run/master.pid); stop it first" >&2; exit 1; }
    mkdir -p "$run"
    nohup spark-class org.apache.spark.deploy.master.Master --host 127.0.0.1 --port 7077 --webui-port 8080 \
      >"$run/master.log" 2>&1 &
    echo $! >"$run/master.pid"
    for i in $(seq 1 "$workers"); do
      nohup spark-class org.apache.spark.deploy.worker.Worker spark://127.0.0.1:7077 --host 127.0.0.1 --cores 1 \
        --memory "$memory" --work-dir "$run/work$i" --webui-port $((8080 + i)) >"$run/worker$i.log" 2>&1 &
      echo $! >"$run/worker$i.pid"
    done
    for _ in $(seq 1 60); do  # the workers register with the master within seconds
      registered="$(grep -c "Registering worker" "$run/master.log" 2>/dev/null || true)"
      if [ "${registered:-0}" -ge "$workers" ]; then
        echo "standalone: master spark://127.0.0.1:7077 with $workers workers (1 core, $memory each); logs in $run"
        exit 0
      fi
      sleep 1
    done
    echo "standalone: the workers did not register within 60 s; see $run/*.log" >&2
    stop
    exit 1
    ;;
  stop)
    stop
    echo "standalone: stopped"
    ;;
  *)
    echo "usage: scripts/standalone.sh start [WORKERS] [MEMORY] | stop" >&2
    exit 2
    ;;
esac
