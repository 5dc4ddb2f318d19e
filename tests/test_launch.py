"""The spark-submit and spark-sql command lines built from a target's conf (--dry-run; no JVM)."""

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from conftest import CONF, ROOT, script

from stacktags import config, launch

LOCAL = config.load(CONF / "local.toml")  # the local target of the tests' runtime line


def properties(path):
    return dict(line.split(" ", 1) for line in path.read_text().splitlines())


def test_submit_command_takes_jars_master_and_properties_from_the_target_conf(tmp_path):
    unresolved = ["--set", f"jars.resolved={tmp_path / 'none.json'}"]  # no record of resolved jars: Maven packages
    command = launch.submit_command(
        ROOT, "ingest", "local", None, ["--source", "data/sample", "--warehouse", str(tmp_path), *unresolved]
    )
    assert command[0].endswith("/bin/spark-submit")
    assert command[command.index("--master") + 1] == "local[2]"
    assert command[command.index("--packages") + 1] == ",".join(LOCAL.get("jars", "packages"))
    assert command[command.index("--jars") + 1] == LOCAL.require("jars", "project")  # the text scanners
    assert "org.apache.hadoop:hadoop-client-api" in command[command.index("--exclude-packages") + 1].split(",")
    script = command.index(str(ROOT / "jobs" / "ingest.py"))
    assert command[script + 1 :] == [
        "--conf-file",
        str(CONF / "local.toml"),
        "--source",
        "data/sample",
        "--warehouse",
        str(tmp_path),
        *unresolved,
    ]
    props = properties(ROOT / command[command.index("--properties-file") + 1])
    assert props["spark.sql.warehouse.dir"] == str(tmp_path)  # the job's own override reaches the properties
    assert "spark.master" not in props and "spark.jars.packages" not in props
    assert props["spark.pyspark.python"] == LOCAL.get("submit", "python")
    with zipfile.ZipFile(command[command.index("--py-files") + 1]) as archive:
        assert {"stacktags/__init__.py", "stacktags/ingest.py", "stacktags/session.py"} <= set(archive.namelist())


def test_submits_at_once_never_share_a_file_that_differs(tmp_path):
    """Two jobs submitted together (or the same job with other settings) read their own properties file; the same
    settings and the same code give the same files, and a submit file unused for a week is removed."""

    def files(warehouse):
        command = launch.submit_command(ROOT, "clean", "local", None, ["--warehouse", str(warehouse)])
        return [Path(command[command.index(option) + 1]) for option in ("--properties-file", "--py-files")]

    (props_a, zip_a), (props_b, zip_b) = files(tmp_path / "a"), files(tmp_path / "b")
    assert props_a != props_b and zip_a == zip_b
    assert properties(props_a)["spark.sql.warehouse.dir"] == str(tmp_path / "a")
    assert properties(props_b)["spark.sql.warehouse.dir"] == str(tmp_path / "b")
    assert files(tmp_path / "a") == [props_a, zip_a]
    week_old = time.time() - launch.SUBMIT_FILES_KEPT_SECONDS - 60
    os.utime(props_b, (week_old, week_old))
    files(tmp_path / "a")
    assert props_a.is_file() and not props_b.exists()


def test_jars_resolved_at_setup_go_with_jars_instead_of_packages(tmp_path):
    """A record of the packages' local jar files (scripts/setup.sh) spares each job Maven's resolution: one per set
    of packages, so that text.engine = "spark-nlp" (Spark NLP's jar added) finds its own. A record made for other
    packages, or naming a jar that is gone, is ignored."""
    jars = [tmp_path / "delta-spark.jar", tmp_path / "delta-storage.jar"]
    nlp_jars = [*jars, tmp_path / "spark-nlp.jar"]
    for jar in nlp_jars:
        jar.write_bytes(b"PK")
    record = tmp_path / "resolved.json"
    packages, exclude = config.jar_packages(LOCAL)
    nlp_packages, nlp_exclude = config.jar_packages(
        config.load(CONF / "local.toml", settings=["text.engine=spark-nlp"])
    )
    assert nlp_packages[:-1] == packages and "spark-nlp" in nlp_packages[-1] and set(exclude) < set(nlp_exclude)

    def jar_options(resolutions, *settings):
        recorded = [{"packages": p, "exclude": e, "jars": list(map(str, j))} for p, e, j in resolutions]
        record.write_text(json.dumps({"resolutions": recorded}))
        command = launch.submit_command(ROOT, "score", "local", None, ["--set", f"jars.resolved={record}", *settings])
        return {option: command[command.index(option) + 1] for option in ("--jars", "--packages") if option in command}

    project = LOCAL.require("jars", "project")
    both = [(packages, exclude, jars), (nlp_packages, nlp_exclude, nlp_jars)]
    assert jar_options(both) == {"--jars": ",".join([project, *map(str, jars)])}
    assert jar_options(both, "--set", "text.engine=spark-nlp") == {"--jars": ",".join([project, *map(str, nlp_jars)])}
    assert "--packages" in jar_options([(["io.delta:delta-spark_4.1_2.13:4.1.0"], exclude, jars)])  # other packages
    assert "--packages" in jar_options(both[1:])  # only Spark NLP's set recorded
    jars[1].unlink()
    assert "--packages" in jar_options(both)


