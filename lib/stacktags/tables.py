"""Delta table I/O shared by the jobs: idempotent upserts and appends to catalog tables."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
from pyspark.sql import functions as F

from stacktags.errors import UserError
from stacktags.files import hadoop_file

log = logging.getLogger(__name__)
HISTORY_SEARCHED = 100  # commits searched for one's own write: concurrent writers do not make that many at once


@dataclass(frozen=True)
class WriteCounts:
    inserted: int = 0
    updated: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated


class MissingTableError(UserError, LookupError):
    """A job's input table does not exist yet: the job that makes it has not run on this warehouse and database."""


def input_table(spark: SparkSession, table: str, made_by: str) -> DataFrame:
    """The catalog table a job reads, or a MissingTableError naming the job that makes it."""
    if not spark.catalog.tableExists(table):
        raise MissingTableError(f"{table} does not exist: run the {made_by} job first (same warehouse and database)")
    return spark.table(table)


def new_or_changed(source: DataFrame, target: DataFrame, keys: list[str], hash_column: str | None) -> DataFrame:
    """Rows of `source` whose key is not in `target`, or (with a hash column) whose content hash differs."""
    match_on = keys + ([hash_column] if hash_column else [])
    return source.join(target.select(*match_on), on=match_on, how="left_anti")


def upsert(
    spark: SparkSession, source: DataFrame, table: str, keys: list[str], hash_column: str | None = None
) -> WriteCounts:
    """MERGE `source` into a Delta table on `keys`: new keys are inserted and, when `hash_column` is given, rows whose
    hash changed are updated. Rows already present unchanged are filtered out first, and when nothing is left no
    commit is made: a plain MERGE would rewrite every matched file and add a table version even with no change.
    Creates the table (from the source's schema) on the first write.
    """
    if not spark.catalog.tableExists(table):
        return WriteCounts(inserted=append_counted(spark, source, table))
    # Find what changed from the keys (and hashes) alone, a small shuffle; touch whole rows only if something did.
    match_on = keys + ([hash_column] if hash_column else [])
    changed_keys = new_or_changed(source.select(*match_on), spark.table(table), keys, hash_column)
    if changed_keys.isEmpty():
        return WriteCounts()
    changes = source.join(changed_keys, on=match_on, how="left_semi").cache()
    # SQL's MERGE, which returns its metrics on both runtime lines (DeltaMergeBuilder.execute() returns nothing
    # before Delta 4), on a view of this call's own: the jobs upsert from several threads
    view = f"stacktags_merge_source_{uuid.uuid4().hex}"
    changes.createOrReplaceTempView(view)
    try:
        condition = " AND ".join(f"t.`{key}` <=> s.`{key}`" for key in keys)
        update = "WHEN MATCHED THEN UPDATE SET * " if hash_column else ""
        metrics = spark.sql(
            f"MERGE INTO {table} t USING {view} s ON {condition} {update}WHEN NOT MATCHED THEN INSERT *"
        ).first()
        return WriteCounts(inserted=metrics["num_inserted_rows"], updated=metrics["num_updated_rows"])
    finally:
        spark.catalog.dropTempView(view)
        changes.unpersist()


def replace(spark: SparkSession, source: DataFrame, table: str) -> WriteCounts:
    """Overwrite a Delta table (or create it) in one commit: readers see the old rows or the new, never a mix."""
    writer = source.write.format("delta").mode("overwrite").option("overwriteSchema", True)
    return WriteCounts(inserted=saved_row_count(spark, writer, table))


def append(source: DataFrame, table: str) -> None:
    """Append to a Delta table, creating it on the first write."""
    if not source.sparkSession.catalog.tableExists(table):
        remove_uncommitted_first_write(source.sparkSession, table)
    source.write.format("delta").mode("append").saveAsTable(table)


def remove_uncommitted_first_write(spark: SparkSession, table: str) -> None:
    """Before a table is created: remove what a write that was to create it left in its place (a job killed mid-write).
    Delta refuses to create a table over a folder that is not empty, so the rerun of a job killed during its first
    write would otherwise fail, where it must converge. Two cases: data files without a commit (the folder may hold an
    empty _delta_log: Delta makes it before the first commit), and a single commit made before this job started whose
    catalog entry was never made (kill -9 between Delta's commit and the metastore's CREATE TABLE). Anything else is
    kept: a table with a history that the catalog lost (the create then fails with Delta's message), or another
    writer's table created since this job started."""
    database, _, name = table.rpartition(".")
    location = spark.catalog.getDatabase(database or spark.catalog.currentDatabase()).locationUri
    file_system, folder = hadoop_file(spark, f"{location.rstrip('/')}/{name.lower()}")
    if not file_system.exists(folder):
        return
    if not DeltaTable.isDeltaTable(spark, folder.toString()):
        log.warning("%s: removing %s, left by a write that was killed before its first commit", table, folder)
    elif first_commit_before_this_job(spark, folder.toString()):
        log.warning("%s: removing %s, a first write killed before the catalog registered its table", table, folder)
    else:
        return
    file_system.delete(folder, True)


def first_commit_before_this_job(spark: SparkSession, path: str) -> bool:
    """Whether the Delta table at path has one commit, made before this application started: a killed job's. A commit
    made since is another writer's, creating the same table at the same time (its catalog entry comes next)."""
    started = F.timestamp_millis(F.lit(spark.sparkContext.startTime))
    commits = DeltaTable.forPath(spark, path).history(2).select((F.col("timestamp") < started).alias("before"))
    return [row["before"] for row in commits.collect()] == [True]


def append_counted(spark: SparkSession, source: DataFrame, table: str, merge_schema: bool = False) -> int:
    """append(), returning the rows written (see saved_row_count). merge_schema: the source's new columns are added
    to the table's schema."""
    writer = source.write.format("delta").mode("append")
    return saved_row_count(spark, writer.option("mergeSchema", True) if merge_schema else writer, table)


def saved_row_count(spark: SparkSession, writer: DataFrameWriter, table: str) -> int:
    """writer.saveAsTable(table), returning the rows written, from the commit's own metrics: counted as they were
    written, with no pass or log replay of their own. The commit is found by a tag in its userMetadata, so another
    writer's commit is never counted; a write that creates the table is its version 0 (Delta keeps no userMetadata
    for CREATE TABLE AS SELECT, but does for an append and for CREATE OR REPLACE)."""
    creates = not spark.catalog.tableExists(table)
    if creates:
        remove_uncommitted_first_write(spark, table)
    tag = f"stacktags-write-{uuid.uuid4().hex}"
    writer.option("userMetadata", tag).saveAsTable(table)
    mine = F.col("userMetadata") == tag
    if creates:  # unless another writer created the table first: then this write is a later, tagged commit
        mine = mine | ((F.col("version") == 0) & F.col("userMetadata").isNull())
    commit = DeltaTable.forName(spark, table).history(HISTORY_SEARCHED).where(mine).first()  # newest first
    if commit is None:
        raise RuntimeError(f"{table}: the write tagged {tag} is not among the last {HISTORY_SEARCHED} commits")
    return int(commit["operationMetrics"]["numOutputRows"])


def table_version(spark: SparkSession, table: str) -> int:
    """The table's current Delta version (for time travel: VERSION AS OF)."""
    return DeltaTable.forName(spark, table).history(1).first()["version"]
