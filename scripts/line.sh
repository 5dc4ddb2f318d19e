# Sourced by the scripts, after they set $root: the runtime line they run on (lib/stacktags/lines.py).
# `--spark 3.5` as a script's first option picks the Spark 3.5 line (AWS Glue 5.1, EMR 7.x): its venv .venv-spark3.5,
# and conf/spark3.5/ as the folder of the targets' conf files. Without it, the 4.1 line: .venv and conf/.
spark_line=4.1
if [ "${1:-}" = "--spark" ]; then
  spark_line="${2:-}"
  shift 2 || shift $#
fi
case "$spark_line" in
  4.1) venv="$root/.venv" conf_dir="$root/conf" ;;
  3.5) venv="$root/.venv-spark3.5" conf_dir="$root/conf/spark3.5" ;;
  *) echo "--spark ${spark_line:-(nothing)}: the runtime lines are 4.1 (the default) and 3.5" >&2; exit 2 ;;
esac
line_option=(--spark "$spark_line")
