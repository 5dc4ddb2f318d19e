"""Clean: bronze -> questions_clean, its pure transforms, incremental reruns, and one text preparation for all."""

import csv
from collections import defaultdict
from datetime import datetime

import pytest
from chispa import assert_df_equality
from conftest import ROOT, SAMPLE, SHARED_DATA, SPARK_NLP, job_arguments, load_job, test_config
from pyspark.sql import functions as F

from stacktags.clean import prepared_by, question_facts, require_engine, rows_of_split, split_fractions, split_of
from stacktags.config import ConfigError, load
from stacktags.tables import MissingTableError
from stacktags.text import text_preparation

ingest_job, clean_job = load_job("ingest"), load_job("clean")
FRACTIONS = {"train": 0.7, "validation": 0.1, "test": 0.2}


def ingest_and_clean(cfg, source, *clean_args):
    ingest_job.main([*job_arguments(cfg), "--source", str(source)])
    clean_job.main([*job_arguments(cfg), *clean_args])


def version(spark, table):
    return spark.sql(f"DESCRIBE HISTORY {table} LIMIT 1").first()["version"]


def test_split_is_a_stable_function_of_the_id(spark):
    ids = spark.range(20000).withColumnRenamed("id", "Id")
    first = ids.select("Id", split_of(F.col("Id"), FRACTIONS).alias("split"))
    again = ids.orderBy(F.desc("Id")).repartition(3).select("Id", split_of(F.col("Id"), FRACTIONS).alias("split"))
    assert_df_equality(first, again, ignore_row_order=True)
    counts = {r["split"]: r["count"] for r in first.groupBy("split").count().collect()}
    for name, fraction in FRACTIONS.items():
        assert abs(counts[name] / 20000 - fraction) < 0.015


def test_split_fractions_must_sum_to_one():
    cfg = load(ROOT / "conf" / "local.toml", settings=["clean.split={train=0.5, validation=0.1, test=0.1}"])
    with pytest.raises(ConfigError, match="sum to 1"):
        split_fractions(cfg)


def test_time_based_split_tests_on_the_newest_questions(spark):
    rows = [
        (1, datetime(2014, 5, 1), "train"),
        (2, datetime(2014, 12, 31, 23, 59), "test"),
        (3, datetime(2014, 6, 1), "validation"),
        (4, datetime(2015, 1, 1), "train"),
        (5, datetime(2016, 3, 1), "validation"),
    ]
    data = spark.createDataFrame(rows, "Id long, creation_date timestamp, split string")

    def ids(split, test_from=None):
        return sorted(r["Id"] for r in rows_of_split(data, split, test_from).collect())

    assert [ids(s) for s in ("train", "validation", "test")] == [[1, 4], [3, 5], [2]]  # the hash split as stored
    assert [ids(s, "2015-01-01") for s in ("train", "validation", "test")] == [[1, 2], [3], [4, 5]]
    with pytest.raises(ConfigError, match="ISO date"):
        rows_of_split(data, "test", "last year")


def test_question_facts(spark):
    questions = spark.createDataFrame(
        [
            (1, "t1", "<p>b1</p>", 11, datetime(2010, 1, 1), 3, None),
            (2, "t2", "<p>b2</p>", 22, datetime(2011, 1, 1), -1, datetime(2011, 2, 1)),
        ],
        "Id bigint, Title string, Body string, row_hash bigint, CreationDate timestamp, Score int, "
        "ClosedDate timestamp",
    )
    tags = spark.createDataFrame([(1, "python"), (1, "c#"), (1, "python"), (3, "orphan")], "Id bigint, Tag string")
    answers = spark.createDataFrame([(10, 1), (11, 1), (12, 9)], "Id bigint, ParentId bigint")
    facts = {r["Id"]: r for r in question_facts(questions, tags, answers, FRACTIONS).collect()}
    assert sorted(facts) == [1, 2]
    assert facts[1]["tags"] == ["c#", "python"] and facts[2]["tags"] == []
    assert (facts[1]["answer_count"], facts[2]["answer_count"]) == (2, 0)
    assert (facts[1]["is_closed"], facts[2]["is_closed"]) == (False, True)
    assert facts[1]["score"] == 3 and facts[1]["creation_date"] == datetime(2010, 1, 1)
    assert facts[1]["source_hash"] != facts[2]["source_hash"]


@pytest.fixture(scope="module")
def sample_cfg(spark, warehouse):
    cfg = test_config(warehouse, "clean_sample")
    ingest_and_clean(cfg, SAMPLE)
    return cfg


