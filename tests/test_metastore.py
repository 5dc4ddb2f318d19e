"""The PostgreSQL metastore (conf/local-postgres.toml, scripts/metastore.sh) with several Spark processes on one
warehouse, as users run them: an ingest killed with kill -9 and run again, then two jobs writing different tables and
a spark-sql query that answers while they write, all at once. The server is Debian's PostgreSQL, started by the script
on a free port of 127.0.0.1 and stopped after."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import conftest
import pytest
from conftest import LINE, ROOT, SAMPLE, SHORT_JVM, killed_when
from deltalake import DeltaTable
from test_processes import free_port

from stacktags import config, metastore

pytestmark = pytest.mark.jvm  # the jobs run in processes of their own

CONF = conftest.CONF / "local-postgres.toml"


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    """--set options for a server of its own: a free port, a data folder the server's user can reach (PostgreSQL
    refuses root, so as root it runs as `postgres`, which cannot enter pytest's private temporary folders)."""
    data = Path(tempfile.mkdtemp(prefix="stacktags-metastore-"))  # given to the server's user by the script
    warehouse = tmp_path_factory.mktemp("warehouse")
    options = [
        "--set",
        f"metastore.port={free_port()}",
        "--set",
        f'metastore.data_dir="{data}"',
        "--warehouse",
        str(warehouse),
    ]
    started = script("metastore.sh", "start", *options)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("running on 127.0.0.1:")
    yield [*options, *SHORT_JVM]
    stopped = script("metastore.sh", "stop", *options)
    shutil.rmtree(data, ignore_errors=True)
    assert stopped.stdout.startswith("stopped"), stopped.stdout + stopped.stderr


def script(name: str, *arguments: str, background: bool = False):
    command = [str(ROOT / "scripts" / name), "--spark", LINE, *arguments]
    if background:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def submit(job: str, settings: list[str], *more: str, background: bool = False):
    return script("submit.sh", job, "--target", "local-postgres", *settings, *more, background=background)


def failure(stderr: str) -> str:
    """A failed job's error lines, without the stack frames around them."""
    return "\n".join(line for line in stderr.splitlines() if "Exception" in line or "error" in line)[-3000:]


def finished(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def test_two_jobs_write_at_once_and_spark_sql_answers_while_they_write(settings):
    warehouse = settings[settings.index("--warehouse") + 1]
    # an ingest killed with kill -9 while it writes its first table (its data written, not yet committed), then run
    # again: the exact counts, as from one uninterrupted run
    ingest = [str(ROOT / "scripts" / "submit.sh"), "--spark", LINE, "ingest", "--target", "local-postgres", *settings]
    questions = Path(warehouse) / "stackoverflow.db" / "questions_raw"
    killed_when([*ingest, "--source", str(SAMPLE)], lambda: any(questions.glob("*.parquet")))
    status, out, err = finished(submit("ingest", settings, "--source", str(SAMPLE), background=True))
    assert status == 0, failure(err)
    assert "total               9663      9663         0" in out
    assert "files: 0 loaded" not in out  # the killed run had not recorded them all: loaded again

    # at once: clean writes questions_clean, ingest writes another database's tables, and a new spark-sql process
    # queries the first ingest's table; with the embedded Derby metastore, only the first of them could start
    clean = submit("clean", settings, background=True)
    ingest = submit("ingest", settings, "--database", "second", "--source", str(SAMPLE), background=True)
    query = script("spark-sql", "--target", "local-postgres", *settings, "-e", "SELECT count(*) FROM questions_raw")
    jobs_were_running = clean.poll() is None and ingest.poll() is None
    assert query.returncode == 0, failure(query.stderr)
    assert query.stdout.split() == ["count(1)", "2000"]
    assert jobs_were_running, "a job ended before the query: the test proved nothing, give the jobs more to do"
    for process, line in ((clean, "questions_clean: 2000 rows"), (ingest, "total               9663      9663")):
        status, out, err = finished(process)
        assert status == 0, failure(err)
        assert line in out
    jobs = {
        database: sorted(
            DeltaTable(f"{warehouse}/{database}.db/job_runs").to_pyarrow_table(columns=["job", "status"]).to_pylist(),
            key=str,
        )
        for database in ("stackoverflow", "second")
    }
    assert jobs == {
        "stackoverflow": [{"job": "clean", "status": "succeeded"}, {"job": "ingest", "status": "succeeded"}],
        "second": [{"job": "ingest", "status": "succeeded"}],
    }


def test_the_conf_names_the_jdbc_driver_and_no_password():
    cfg = config.load(CONF)
    props = config.spark_properties(cfg)
    database = cfg.require("metastore", "database")  # each runtime line its own
    assert props["spark.hadoop.javax.jdo.option.ConnectionURL"] == f"jdbc:postgresql://127.0.0.1:5433/{database}"
    assert "org.postgresql_postgresql-" in props["spark.driver.extraClassPath"]
    assert not [key for key in props if "password" in key.lower()]


@pytest.mark.parametrize("name", ["Metastore", "a-b", "x'; DROP DATABASE y; --", "db?user=admin"])
def test_metastore_names_are_plain_identifiers(name):
    cfg = config.load(CONF, settings=[f'metastore.database="{name}"'])
    with pytest.raises(config.ConfigError, match="lower-case letters, digits and _ only"):
        config.spark_properties(cfg)
    with pytest.raises(config.ConfigError, match="lower-case letters"):
        metastore.settings(cfg)


def test_a_conf_without_the_postgresql_metastore_has_no_server_to_run():
    with pytest.raises(metastore.MetastoreError, match='metastore is not "postgresql"'):
        metastore.status(config.load(ROOT / "conf" / "local.toml"))
