"""The runtime lines: one code base on two Spark versions, each with its own venv, conf folder and JVM files.

  4.1  pyspark 4.1.1, Delta 4.2.0, Scala 2.13: AWS Glue 6.0, Amazon EMR emr-spark-8.1.0 (the default)
  3.5  pyspark 3.5.6, Delta 3.3.3, Scala 2.12, Spark NLP 5.5.3: AWS Glue 5.1, Amazon EMR 7.x

A line is the Spark its Python runs: scripts/*.sh --spark 3.5 use .venv-spark3.5, whose pyspark is 3.5, and a target
`local` then means conf/spark3.5/local.toml. docs/architecture.md, "Runtime lines", says what differs between them.
"""

from __future__ import annotations

from pathlib import Path

import pyspark

CONF_FOLDERS = {"4.1": ".", "3.5": "spark3.5"}  # below the project's conf/


def running_line() -> str:
    """The line of the pyspark this Python imports: its major.minor version."""
    major, minor, *_ = pyspark.__version__.split(".")
    line = f"{major}.{minor}"
    if line not in CONF_FOLDERS:
        raise RuntimeError(
            f"pyspark {pyspark.__version__} is of no runtime line of stacktags ({', '.join(CONF_FOLDERS)})"
        )
    return line


def conf_dir(root: Path, line: str | None = None) -> Path:
    """The folder of a line's conf files (the running line's by default)."""
    return (root / "conf" / CONF_FOLDERS[line or running_line()]).resolve()