def test_sample_to_silver(spark, sample_cfg):
    silver = spark.table(sample_cfg.table("questions_clean"))
    assert silver.count() == 2000
    with (SAMPLE / "Tags.csv").open(newline="", encoding="utf-8") as handle:
        expected = defaultdict(set)
        for row in csv.DictReader(handle):
            expected[int(row["Id"])].add(row["Tag"])
    got = {r["Id"]: r["tags"] for r in silver.select("Id", "tags").collect()}
    assert got == {qid: sorted(tags) for qid, tags in expected.items()} | {
        qid: [] for qid in got if qid not in expected
    }
    splits = {r["split"]: r["count"] for r in silver.groupBy("split").count().collect()}
    assert set(splits) == {"train", "validation", "test"} and 1250 < splits["train"] < 1550
    assert silver.where(F.size("title_tokens") == 0).count() == 0
    run = spark.sql(f"SELECT * FROM {sample_cfg.table('job_runs')} WHERE job = 'clean'").first()
    assert run["status"] == "succeeded" and run["rows_out"] == 2000


def test_rerun_with_nothing_new_changes_nothing(spark, sample_cfg):
    table = sample_cfg.table("questions_clean")
    before = version(spark, table)
    clean_job.main(job_arguments(sample_cfg))
    assert version(spark, table) == before


def test_only_changed_questions_are_prepared_again(spark, fresh_cfg, tmp_path):
    cfg = fresh_cfg()
    source = tmp_path / "src"
    source.mkdir()
    for name in ("Questions.csv", "Tags.csv", "Answers.csv"):
        (source / name).write_bytes((SAMPLE / name).read_bytes())
    ingest_and_clean(cfg, source)
    some_id = spark.table(cfg.table("tags_raw")).first()["Id"]
    with (source / "Tags.csv").open("a") as handle:
        handle.write(f"{some_id},a-new-tag\n")
    ingest_and_clean(cfg, source)
    run = spark.sql(f"SELECT * FROM {cfg.table('job_runs')} WHERE job = 'clean' ORDER BY ended_at DESC").first()
    assert (run["details"]["inserted"], run["details"]["updated"]) == ("0", "1")
    tags = spark.table(cfg.table("questions_clean")).where(F.col("Id") == some_id).first()["tags"]
    assert "a-new-tag" in tags and tags == sorted(tags)


def test_scoring_path_gives_the_same_tokens_as_the_clean_job(spark, sample_cfg):
    """Scoring applies the same text preparation to raw (Id, Title, Body) rows; the tokens must be identical."""
    raw = spark.table(sample_cfg.table("questions_raw")).select("Id", "Title", "Body")
    columns = ["Id", "body_text", "code", "title_tokens", "body_tokens", "code_tokens"]
    scored = text_preparation(spark).transform(raw).select(*columns)
    cleaned = spark.table(sample_cfg.table("questions_clean")).select(*columns)
    assert_df_equality(scored, cleaned, ignore_row_order=True, ignore_nullable=True)


def test_a_change_of_text_engine_prepares_every_question_again_and_train_needs_the_same(spark, fresh_cfg):
    """The tokens of questions_clean are those of one [text] engine, recorded as a table property: a clean with
    another engine prepares every question again, and a train whose engine differs from the table's stops."""
    cfg = fresh_cfg()
    ingest_and_clean(cfg, SAMPLE)
    silver = cfg.table("questions_clean")
    assert prepared_by(spark, silver) == "native"
    with pytest.raises(ConfigError, match=r'holds tokens of the native text engine and \[text\] engine is "spark-nlp"'):
        require_engine(spark, silver, "spark-nlp")
    if not SPARK_NLP:
        return
    for engine in ("spark-nlp", "native"):
        clean_job.main(job_arguments(cfg, f"text.engine={engine}"))
        run = spark.sql(f"SELECT * FROM {cfg.table('job_runs')} WHERE job = 'clean' ORDER BY ended_at DESC").first()
        assert (run["details"]["inserted"], run["details"]["updated"]) == ("0", "2000")
        assert prepared_by(spark, silver) == engine
        require_engine(spark, silver, engine)
        raw = spark.table(cfg.table("questions_raw")).select("Id", "Title", "Body")
        columns = ["Id", "title_tokens", "body_tokens", "code_tokens"]
        expected = text_preparation(spark, engine).transform(raw).select(*columns)
        assert_df_equality(spark.table(silver).select(*columns), expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs ../shared/data beside the clone")
def test_so_dev_cleans_to_every_question(spark, fresh_cfg):
    cfg = fresh_cfg()
    ingest_and_clean(cfg, SHARED_DATA / "so-dev")
    assert spark.table(cfg.table("questions_clean")).count() == 10280


def test_clean_or_train_before_the_table_they_read_exists_names_the_job_to_run_and_is_recorded(spark, fresh_cfg):
    cfg = fresh_cfg()
    with pytest.raises(MissingTableError, match=rf"{cfg.database}.questions_raw does not exist: run the ingest job"):
        clean_job.main(job_arguments(cfg))
    with pytest.raises(MissingTableError, match=rf"{cfg.database}.questions_clean does not exist: run the clean job"):
        load_job("train").main(job_arguments(cfg))
    runs = spark.sql(f"SELECT job, status, error FROM {cfg.table('job_runs')} ORDER BY started_at").collect()
    assert [(run.job, run.status) for run in runs] == [("clean", "failed"), ("train", "failed")]
    assert runs[0].error.startswith("MissingTableError: ")
