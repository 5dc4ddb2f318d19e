"""One SparkSession for the whole test run (local[2], few shuffle partitions, UI off) on a temporary warehouse."""

import csv
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from stacktags import config
from stacktags.lines import conf_dir, running_line
from stacktags.model import models_dir
from stacktags.session import build_session
from stacktags.tables import table_version

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"  # real dev data beside a clone, when there is one
LINE = running_line()  # the runtime line of the venv running the tests (scripts/test.sh --spark 3.5)
CONF = conf_dir(ROOT)  # its conf files: the local target's starts the tests' SparkSession
# Spark NLP's jar for this line is served by Maven Central here (the 4.1 line's spark-nlp_2.13:7.0.0 is not): the
# tests' SparkSession then has it, and the tests of text.engine = "spark-nlp" run
SPARK_NLP = LINE == "3.5"

# One reg_param, not the conf's list: the tests that train would each fit the list's three values, minutes of CI in
# all; test_model_pipeline trains with the conf's list itself.
TEST_SETTINGS = ["spark.spark.sql.shuffle.partitions=2", "spark.spark.driver.memory=3g", "train.reg_param=3e-7"]

# For the jobs the tests start in processes of their own (scripts/submit.sh, spark-sql): their JVM compiles with C1
# only. A job on the sample is over in seconds, before C2's compilations pay for themselves: C1 alone takes about a
# third less CPU for such a run (an ingest of the sample: 38 s instead of 53 s), and CI runs many of them. The tests'
# own SparkSession, which runs for the whole suite, keeps both compilers.
SHORT_JVM = [
    "--set",
    "spark.spark.driver.extraJavaOptions="
    + config.load(CONF / "local.toml").section("spark")["spark.driver.extraJavaOptions"]
    + " -XX:TieredStopAtLevel=1",
]

csv.field_size_limit(sys.maxsize)


# The files whose tests take longest (minutes each, pytest --durations), longest first: collected first, so that
# scripts/test.sh's two workers (pytest-xdist, a file at a time, in collection order) start them early and finish
# together.
SLOWEST_FILES = [
    "test_model_pipeline.py",
    "test_monitor.py",
    "test_s3.py",
    "test_multilabel.py",
    "test_metastore.py",
    "test_refresh.py",
    "test_registry.py",
    "test_ingest.py",
    "test_clean.py",
    "test_processes.py",
]


# The files whose module fixtures start from the sample's trained model (sample_model): one worker runs them all, so
# the sample is ingested, cleaned and trained once per line instead of once per file.
SAMPLE_MODEL_FILES = {"test_model_pipeline.py", "test_monitor.py", "test_registry.py"}


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: a run without xdist (-p no:xdist) has none
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's --dist loadfile (a file at a time on one worker), with SAMPLE_MODEL_FILES as one unit."""
    from xdist.scheduler import LoadFileScheduling

    class SampleModelScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "the sample's model" if Path(scope).name in SAMPLE_MODEL_FILES else scope

    return SampleModelScheduling(config, log)


def pytest_collection_modifyitems(items):
    """Mark `jvm` the tests that start a JVM: those of the SparkSession fixture, and whole modules that say so
    (pytestmark). scripts/test-python.sh runs the others under another Python: pytest -m "not jvm". The slowest
    files go first (a stable sort: each file's tests keep their order)."""
    items.sort(
        key=lambda item: SLOWEST_FILES.index(item.path.name) if item.path.name in SLOWEST_FILES else len(SLOWEST_FILES)
    )
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.jvm)


def csv_row_count(path: Path, encoding: str = "utf-8") -> int:
    """Records in a CSV file by Python's csv module: the reference the Spark counts must match."""
    with path.open(newline="", encoding=encoding) as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def test_config(warehouse: Path, database: str, *settings: str) -> config.Config:
    return config.load(
        CONF / "local.toml", warehouse=str(warehouse), database=database, settings=[*TEST_SETTINGS, *settings]
    )


test_config.__test__ = False  # a helper, not a test


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="session")
def spark(warehouse):
    engine = ["text.engine=spark-nlp"] if SPARK_NLP else []  # its jars on the classpath; the tests' configs stay native
    session = build_session(test_config(warehouse, "stacktags_test", *engine), "stacktags-tests")
    yield session
    session.stop()


