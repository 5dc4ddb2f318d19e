"""The landing zone: which StackSample files under a source folder the ingest job loads, each exactly once.

Every `Questions*.csv`, `Tags*.csv` and `Answers*.csv` below the folder, at any depth, on any Hadoop file system, is
a file of the matching table. The `ingested_files` Delta table keeps one row per attempt (path, size, modification
time, content hash, rows read, loaded and rejected, run id, status `loaded` or `failed` with its reason); a path's
newest row is its state. A run loads the files that are new, that changed since their load (same path, another size
or modification time: reloaded, and said so) or whose last attempt failed; it skips the others and records nothing
for them, so a run that finds nothing new commits nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from stacktags.files import hadoop_file
from stacktags.tables import append

INGESTED_FILES = "ingested_files"
LOADED, FAILED = "loaded", "failed"
INGESTED_FILES_SCHEMA = StructType(
    [
        StructField("path", StringType(), False),
        StructField("table", StringType(), False),
        StructField("size", LongType(), False),
        StructField("modified_at", TimestampType(), False),
        StructField("content_hash", LongType(), True),  # bit_xor of the rows' xxhash64: null when not read whole
        StructField("rows_read", LongType(), True),
        StructField("rows_loaded", LongType(), True),
        StructField("rows_rejected", LongType(), True),
        StructField("status", StringType(), False),
        StructField("reason", StringType(), True),  # why it failed, or why it was loaded again
        StructField("run_id", StringType(), False),
        StructField("recorded_at", TimestampType(), False),
    ]
)


@dataclass(frozen=True)
class ListedFile:
    path: str  # the qualified URI, as the rows' source_file names it
    stem: str  # Questions, Tags or Answers
    size: int
    modified_ms: int

    @property
    def modified_at(self) -> datetime:
        return datetime.fromtimestamp(self.modified_ms / 1000, UTC)


def list_source_files(spark: SparkSession, folder: str, stems: tuple[str, ...]) -> list[ListedFile]:
    """The files below `folder` named <stem>*.csv for one of the stems, at any depth, in path order; hidden files and
    folders (a leading . or _) left out."""
    pattern = re.compile(rf"^({'|'.join(map(re.escape, stems))})[^/]*\.csv$")
    file_system, root = hadoop_file(spark, folder)
    if not file_system.exists(root):
        return []
    found = []
    files = file_system.listFiles(root, True)
    while files.hasNext():
        status = files.next()
        path = status.getPath()
        relative = path.toString()[len(file_system.makeQualified(root).toString()) :]
        if any(part.startswith((".", "_")) for part in relative.strip("/").split("/")):
            continue
        match = pattern.match(path.getName())
        if match:
            found.append(ListedFile(path.toString(), match.group(1), status.getLen(), status.getModificationTime()))
    return sorted(found, key=lambda f: f.path)


def still_there(spark: SparkSession, listed: ListedFile) -> str | None:
    """None when the file is as it was listed; else why not (gone, or changed since: still being written)."""
    file_system, path = hadoop_file(spark, listed.path)
    if not file_system.exists(path):
        return "deleted after it was listed"
    status = file_system.getFileStatus(path)
    if (status.getLen(), status.getModificationTime()) != (listed.size, listed.modified_ms):
        return f"changed while it was read (size {listed.size} -> {status.getLen()}): still being written?"
    return None


def ends_a_record(spark: SparkSession, listed: ListedFile) -> bool:
    """Whether the file's last byte ends a line: a file cut short, or still being written, ends mid-record."""
    if listed.size == 0:
        return True  # an empty file: the header check says so
    file_system, path = hadoop_file(spark, listed.path)
    stream = file_system.open(path)
    try:
        stream.seek(listed.size - 1)
        return stream.read() in (ord("\n"), ord("\r"))
    finally:
        stream.close()


def plan(spark: SparkSession, database: str, listed: list[ListedFile]) -> tuple[list[tuple[ListedFile, str]], int]:
    """The files to load, each with why (new, changed since its load, retried after a failure), and how many are
    skipped as loaded already."""
    table = f"{database}.{INGESTED_FILES}"
    known = {}
    if spark.catalog.tableExists(table):
        newest = Window.partitionBy("path").orderBy(F.desc("recorded_at"))
        for row in (
            spark.table(table)
            .withColumn("n", F.row_number().over(newest))
            .where("n = 1")
            .select("path", "size", "modified_at", "status", "reason", "recorded_at")
            .collect()
        ):
            known[row["path"]] = row
    todo, skipped = [], 0
    for file in listed:
        last = known.get(file.path)
        if last is None:
            todo.append((file, "new"))
        elif last["status"] == FAILED:
            todo.append((file, f"retried: it failed on {last['recorded_at']:%Y-%m-%d %H:%M} ({last['reason']})"))
        # pyspark gives timestamps as naive local datetimes: .timestamp() reads them as such
        elif (last["size"], round(last["modified_at"].timestamp() * 1000)) != (file.size, file.modified_ms):
            todo.append((file, f"changed since its load on {last['recorded_at']:%Y-%m-%d %H:%M}: loaded again"))
        else:
            skipped += 1
    return todo, skipped


def create_table(spark: SparkSession, database: str) -> None:
    """ingested_files, empty, unless it is there: made before the tables' threads append to it side by side (two
    first appends to a missing table would both try to create it)."""
    table = f"{database}.{INGESTED_FILES}"
    if not spark.catalog.tableExists(table):
        spark.createDataFrame([], INGESTED_FILES_SCHEMA).write.format("delta").saveAsTable(table)


def record(spark: SparkSession, database: str, rows: list[tuple]) -> None:
    """Append attempts to ingested_files: (listed file, table, content hash, read, loaded, rejected, status, reason,
    run id) tuples."""
    now = datetime.now(UTC)
    values = [
        (f.path, table, f.size, f.modified_at, content, read, loaded, rejected, status, reason, run_id, now)
        for f, table, content, read, loaded, rejected, status, reason, run_id in rows
    ]
    append(spark.createDataFrame(values, INGESTED_FILES_SCHEMA), f"{database}.{INGESTED_FILES}")
