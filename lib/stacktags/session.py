"""The one place a SparkSession is made: Delta Lake, a persistent catalog and the project database."""

from __future__ import annotations

import functools
import logging
import os
import sys

from pyspark import SparkConf
from pyspark.sql import SparkSession

from stacktags.config import LAUNCH_PROPERTIES, Config, spark_properties
from stacktags.errors import UserError
from stacktags.jars import ensure_resolved


class ClasspathError(UserError, RuntimeError):
    """A jar the project needs is not on the driver's classpath."""


def launched_by_spark_submit() -> bool:
    """True when this Python process is the driver of a spark-submit (or pyspark shell) run.

    spark-submit starts the JVM first and hands Python the gateway port; then master and jars are already fixed by
    the submit command and must not be overridden here.
    """
    return "PYSPARK_GATEWAY_PORT" in os.environ


def session_properties(cfg: Config) -> dict[str, str]:
    """The properties this factory sets: all of them when it launches Spark itself (local mode, the embedded default);
    under spark-submit only those the submit command left unset, never the master or the jars."""
    props = spark_properties(cfg)
    if not launched_by_spark_submit():
        return props
    submitted = SparkConf()  # loads the spark.* properties the submit command gave the JVM
    return {key: value for key, value in props.items() if key not in LAUNCH_PROPERTIES and not submitted.contains(key)}


def show_progress() -> None:
    """The jobs' progress lines (logger "stacktags", INFO) on stderr with a timestamp, beside Spark's own log."""
    logger = logging.getLogger("stacktags")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # PySpark may give the root logger a handler too: print each line once


def build_session(cfg: Config, app_name: str) -> SparkSession:
    show_progress()
    if not launched_by_spark_submit():
        ensure_resolved(cfg)
    builder = SparkSession.builder.appName(app_name)
    for key, value in session_properties(cfg).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    python = cfg.get("submit", "python")
    if python and not launched_by_spark_submit():
        # Embedded mode reads the workers' interpreter only from PYSPARK_PYTHON (spark-submit sets it from
        # spark.pyspark.python); set it from the config instead, so UDF workers import what the venv has.
        spark.sparkContext.pythonExec = python
    delta = ", ".join(p for p in cfg.get("jars", "packages", []) if p.startswith("io.delta:"))
    require_class(spark, "io.delta.tables.DeltaTable", f"Delta Lake ({delta or 'the one the runtime brings'})")
    if cfg.get("text", "engine") == "spark-nlp":
        require_class(spark, "com.johnsnowlabs.nlp.DocumentAssembler", 'Spark NLP (text.engine = "spark-nlp")')
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {cfg.database}")
    return spark


def require_class(spark: SparkSession, class_name: str, what: str) -> None:
    """Fail early, with a message that says what to do, when a jar is missing (not a ClassNotFound deep in a job)."""
    loader = spark.sparkContext._jvm.Thread.currentThread().getContextClassLoader()
    try:
        loader.loadClass(class_name)
    except Exception as err:  # py4j wraps the ClassNotFoundException
        raise ClasspathError(
            f"{what} is not on the Spark classpath. Submit with scripts/submit.sh (which adds the jars from conf), or "
            f"give spark-submit --packages / --jars yourself; for clusters without internet use scripts/bundle-jars.sh "
            f"and set [jars] dir in the conf file."
        ) from err


def project_class(spark: SparkSession, class_name: str):
    """A class of stacktags.jar (the project's Java code), through Py4J; a ClasspathError naming the jar when it is
    not on the classpath."""
    require_class(spark, class_name, "stacktags.jar (the project's Java code, built by scripts/setup.sh)")
    return functools.reduce(getattr, class_name.split("."), spark.sparkContext._jvm)