@pytest.fixture
def fresh_cfg(spark, warehouse):
    """A config whose database is new and empty, so each test starts from nothing."""

    def make(*settings: str) -> config.Config:
        cfg = test_config(warehouse, f"t_{uuid.uuid4().hex[:10]}", *settings)
        spark.sql(f"CREATE DATABASE {cfg.database}")
        return cfg

    return make


def script(name: str, *args) -> list[str]:
    """The command line of a project script on the tests' runtime line: scripts/NAME --spark LINE ARGS."""
    return [str(ROOT / "scripts" / name), "--spark", LINE, *map(str, args)]


def load_job(name: str):
    """A job file of jobs/ as a module, to call its main(argv) in this process (and this SparkSession)."""
    spec = importlib.util.spec_from_file_location(f"job_{name}", ROOT / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def job_arguments(cfg: config.Config, *settings: str) -> list[str]:
    """Command-line arguments that rebuild `cfg` in a job: its conf file, warehouse, database and test settings."""
    args = ["--conf-file", str(cfg.path), "--warehouse", cfg.warehouse, "--database", cfg.database]
    for setting in [*TEST_SETTINGS, *settings]:
        args += ["--set", setting]
    return args


# The sample's model: 20 tags, the conf's reg_param list (its choice is what test_model_pipeline checks)
SAMPLE_MODEL_SETTINGS = [
    "train.num_tags=20",
    "train.max_iter=25",
    "train.num_features=32768",
    f"train.reg_param={json.dumps(config.load(CONF / 'local.toml').require('train', 'reg_param'))}",
]


@pytest.fixture(scope="session")
def sample_model(spark, warehouse) -> config.Config:
    """The sample ingested, cleaned and trained (model 1, SAMPLE_MODEL_SETTINGS) through the jobs, once per test
    process, in a database no test changes: a test module works on its own copy (copy_of_sample_model)."""
    cfg = test_config(warehouse, "sample_model", *SAMPLE_MODEL_SETTINGS)
    for job, args in (("ingest", ["--source", str(SAMPLE)]), ("clean", []), ("train", [])):
        load_job(job).main([*job_arguments(cfg, *SAMPLE_MODEL_SETTINGS), *args])
    return cfg


def copy_of_sample_model(spark, sample_model: config.Config, database: str, *settings: str) -> config.Config:
    """A new database with sample_model's tables (Delta shallow clones: their own logs over the same data files) and
    its model folder, registered at the copy's path and trained on the copy's questions_clean, which holds the rows
    the model was trained on (version 0 of the clone is the source's current version)."""
    cfg = test_config(Path(sample_model.warehouse), database, *settings)
    spark.sql(f"CREATE DATABASE {database}")
    for table in spark.catalog.listTables(sample_model.database):
        spark.sql(f"CREATE TABLE {cfg.table(table.name)} SHALLOW CLONE {sample_model.table(table.name)}")
    shutil.copytree(models_dir(sample_model), models_dir(cfg))
    silver = cfg.table("questions_clean")
    spark.sql(
        f"UPDATE {cfg.table('models')} SET path = replace(path, '{models_dir(sample_model)}/', '{models_dir(cfg)}/'), "
        f"data_table = '{silver}', data_version = {table_version(spark, silver)}"
    )
    return cfg


@pytest.fixture(scope="session")
def moto_endpoint():
    """AWS's APIs served by moto on 127.0.0.1 (a free port) for the tests that reach AWS; stopped after them."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


MOTO_SECRET = "local-test-secret-key"  # the moto server's credentials: they must appear in no output


@pytest.fixture
def aws_credentials(monkeypatch):
    """Credentials for the local endpoint only, in the AWS credential chain's own variables (no profile, no token)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MOTO_SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


def killed_when(command: list[str], condition, seconds: float = 300, **popen) -> None:
    """Run a command in a process group of its own and kill the whole group with SIGKILL (kill -9: no cleanup, no
    shutdown hook) as soon as `condition()` holds, checked every 20 ms. Fails when the command ends first."""
    with tempfile.TemporaryFile(mode="w+") as output:  # a file, not a pipe: a full pipe would stall the command
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, **popen)
        deadline = time.monotonic() + seconds
        try:
            while not condition():
                if process.poll() is not None:
                    output.seek(0)
                    raise AssertionError(f"ended before it could be killed:\n{output.read()[-3000:]}")
                assert time.monotonic() < deadline, f"the kill's condition did not hold within {seconds} s"
                time.sleep(0.02)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
