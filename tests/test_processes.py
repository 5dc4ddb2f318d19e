"""The scripts as a user runs them, in new processes: spark-submit to a real standalone cluster, then spark-sql."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE, SHORT_JVM, csv_row_count, script
from pyspark.find_spark_home import _find_spark_home

pytestmark = pytest.mark.jvm  # its tests run the jobs in processes of their own

SPARK_CLASS = str(Path(_find_spark_home()) / "bin" / "spark-class")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds}s:\n{log.read_text()[-3000:]}")


def wait_for_worker(log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while "Successfully registered with master" not in log.read_text():
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker did not register:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


def stop(process: subprocess.Popen) -> None:
    """Stop exactly this process (spark-class execs the JVM, so the pid is the JVM's)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def standalone_cluster(tmp_path):
    """A Spark standalone master and one worker (2 cores) on 127.0.0.1, from the installed pyspark."""
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    port = free_port()
    master_log, worker_log = tmp_path / "master.log", tmp_path / "worker.log"
    started = []
    try:
        with master_log.open("w") as out:
            started.append(
                subprocess.Popen(
                    [
                        SPARK_CLASS,
                        "org.apache.spark.deploy.master.Master",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--webui-port",
                        str(free_port()),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        wait_for_port(port, started[0], master_log)
        with worker_log.open("w") as out:
            started.append(
                subprocess.Popen(
                    [
                        SPARK_CLASS,
                        "org.apache.spark.deploy.worker.Worker",
                        f"spark://127.0.0.1:{port}",
                        "--host",
                        "127.0.0.1",
                        "--cores",
                        "2",
                        "--memory",
                        "3g",
                        "--webui-port",
                        str(free_port()),
                        "--work-dir",
                        str(tmp_path / "work"),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        wait_for_worker(worker_log)
        yield f"spark://127.0.0.1:{port}"
    finally:
        for process in reversed(started):
            stop(process)


def run(*command: str) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def test_submit_to_standalone_cluster_then_query_from_a_new_spark_sql_process(standalone_cluster, tmp_path):
    warehouse = str(tmp_path / "warehouse")
    submitted = run(
        *script(
            "submit.sh",
            "ingest",
            "--target",
            "standalone",
            "--master",
            standalone_cluster,
            "--warehouse",
            warehouse,
            "--source",
            str(SAMPLE),
            "--set",
            "spark.spark.executor.memory=1g",
            *SHORT_JVM,
        )
    )
    assert "total" in submitted.stdout
    assert list((tmp_path / "work").glob("app-*/*/stderr")), "no executor ran on the worker"

    answer = run(
        *script("spark-sql"),
        "--warehouse",
        warehouse,
        "-e",
        "SELECT (SELECT count(*) FROM stackoverflow.questions_raw) AS questions, "
        "(SELECT count(*) FROM tags_raw) AS tags, "
        "(SELECT status FROM job_runs WHERE job = 'ingest') AS status",
    )
    assert answer.stdout.splitlines() == [
        "questions\ttags\tstatus",
        f"{csv_row_count(SAMPLE / 'Questions.csv')}\t{csv_row_count(SAMPLE / 'Tags.csv')}\tsucceeded",
    ]
