"""The spark-submit and spark-sql command lines built from a target's conf (--dry-run; no JVM)."""

import subprocess
import zipfile

from conftest import ROOT
from stacktags import launch


def properties(path):
    return dict(line.split(" ", 1) for line in path.read_text().splitlines())


def test_submit_command_takes_jars_master_and_properties_from_the_target_conf(tmp_path):
    command = launch.submit_command(ROOT, "ingest", "local", None, ["--source", "data/sample", "--warehouse", str(tmp_path)])
    assert command[0].endswith("/bin/spark-submit")
    assert command[command.index("--master") + 1] == "local[2]"
    assert command[command.index("--packages") + 1] == "io.delta:delta-spark_4.1_2.13:4.2.0"
    assert command[command.index("--jars") + 1] == str(ROOT / "var" / "jvm" / "stacktags.jar")  # the text scanners
    assert "org.apache.hadoop:hadoop-client-api" in command[command.index("--exclude-packages") + 1].split(",")
    script = command.index(str(ROOT / "jobs" / "ingest.py"))
    assert command[script + 1:] == ["--conf-file", str(ROOT / "conf" / "local.toml"), "--source", "data/sample",
                                    "--warehouse", str(tmp_path)]
    props = properties(ROOT / command[command.index("--properties-file") + 1])
    assert props["spark.sql.warehouse.dir"] == str(tmp_path)  # the job's own override reaches the properties
    assert "spark.master" not in props and "spark.jars.packages" not in props
    assert props["spark.pyspark.python"] == str(ROOT / ".venv" / "bin" / "python")
    with zipfile.ZipFile(command[command.index("--py-files") + 1]) as archive:
        assert {"stacktags/__init__.py", "stacktags/ingest.py", "stacktags/session.py"} <= set(archive.namelist())


def test_master_option_and_standalone_target():
    command = launch.submit_command(ROOT, "ingest", "standalone", "spark://127.0.0.1:7999", [])
    assert command[command.index("--master") + 1] == "spark://127.0.0.1:7999"
    assert command[command.index("--conf-file") + 1] == str(ROOT / "conf" / "standalone.toml")


def test_sql_command_uses_the_same_catalog(tmp_path):
    command = launch.sql_command(ROOT, "local", None, ["--warehouse", str(tmp_path), "-e", "SELECT 1"])
    assert command[0].endswith("/bin/spark-sql") and command[-2:] == ["-e", "SELECT 1"]
    assert command[command.index("--database") + 1] == "stackoverflow"
    props = properties(ROOT / command[command.index("--properties-file") + 1])
    assert props["spark.hadoop.javax.jdo.option.ConnectionURL"].startswith(f"jdbc:derby:;databaseName={tmp_path}/")


def test_submit_script_dry_run_prints_the_command():
    out = subprocess.run([ROOT / "scripts" / "submit.sh", "ingest", "--dry-run", "--source", "x"],
                         capture_output=True, text=True, check=True).stdout
    assert (f"spark-submit --master 'local[2]' --jars {ROOT}/var/jvm/stacktags.jar "
            "--packages io.delta:delta-spark_4.1_2.13:4.2.0") in out
    assert out.strip().endswith("--source x")


def test_unknown_job_is_a_clear_error():
    result = subprocess.run([ROOT / "scripts" / "submit.sh", "nojob", "--dry-run"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "unknown job 'nojob'; jobs: clean, evaluate, ingest, pipeline, score, train" in result.stderr
