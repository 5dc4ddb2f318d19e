"""The runtime lines: one code base on two Spark versions, each with its own venv, conf folder and JVM files.

  4.1  pyspark 4.1.1, Delta 4.2.0, Scala 2.13, Spark NLP 7.0.0 where its jar resolves: AWS Glue 6.0, Amazon EMR
       emr-spark-8.1.0 (the default)
  3.5  pyspark 3.5.6, Delta 3.3.3, Scala 2.12, Spark NLP 5.5.3: AWS Glue 5.1, Amazon EMR 7.x

A line is the Spark its Python runs: scripts/*.sh --spark 3.5 use .venv-spark3.5, whose pyspark is 3.5, and a target
`local` then means conf/spark3.5/local.toml. docs/architecture.md, "Runtime lines", says what differs between them.
"""

from __future__ import annotations

from pathlib import Path

import pyspark

CONF_FOLDERS = {"4.1": ".", "3.5": "spark3.5"}  # below the project's conf/
SCALA = {"4.1": "2.13", "3.5": "2.12"}
SPARK_NLP = {"4.1": "7.0.0", "3.5": "5.5.3"}  # as setup.py pins the Python package: its jar must be the same version
# What Spark NLP's pom brings that its rule-based annotators never load: the native runtimes of its deep-learning
# annotators (tensorflow-cpu, jsl-llamacpp-cpu, jsl-openvino-cpu, not served by Maven Central, onnxruntime), RocksDB
# (its embeddings' store) and the clients of its model downloads and document readers (Google Cloud Storage, Azure,
# Apache POI, Jakarta Mail). Its S3 client stays: Hadoop 3.3's S3A on the 3.5 line uses the same SDK modules.
SPARK_NLP_UNUSED = (
    "com.johnsnowlabs.nlp:tensorflow-cpu_{scala}",
    "com.johnsnowlabs.nlp:jsl-llamacpp-cpu_{scala}",
    "com.johnsnowlabs.nlp:jsl-openvino-cpu_{scala}",
    "com.microsoft.onnxruntime:onnxruntime",
    "org.rocksdb:rocksdbjni",
    "com.google.cloud:google-cloud-storage",
    "com.azure:azure-identity",
    "com.azure:azure-storage-blob",
    "org.apache.poi:poi-ooxml",
    "org.apache.poi:poi-scratchpad",
    "jakarta.mail:jakarta.mail-api",
    "org.eclipse.angus:angus-mail",
)


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


def spark_nlp_package(line: str) -> str:
    """The Maven coordinates of a line's Spark NLP jar."""
    return f"com.johnsnowlabs.nlp:spark-nlp_{SCALA[line]}:{SPARK_NLP[line]}"


def spark_nlp_python(line: str) -> str:
    """The pip requirement of a line's Spark NLP Python package: the same version as its jar."""
    return f"spark-nlp=={SPARK_NLP[line]}"


def spark_nlp_exclude(line: str) -> list[str]:
    """The dependencies of that jar left out (group:artifact): see SPARK_NLP_UNUSED."""
    return [name.format(scala=SCALA[line]) for name in SPARK_NLP_UNUSED]
