"""Delta table helpers, on tables in a fresh database."""

import os
import time
from pathlib import Path

import pytest
from pyspark.errors import AnalysisException

from stacktags import tables
from stacktags.tables import append_counted


def test_append_counted_counts_its_own_commit_on_creation_and_after(spark, fresh_cfg):
    table = fresh_cfg().table("counted")
    assert append_counted(spark, spark.range(7), table) == 7  # creates the table: its version 0
    assert append_counted(spark, spark.range(3), table) == 3
    assert spark.table(table).count() == 10


def test_append_counted_is_not_fooled_by_another_writers_later_commit(spark, fresh_cfg, monkeypatch):
    table = fresh_cfg().table("shared")
    append_counted(spark, spark.range(1), table)
    searched = tables.DeltaTable.forName

    def another_writer_commits_first(session, name):  # between this append's commit and its history lookup
        spark.range(50).write.format("delta").mode("append").saveAsTable(name)
        return searched(session, name)

    monkeypatch.setattr(tables.DeltaTable, "forName", another_writer_commits_first)
    assert append_counted(spark, spark.range(4), table) == 4  # not 50: the newest commit is not its own
    assert spark.table(table).count() == 55


def test_append_counted_counts_its_own_commit_when_another_writer_created_the_table_first(
    spark, fresh_cfg, monkeypatch
):
    table = fresh_cfg().table("raced")
    catalog = type(spark.catalog)

    def created_by_another_writer_after_the_check(self, name, *args):
        spark.range(50).write.format("delta").mode("append").saveAsTable(name)  # version 0, untagged
        return False

    monkeypatch.setattr(catalog, "tableExists", created_by_another_writer_after_the_check)
    assert append_counted(spark, spark.range(4), table) == 4  # version 1 is this append's, not version 0
    monkeypatch.undo()
    assert spark.table(table).count() == 54


def test_writes_that_create_or_replace_count_their_rows_even_when_empty(spark, fresh_cfg):
    table = fresh_cfg().table("replaced")
    assert tables.replace(spark, spark.range(6), table).inserted == 6  # creates: version 0, no userMetadata
    assert tables.replace(spark, spark.range(2), table).inserted == 2  # CREATE OR REPLACE keeps its tag
    assert tables.replace(spark, spark.range(0), table).inserted == 0
    assert spark.table(table).count() == 0
    empty = fresh_cfg().table("created_empty")
    assert tables.upsert(spark, spark.range(0).withColumnRenamed("id", "Id"), empty, ["Id"]).inserted == 0
    assert tables.upsert(spark, spark.range(3).withColumnRenamed("id", "Id"), empty, ["Id"]).inserted == 3


def test_a_first_write_killed_before_its_commit_does_not_stop_the_next_from_creating_the_table(spark, fresh_cfg):
    """What kill -9 leaves during a table's first write: data files in its place, no Delta log. The rerun creates the
    table there, with its own rows only (Delta alone would refuse a location that is not empty)."""
    cfg = fresh_cfg()
    location = spark.catalog.getDatabase(cfg.database).locationUri.removeprefix("file:")
    spark.range(5).write.parquet(f"{location}/killed")  # the killed write's files, never committed
    spark.range(5).write.parquet(f"{location}/killed_too")
    Path(location, "killed_too", "_delta_log").mkdir()  # Delta makes the log's folder before its first commit
    assert append_counted(spark, spark.range(3), cfg.table("killed")) == 3
    tables.append(spark.range(2), cfg.table("killed_too"))
    assert spark.table(cfg.table("killed")).count() == 3 and spark.table(cfg.table("killed_too")).count() == 2


def test_a_first_commit_the_catalog_never_registered_is_redone_and_a_table_with_history_is_kept(spark, fresh_cfg):
    """kill -9 between Delta's first commit and the metastore's CREATE TABLE leaves a committed table that the
    catalog lacks: the rerun's write replaces it. A table with more commits (a catalog that lost a real table) stays,
    and so does one committed since the job started (test_append_counted_counts_its_own_commit_...)."""
    cfg = fresh_cfg()
    location = spark.catalog.getDatabase(cfg.database).locationUri.removeprefix("file:")
    spark.range(5).write.format("delta").save(f"{location}/committed")  # version 0, no catalog entry
    hour_ago = time.time() - 3600  # committed before this job (this session) started: the commit file's time
    for commit in Path(location, "committed", "_delta_log").glob("00000000000000000000.*"):
        os.utime(commit, (hour_ago, hour_ago))
    assert append_counted(spark, spark.range(3), cfg.table("committed")) == 3
    assert spark.table(cfg.table("committed")).count() == 3
    for _ in range(2):
        spark.range(5).write.format("delta").mode("append").save(f"{location}/with_history")
    with pytest.raises(AnalysisException, match="DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION"):
        tables.append(spark.range(2), cfg.table("with_history"))
    assert spark.read.format("delta").load(f"{location}/with_history").count() == 10
