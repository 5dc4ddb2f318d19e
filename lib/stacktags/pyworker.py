"""PySpark's Python worker daemon less one per-task cost of Spark 4.1 (spark.python.daemon.module = stacktags.pyworker).

At the start of every task, Spark 4.1's worker adds the task's files to sys.path and then calls
importlib.invalidate_caches(), which makes every zip and jar on sys.path (pyspark.zip, the --packages jars) re-read
its whole file list, although a reused worker's path has not changed: more time than the work of many tasks
(docs/performance.md). Spark 4.2 invalidates only when needed (SPARK-54744); this does the same: Spark's own setup
runs unchanged, and the caches are invalidated when it added a path. (It is the daemon module, not the worker module,
because Spark's daemon only loads worker modules named pyspark.*; the daemon forks the workers, which inherit the fix.)

The daemon also imports the libraries the project's tasks use (PRELOADED) before it forks: each worker starts with
them loaded instead of importing them itself. Only third-party libraries: this package's own
modules must come from the job's --py-files, which the daemon does not see.

Use it where this package is importable by the Python that starts the workers (the project's venv: local mode and the
same-machine standalone cluster); elsewhere leave Spark's default worker.
"""

from __future__ import annotations

import importlib
import runpy
import sys
from typing import IO

from pyspark import worker, worker_util

_spark_setup_spark_files = worker_util.setup_spark_files
PRELOADED = ("numba", "numpy", "pyarrow", "pyarrow.compute", "pyarrow.csv", "pyarrow.fs", "scipy.sparse")


def setup_spark_files(infile: IO) -> None:
    paths_before = list(sys.path)
    invalidate_caches = importlib.invalidate_caches
    importlib.invalidate_caches = lambda: None  # the worker runs one task at a time: nothing else imports meanwhile
    try:
        _spark_setup_spark_files(infile)
    finally:
        importlib.invalidate_caches = invalidate_caches
    if sys.path != paths_before:
        invalidate_caches()


if __name__ == "__main__":  # Spark starts the daemon as `python -m <module> <worker module>`
    # pyspark.worker looks setup_spark_files up in its own namespace, at every task.
    worker_util.setup_spark_files = worker.setup_spark_files = setup_spark_files
    for module in PRELOADED:
        importlib.import_module(module)
    runpy.run_module("pyspark.daemon", run_name="__main__", alter_sys=True)
