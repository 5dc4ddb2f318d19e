"""Clean: bronze questions (+ tags, answers) -> the silver table `questions_clean` that training reads and users query.

Incremental: a question goes through text preparation only when it is new or its source changed (its bronze row, its
tags, its answer count or its split), detected by a hash of those; a rerun with nothing new commits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from stacktags.config import Config, ConfigError
from stacktags.ingest import ANSWERS, QUESTIONS, TAGS
from stacktags.tables import WriteCounts, input_table, new_or_changed, replace, upsert
from stacktags.text import text_engine, text_preparation

SILVER_TABLE = "questions_clean"
SPLITS = ("train", "validation", "test")
SILVER_COLUMNS = [
    "Id",
    "title",
    "body_text",
    "code",
    "title_tokens",
    "body_tokens",
    "code_tokens",
    "tags",
    "creation_date",
    "score",
    "is_closed",
    "answer_count",
    "split",
    "source_hash",
]
SPLIT_BUCKETS = 1_000_000
ENGINE_PROPERTY = "stacktags.text_engine"  # questions_clean's property: the [text] engine its tokens are from


def prepared_by(spark: SparkSession, silver: str) -> str:
    """The text engine whose tokens questions_clean holds (native for a table older than the property)."""
    properties = spark.sql(f"DESCRIBE DETAIL {silver}").first()["properties"]
    return properties.get(ENGINE_PROPERTY, "native")


def require_engine(spark: SparkSession, silver: str, engine: str) -> None:
    """A model trains on tokens of the engine it will score with, or not at all."""
    prepared = prepared_by(spark, silver)
    if prepared != engine:
        raise ConfigError(
            f'{silver} holds tokens of the {prepared} text engine and [text] engine is "{engine}": run clean with '
            f"the same [text] engine first (it prepares every question again), then train"
        )


def split_fractions(cfg: Config) -> dict[str, float]:
    fractions = {name: float(cfg.get("clean", "split", {}).get(name, 0.0)) for name in SPLITS}
    if abs(sum(fractions.values()) - 1.0) > 1e-9 or min(fractions.values()) < 0:
        raise ConfigError(f"[clean] split must give train, validation and test fractions that sum to 1: {fractions}")
    return fractions


def split_of(question_id: Column, fractions: dict[str, float]) -> Column:
    """train / validation / test from a hash of the Id: the same on every run and machine, and independent of order."""
    bucket = F.pmod(F.xxhash64(question_id), F.lit(SPLIT_BUCKETS)) / SPLIT_BUCKETS
    return (
        F.when(bucket < fractions["train"], "train")
        .when(bucket < fractions["train"] + fractions["validation"], "validation")
        .otherwise("test")
    )


def rows_of_split(data: DataFrame, split: str, test_from: str | date | None = None) -> DataFrame:
    """The rows of one split of questions_clean (see in_split)."""
    return data.where(in_split(split, test_from))


def in_split(split: str, test_from: str | date | None = None) -> Column:
    """Whether a row of questions_clean is in a split. By default the hash split (the `split` column). With
    test_from (a date or timestamp, UTC; TOML and --set give a date object), a time-based split: test holds every
    question created at or after it; the questions before it are validation where their hash says so and train
    otherwise."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: one of {SPLITS}")
    if not test_from:
        return F.col("split") == split
    test_from = str(test_from)
    try:
        datetime.fromisoformat(test_from)
    except ValueError as err:
        raise ConfigError(f"test_from must be an ISO date or timestamp such as 2015-01-01, not {test_from!r}") from err
    cut = F.to_timestamp(F.lit(test_from))
    before = F.col("creation_date") < cut
    return {
        "test": F.col("creation_date") >= cut,
        "validation": before & (F.col("split") == "validation"),
        "train": before & (F.col("split") != "validation"),
    }[split]


def question_facts(
    questions: DataFrame, tags: DataFrame, answers: DataFrame, fractions: dict[str, float], engine: str = "native"
) -> DataFrame:
    """One row per question: raw Title and Body, its sorted distinct tags, answer count, split and a source hash.
    The hash covers the text engine too (but native, so the hashes of tables made before engines existed hold): a
    clean after a change of [text] engine prepares every question again."""
    tag_arrays = tags.groupBy("Id").agg(F.array_sort(F.collect_set("Tag")).alias("tags"))
    answer_counts = answers.groupBy(F.col("ParentId").alias("Id")).agg(F.count(F.lit(1)).alias("answer_count"))
    facts = (
        questions.join(tag_arrays, "Id", "left")
        .join(answer_counts, "Id", "left")
        .select(
            "Id",
            "Title",
            "Body",
            "row_hash",
            F.coalesce("tags", F.array().cast("array<string>")).alias("tags"),
            F.col("CreationDate").alias("creation_date"),
            F.col("Score").alias("score"),
            F.col("ClosedDate").isNotNull().alias("is_closed"),
            F.coalesce("answer_count", F.lit(0)).alias("answer_count"),
            split_of(F.col("Id"), fractions).alias("split"),
        )
    )
    sources = ["row_hash", "tags", "answer_count", "split", *([F.lit(engine)] if engine != "native" else [])]
    return facts.withColumn("source_hash", F.xxhash64(*sources)).drop("row_hash")


def prepare(facts: DataFrame, engine: str) -> DataFrame:
    """Text preparation (the shared definition) and the silver columns."""
    preparation = text_preparation(facts.sparkSession, engine)
    return preparation.transform(facts).withColumnRenamed("Title", "title").select(*SILVER_COLUMNS)


@dataclass
class CleanResult:
    bronze_questions: int
    written: WriteCounts
    rows_per_split: dict[str, int]

    def summary(self) -> str:
        splits = ", ".join(f"{name} {self.rows_per_split.get(name, 0)}" for name in SPLITS)
        total = sum(self.rows_per_split.values())
        return (
            f"questions_clean: {total} rows ({splits}); this run inserted {self.written.inserted}, "
            f"updated {self.written.updated} of {self.bronze_questions} bronze questions"
        )


def clean(spark: SparkSession, cfg: Config, full: bool = False) -> CleanResult:
    """Bring questions_clean up to date with the bronze tables; with `full`, prepare every question again."""
    questions = input_table(spark, cfg.table(QUESTIONS.table), made_by="ingest")
    tags = input_table(spark, cfg.table(TAGS.table), made_by="ingest")
    answers_table = cfg.table(ANSWERS.table)
    answers = (
        spark.table(answers_table)
        if spark.catalog.tableExists(answers_table)
        else spark.createDataFrame([], "ParentId bigint")
    )
    engine = text_engine(cfg)
    facts = question_facts(questions, tags, answers, split_fractions(cfg), engine)
    silver = cfg.table(SILVER_TABLE)
    if full or not spark.catalog.tableExists(silver):
        written = replace(spark, prepare(facts, engine), silver)
    else:
        changed = new_or_changed(facts, spark.table(silver), ["Id"], "source_hash")
        written = upsert(spark, prepare(changed, engine), silver, ["Id"], hash_column="source_hash")
    if prepared_by(spark, silver) != engine:
        spark.sql(f"ALTER TABLE {silver} SET TBLPROPERTIES ('{ENGINE_PROPERTY}' = '{engine}')")
    per_split = {row["split"]: row["count"] for row in spark.table(silver).groupBy("split").count().collect()}
    return CleanResult(questions.count(), written, per_split)
