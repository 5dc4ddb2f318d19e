"""Batch scoring: new questions (a Delta table by name or path, or a StackSample folder) -> the `predictions` table.

Incremental and idempotent: questions already scored by the same model version are skipped.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stacktags.config import Config
from stacktags.errors import UserError
from stacktags.files import path_exists
from stacktags.ingest import QUESTIONS, REJECT_REASON, parse_rows, read_as_strings
from stacktags.model import load_model, predictor_of
from stacktags.monitoring.profile import TEXT_STATS, text_stats, weighted_terms_col
from stacktags.tables import append_counted

PREDICTIONS_TABLE = "predictions"


class SourceError(UserError, ValueError):
    """The questions to score are not where --source says."""


@dataclass
class ScoreResult:
    version: int
    scored: int  # questions read that were not yet scored by this model version: all are scored
    unreadable: int  # rows of a CSV source that failed parsing (not scored; see the ingest job for quarantine)
    run_id: str  # the score run: the predictions rows' score_run, the batch the monitor job reads

    def summary(self) -> str:
        extra = f"; {self.unreadable} unreadable rows skipped" if self.unreadable else ""
        return f"predictions: {self.scored} questions scored with model {self.version}{extra}"


def read_questions(spark: SparkSession, source: str, encoding: str, max_body_bytes: int) -> tuple[DataFrame, int]:
    """(Id, Title, Body) from a catalog table, a Delta folder, or a folder with a StackSample Questions.csv."""
    if "/" not in source and spark.catalog.tableExists(source):
        return spark.table(source).select("Id", "Title", "Body"), 0
    if path_exists(spark, f"{source.rstrip('/')}/_delta_log"):
        return spark.read.format("delta").load(source).select("Id", "Title", "Body"), 0
    csv_path = f"{source.rstrip('/')}/{QUESTIONS.file_name}"
    if path_exists(spark, csv_path):
        rows = (
            read_as_strings(spark, csv_path, QUESTIONS.columns, encoding)
            .transform(parse_rows(QUESTIONS, max_body_bytes))
            .cache()
        )
        unreadable = rows.where(F.col(REJECT_REASON).isNotNull()).count()
        return rows.where(F.col(REJECT_REASON).isNull()).select("Id", "Title", "Body"), unreadable
    raise SourceError(f"{source}: not a table, a Delta folder, or a folder with {QUESTIONS.file_name}")


def one_row_per_id(questions: DataFrame) -> DataFrame:
    """The questions with each Id once. The Ids alone are checked first: a source rarely repeats one (a bronze table
    never does), and dropDuplicates would shuffle every title and body to find none."""
    repeated = questions.groupBy("Id").count().where("count > 1")
    return questions if repeated.isEmpty() else questions.dropDuplicates(["Id"])


def score(
    spark: SparkSession, cfg: Config, source: str, version: int | None = None, run_id: str | None = None
) -> ScoreResult:
    """Score the questions of `source` not yet scored by the model into the predictions table, each row with its
    model version, the score run (`run_id`: a batch for the monitor) and its text_stats (the monitor's input figures:
    lengths in tokens and the share of terms the model gives no weight)."""
    # Loading the model (the models table, then about 20 small reads) and opening the source and checking its Ids
    # (a table's first read loads its Delta log) are independent, and both mostly wait on the JVM: side by side
    # they take the time of the longer. A source that is not there fails once the model has loaded.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stacktags-model-load") as pool:
        loading = pool.submit(load_model, spark, cfg, version, "score")
        questions, unreadable = read_questions(
            spark, source, cfg.require("ingest", "encoding"), cfg.require("ingest", "max_body_bytes")
        )
        questions = one_row_per_id(questions)
        version, model, _ = loading.result()
    table = cfg.table(PREDICTIONS_TABLE)
    if spark.catalog.tableExists(table):
        done = spark.table(table).where(F.col("model_version") == version).select("Id")
        if not done.isEmpty():  # the join shuffles every title and body, so none against no rows (a new version)
            questions = questions.join(done, "Id", "left_anti")
    run_id = run_id or uuid.uuid4().hex
    if questions.isEmpty():
        return ScoreResult(version, 0, unreadable, run_id)
    scored = model.transform(questions)
    predictions = scored.select(
        "Id",
        F.col("predicted_tags").alias("tags"),
        "scores",
        F.lit(version).alias("model_version"),
        F.current_timestamp().alias("scored_at"),
        F.lit(run_id).alias("score_run"),
        text_stats(scored, weighted_terms_col(predictor_of(model))).alias(TEXT_STATS),
    )
    # counted by the write itself: no cache of every title and body for a count of their own. A table made before
    # score_run and text_stats existed gains them (its older rows hold null there).
    return ScoreResult(version, append_counted(spark, predictions, table, merge_schema=True), unreadable, run_id)