def test_master_option_and_standalone_target():
    command = launch.submit_command(ROOT, "ingest", "standalone", "spark://127.0.0.1:7999", [])
    assert command[command.index("--master") + 1] == "spark://127.0.0.1:7999"
    assert command[command.index("--conf-file") + 1] == str(CONF / "standalone.toml")


def test_sql_command_uses_the_same_catalog(tmp_path):
    command = launch.sql_command(ROOT, "local", None, ["--warehouse", str(tmp_path), "-e", "SELECT 1"])
    assert command[0].endswith("/bin/spark-sql") and command[-2:] == ["-e", "SELECT 1"]
    assert command[command.index("--database") + 1] == "stackoverflow"
    props = properties(ROOT / command[command.index("--properties-file") + 1])
    assert props["spark.hadoop.javax.jdo.option.ConnectionURL"].startswith(f"jdbc:derby:;databaseName={tmp_path}/")


def test_submit_script_dry_run_prints_the_command():
    out = subprocess.run(
        script("submit.sh", "ingest", "--dry-run", "--source", "x"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"spark-submit --master 'local[2]' --jars {LOCAL.require('jars', 'project')}," in out  # + resolved jars
    delta = LOCAL.get("jars", "packages")[0].split(":")  # as Ivy names its file: io.delta_delta-spark_..._V.jar
    assert f"{delta[0]}_{delta[1]}-{delta[2]}.jar" in out
    assert out.strip().endswith("--source x")


def test_unknown_job_is_a_clear_error():
    result = subprocess.run(script("submit.sh", "nojob", "--dry-run"), capture_output=True, text=True)
    assert result.returncode == 2
    jobs = "clean, evaluate, ingest, monitor, pipeline, refresh, registry, score, train"
    assert result.stderr == f"error: unknown job 'nojob'; jobs: {jobs}\n"


def test_a_misspelt_setting_stops_a_job_at_start_with_one_line_and_a_suggestion():
    for command in (
        script("submit.sh", "train", "--set", "train.num_tagz=5"),
        [sys.executable, ROOT / "jobs" / "train.py", "--set", "train.num_tagz=5"],
    ):
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == (
            "error: --set train.num_tagz=5: unknown setting train.num_tagz; did you mean train.num_tags?\n"
        )
    verbose = subprocess.run(
        [sys.executable, ROOT / "jobs" / "train.py", "--verbose", "--set", "train.num_tagz=5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verbose.returncode == 2 and "Traceback (most recent call last)" in verbose.stderr


def test_the_jvms_start_notice_is_dropped_and_everything_else_passes(tmp_path, capfd):
    script = tmp_path / "talk.sh"
    script.write_text(
        "#!/bin/sh\necho out\necho 'WARNING: Using incubator modules: jdk.incubator.vector' >&2\n"
        "echo 'WARNING: something else' >&2\nexit 3\n"
    )
    script.chmod(0o755)
    assert launch.run_quietly([str(script)]) == 3
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("out\n", "WARNING: something else\n")
    script.write_text("#!/bin/sh\necho 'a first line' >&2\nprintf 'spark-sql> ' >&2\n")  # a prompt: no line end
    assert launch.run_quietly([str(script)]) == 0
    assert capfd.readouterr().err == "a first line\nspark-sql> "
