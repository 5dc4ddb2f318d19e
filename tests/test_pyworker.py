"""The Python worker daemon of conf/local.toml (stacktags.pyworker): Spark's worker without the per-task import-cache
invalidation, which still sees code added during the session."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import LINE

if LINE != "4.1":
    pytest.skip("stacktags.pyworker mends Spark 4.1's worker; the 3.5 line uses Spark's own", allow_module_level=True)

from stacktags import pyworker  # noqa: E402 (imports Spark 4.1's pyspark.worker_util)


def test_workers_run_the_patched_setup(spark):
    assert spark.conf.get("spark.python.daemon.module") == "stacktags.pyworker"

    def setup_file(_):
        import pyspark.worker

        yield pyspark.worker.setup_spark_files.__code__.co_filename

    assert set(spark.sparkContext.parallelize([1, 2], 2).mapPartitions(setup_file).collect()) == {pyworker.__file__}


def test_a_module_added_during_the_session_is_importable_by_reused_workers(spark, tmp_path):
    sc = spark.sparkContext
    sc.parallelize([1, 2], 2).count()  # the workers exist and have run a task before the new file comes
    archive = tmp_path / "added_later.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("added_later_module.py", "ANSWER = 42\n")
    sc.addPyFile(str(archive))

    def answer(_):
        import added_later_module

        yield added_later_module.ANSWER

    assert sc.parallelize([1, 2], 2).mapPartitions(answer).collect() == [42, 42]


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the daemon's memory map from /proc (Linux)")
def test_the_daemon_loads_the_task_libraries_before_it_forks_any_worker():
    daemon = subprocess.Popen(
        [sys.executable, "-m", "stacktags.pyworker", "pyspark.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert len(daemon.stdout.read(4)) == 4  # its port: it listens for Spark, and has forked nothing yet
        mapped = Path(f"/proc/{daemon.pid}/maps").read_text()
    finally:
        daemon.stdin.close()  # the daemon exits when Spark's end of its stdin closes
        daemon.wait(timeout=60)
    for extension in (
        "pyarrow/lib.",
        "pyarrow/_compute.",
        "pyarrow/_csv.",
        "pyarrow/_fs.",
        "scipy/sparse/_sparsetools.",
        "numba/_dispatcher.",
    ):
        assert extension in mapped  # plain pyspark.daemon maps none of these
