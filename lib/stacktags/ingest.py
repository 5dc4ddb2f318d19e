"""Ingest: StackSample CSVs -> bronze Delta tables (questions_raw, tags_raw, answers_raw).

Every row read is either loaded or quarantined in `<table>_rejected` with its raw record, a reason, the source file
and the run id: rows read = rows loaded + rows rejected, always. Which files a run reads, each exactly once, is
stacktags.landing's: every Questions*.csv, Tags*.csv and Answers*.csv below the source folder not loaded yet,
recorded in ingested_files. Re-running over the same files changes no table.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from py4j.protocol import Py4JJavaError
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from stacktags import csvsplit, landing
from stacktags.errors import UserError
from stacktags.files import hadoop_file
from stacktags.tables import WriteCounts, upsert

CORRUPT_RECORD = "_corrupt_record"
REJECT_REASON = "reject_reason"
ROW_HASH = "row_hash"
SOURCE_FILE = "source_file"
# StackSample dates look like 2008-07-31T21:42:52Z; X also accepts offsets such as +02:00.
TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ssX"
INTEGER_PATTERN = r"^\s*-?[0-9]+\s*$"
# The files' CSV dialect: quotes inside a field are doubled. Used for reading and for writing raw records back.
CSV_DIALECT = {"escape": '"'}
HEADER_BYTES = 1 << 16  # a header line is a few dozen bytes; the check reads no more than this


class IngestError(UserError, ValueError):
    """The input cannot be ingested at all (a missing file, a wrong header, an unknown encoding)."""


@dataclass(frozen=True)
class Field:
    """One CSV column: its Spark type and what makes a value of it bad."""

    name: str
    type: str  # bigint | int | timestamp | string
    na_means_missing: bool = False  # the Kaggle files write NA where a value is missing
    required: bool = False  # a missing or blank value rejects the row
    size_capped: bool = False  # a value over the configured byte cap rejects the row


@dataclass(frozen=True)
class SourceFile:
    """A StackSample CSV and the bronze table it feeds."""

    file_name: str
    table: str
    fields: tuple[Field, ...]
    keys: tuple[str, ...]

    @property
    def stem(self) -> str:
        """What the names of this source's files start with: a landing folder may hold Questions_2016-01.csv."""
        return self.file_name.removesuffix(".csv")

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def rejected_table(self) -> str:
        return f"{self.table}_rejected"


QUESTIONS = SourceFile(
    "Questions.csv",
    "questions_raw",
    (
        Field("Id", "bigint", required=True),
        Field("OwnerUserId", "bigint", na_means_missing=True),
        Field("CreationDate", "timestamp", na_means_missing=True),
        Field("ClosedDate", "timestamp", na_means_missing=True),
        Field("Score", "int", na_means_missing=True),
        Field("Title", "string", required=True),
        Field("Body", "string", size_capped=True),
    ),
    keys=("Id",),
)

# Tags are kept literally: `null`, `nan` and `NA` are tag names here, never missing values.
TAGS = SourceFile(
    "Tags.csv",
    "tags_raw",
    (
        Field("Id", "bigint", required=True),
        Field("Tag", "string", required=True),
    ),
    keys=("Id", "Tag"),
)

ANSWERS = SourceFile(
    "Answers.csv",
    "answers_raw",
    (
        Field("Id", "bigint", required=True),
        Field("OwnerUserId", "bigint", na_means_missing=True),
        Field("CreationDate", "timestamp", na_means_missing=True),
        Field("ParentId", "bigint", required=True),
        Field("Score", "int", na_means_missing=True),
        Field("Body", "string", size_capped=True),
    ),
    keys=("Id",),
)

SOURCE_FILES = (QUESTIONS, TAGS, ANSWERS)
QUESTION_REFERENCE = {TAGS.table: "Id", ANSWERS.table: "ParentId"}  # the column of a child row naming its question


# --- reading -------------------------------------------------------------------------------------------------------


def java_charset(spark: SparkSession, encoding: str) -> str:
    """The JVM's name for an encoding; Python spellings such as latin-1 are accepted."""
    name = {"latin-1": "ISO-8859-1", "latin1": "ISO-8859-1", "utf8": "UTF-8"}.get(encoding.lower(), encoding)
    if not spark.sparkContext._jvm.java.nio.charset.Charset.isSupported(name):
        raise IngestError(f"unknown encoding {encoding!r} (use UTF-8, or latin-1 for the Kaggle download)")
    return name


def first_line(spark: SparkSession, path: str, charset: str) -> str | None:
    """The first line of the file's first HEADER_BYTES, read by the driver: no Spark job for a few bytes, and a file
    without line breaks is not read whole."""
    file_system, hadoop_path = hadoop_file(spark, path)
    stream = file_system.open(hadoop_path)
    try:
        head = stream.readNBytes(HEADER_BYTES)
    finally:
        stream.close()
    if not head:
        return None
    return re.split(r"\r\n?|\n", spark.sparkContext._jvm.java.lang.String(head, charset), maxsplit=1)[0]


def check_header(spark: SparkSession, path: str, expected: list[str], charset: str) -> None:
    """A file with another header is another file: refuse it whole instead of rejecting every row."""
    line = first_line(spark, path, charset)
    found = [] if line is None else [name.strip().strip('"') for name in line.lstrip("\ufeff").split(",")]
    if found != expected:
        shown = ",".join(found)
        shown = shown if len(shown) <= 200 else shown[:200] + "..."
        raise IngestError(f"{path}: header is {shown or '(empty file)'}, expected {','.join(expected)}")


def qualified_uri(spark: SparkSession, path: str) -> str:
    """The file's full URI as Spark names it (e.g. file:/work/data/Questions.csv): the `source_file` of its rows."""
    file_system, hadoop_path = hadoop_file(spark, path)
    return file_system.makeQualified(hadoop_path).toString()


def read_as_strings(spark: SparkSession, path: str, columns: list[str], encoding: str) -> DataFrame:
    """Every field as a string, so no value is lost to a type error before we can say why it is bad. A record with the
    wrong number of fields keeps its raw text in _corrupt_record. Quoted fields may span lines (HTML bodies do).

    A file that pyarrow can open is read in byte ranges, one task each (see csvsplit): Spark's CSV reader reads a
    multiLine file in one task, one core. Other file systems fall back to Spark's CSV reader, which parses the same.
    """
    uri = qualified_uri(spark, path)
    location = csvsplit.arrow_location(uri) if csvsplit.ascii_compatible(encoding) else None
    if location is not None:
        return csvsplit.read_csv_split(spark, location, columns, CORRUPT_RECORD, encoding).withColumn(
            SOURCE_FILE, F.lit(uri)
        )
    return read_with_spark_csv(spark, uri, columns, encoding)


def read_with_spark_csv(spark: SparkSession, path: str, columns: list[str], encoding: str) -> DataFrame:
    """read_as_strings with Spark's CSV reader. multiLine keeps HTML bodies with newlines whole; escape='"' reads the
    doubled quotes the files use."""
    schema = StructType(
        [StructField(name, StringType()) for name in columns] + [StructField(CORRUPT_RECORD, StringType())]
    )
    return (
        spark.read.schema(schema)
        .options(**CSV_DIALECT)
        .option("header", True)
        .option("multiLine", True)
        .option("encoding", encoding)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        .csv(path)
        .withColumn(SOURCE_FILE, F.col("_metadata.file_path"))
    )


# --- parsing: pure transforms --------------------------------------------------------------------------------------


def present(field: Field) -> Column:
    """The raw value, with the Kaggle NA marker read as missing where the column allows it."""
    value = F.col(field.name)
    return F.when(value == "NA", F.lit(None)).otherwise(value) if field.na_means_missing else value


def parsed(field: Field) -> Column:
    value = present(field)
    if field.type in ("bigint", "int"):
        # SQL's try_cast: Column.try_cast is Spark 4's; the pattern leaves only overflow for it to catch
        return F.when(value.rlike(INTEGER_PATTERN), F.expr(f"try_cast(trim(`{field.name}`) AS {field.type})"))
    if field.type == "timestamp":
        return F.try_to_timestamp(value, F.lit(TIMESTAMP_FORMAT))
    return value


def problem(field: Field, max_bytes: int) -> Column:
    """Why this field makes the row bad, or null."""
    value = present(field)
    checks = []
    if field.required:
        checks.append(F.when(value.isNull() | (F.trim(value) == ""), F.lit(f"empty {field.name}")))
    if field.type != "string":
        label = "non-numeric" if field.type in ("bigint", "int") else "unparsable"
        checks.append(
            F.when(
                value.isNotNull() & parsed(field).isNull(),
                F.format_string(f"{label} {field.name}: %s", F.substring(value, 1, 60)),
            )
        )
    if field.size_capped:
        checks.append(
            F.when(
                F.octet_length(value) > max_bytes,
                F.format_string(f"{field.name} over {max_bytes} bytes: %d", F.octet_length(value)),
            )
        )
    return F.coalesce(*checks) if checks else F.lit(None).cast("string")


def parse_rows(source: SourceFile, max_bytes: int):
    """Raw string rows -> typed columns, a content hash, and `reject_reason` (null for a good row)."""

    def transform(raw: DataFrame) -> DataFrame:
        reason = F.coalesce(
            F.when(F.col(CORRUPT_RECORD).isNotNull(), F.lit(f"wrong field count (expected {len(source.fields)})")),
            *[problem(f, max_bytes) for f in source.fields],
        )
        return raw.select(
            *[parsed(f).alias(f.name) for f in source.fields],
            F.xxhash64(*source.columns).alias(ROW_HASH),
            F.col(SOURCE_FILE),
            reason.alias(REJECT_REASON),
            F.when(
                reason.isNotNull(), F.coalesce(F.col(CORRUPT_RECORD), F.to_csv(F.struct(*source.columns), CSV_DIALECT))
            ).alias("raw_record"),
        )

    return transform


def source_record(source: SourceFile) -> Column:
    """A typed row written back as the CSV line it came from (dates in the source format, NA where missing)."""

    def text(f: Field) -> Column:
        value = F.col(f.name)
        if f.type == "timestamp":
            value = F.date_format(value, "yyyy-MM-dd'T'HH:mm:ss'Z'")
        value = value.cast("string")
        return F.coalesce(value, F.lit("NA")) if f.na_means_missing else value

    return F.to_csv(F.struct(*[text(f).alias(f.name) for f in source.fields]), CSV_DIALECT)


def duplicate_order(source: SourceFile) -> list[Column]:
    """Which of several good rows with one key is kept: the newest, then the highest content hash. A total order on
    the rows' content, so the same row wins on every run and machine whatever the partitioning."""
    newest = [F.col("CreationDate").desc_nulls_last()] if "CreationDate" in source.columns else []
    return newest + [F.col(ROW_HASH).desc()]


def duplicate_keys(rows: DataFrame, source: SourceFile) -> DataFrame:
    """Keys that more than one good row carries (usually none): a narrow aggregation over the keys only."""
    keys = list(source.keys)
    return rows.where(F.col(REJECT_REASON).isNull()).groupBy(*keys).count().where("count > 1").select(*keys)


def flag_duplicates(source: SourceFile, dup_keys: DataFrame):
    """Among good rows with one of `dup_keys`, keep one (see duplicate_order) and reject the others as duplicates.
    Only those rows are ranked; the rest pass through untouched."""
    keys = list(source.keys)

    def transform(rows: DataFrame) -> DataFrame:
        is_good = F.col(REJECT_REASON).isNull()
        marked = rows.join(dup_keys.withColumn("_dup", F.lit(True)), on=keys, how="left")
        contested = F.coalesce(F.col("_dup"), F.lit(False)) & is_good
        rank = F.row_number().over(Window.partitionBy(*keys).orderBy(*duplicate_order(source)))
        label = F.concat_ws("/", *[F.col(k).cast("string") for k in keys])
        resolved = (
            marked.where(contested)
            .withColumn(
                REJECT_REASON,
                F.when(rank > 1, F.format_string("duplicate %s: another row with this key was kept", label)),
            )
            .withColumn("raw_record", F.when(F.col(REJECT_REASON).isNotNull(), source_record(source)))
        )
        return marked.where(~contested).unionByName(resolved).select(*rows.columns)

    return transform


def good_rows(rows: DataFrame, source: SourceFile, run_id: str) -> DataFrame:
    """The bronze table's rows: StackSample's columns plus lineage."""
    return rows.where(F.col(REJECT_REASON).isNull()).select(
        *source.columns, ROW_HASH, SOURCE_FILE, F.lit(run_id).alias("ingest_run_id")
    )


def rejected_rows(rows: DataFrame, run_id: str) -> DataFrame:
    """Quarantine rows: nothing needed to inspect or replay them is lost. `reject_id` makes re-ingest idempotent."""
    return rows.where(F.col(REJECT_REASON).isNotNull()).select(
        F.xxhash64(SOURCE_FILE, "raw_record", REJECT_REASON).alias("reject_id"),
        F.col("raw_record"),
        F.col(REJECT_REASON).alias("reason"),
        F.col(SOURCE_FILE),
        F.lit(run_id).alias("run_id"),
        F.current_timestamp().alias("rejected_at"),
    )


# --- the job's work ------------------------------------------------------------------------------------------------


@dataclass
class FileCounts:
    file_name: str
    table: str
    read: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicates: int = 0
    written: WriteCounts = field(default_factory=WriteCounts)
    orphans: int = 0  # tags or answers whose question is not in questions_raw
    content_hash: int | None = None  # bit_xor of the rows' hashes


class FileChangedError(IngestError):
    """The file changed, or went, between its listing and the write of its rows."""


@dataclass
class IngestResult:
    files: list[FileCounts]  # per table: the sums over its files loaded by this run
    loaded_files: int = 0
    skipped_files: int = 0  # loaded by an earlier run and unchanged
    failed: list[str] = field(default_factory=list)  # "<path>: <reason>" of the files not loaded

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def loaded(self) -> int:
        return sum(f.loaded for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    def details(self) -> dict[str, str]:
        out = {"files.loaded": str(self.loaded_files), "files.skipped": str(self.skipped_files)}
        for f in self.files:
            for name in ("read", "loaded", "rejected", "duplicates", "orphans"):
                out[f"{f.table}.{name}"] = str(getattr(f, name))
            out[f"{f.table}.inserted"] = str(f.written.inserted)
            out[f"{f.table}.updated"] = str(f.written.updated)
        return out

    def summary(self) -> str:
        head = f"{'file':<14}{'read':>10}{'loaded':>10}{'rejected':>10}{'dupes':>8}{'inserted':>10}{'updated':>9}"
        lines = [head, "-" * len(head)]
        for f in self.files:
            lines.append(
                f"{f.file_name:<14}{f.read:>10}{f.loaded:>10}{f.rejected:>10}{f.duplicates:>8}"
                f"{f.written.inserted:>10}{f.written.updated:>9}"
            )
        lines.append(f"{'total':<14}{self.read:>10}{self.loaded:>10}{self.rejected:>10}")
        lines.append(f"files: {self.loaded_files} loaded, {self.skipped_files} loaded before and unchanged (skipped)")
        for f in self.files:
            if f.orphans:
                lines.append(f"{f.table}: {f.orphans} rows refer to a question not in questions_raw (kept)")
        return "\n".join(lines)


def file_counts(rows: DataFrame, source: SourceFile) -> FileCounts:
    """Rows read, loaded and rejected, before any are written, from one aggregation by key. Of the n > 1 good rows
    that share a key, n - 1 will be rejected as duplicates (see flag_duplicates)."""
    per_key = rows.groupBy(*source.keys).agg(
        F.count(F.lit(1)).alias("read"),
        F.count_if(F.col(REJECT_REASON).isNull()).alias("good"),
        F.bit_xor(ROW_HASH).alias("content"),
    )
    read, good, duplicates, content = per_key.agg(
        F.sum("read"), F.sum("good"), F.sum(F.when(F.col("good") > 1, F.col("good") - 1)), F.bit_xor("content")
    ).first()
    read, good, duplicates = read or 0, good or 0, duplicates or 0  # sums of no rows are null
    return FileCounts(
        source.file_name,
        source.table,
        read=read,
        loaded=good - duplicates,
        rejected=read - good + duplicates,
        duplicates=duplicates,
        content_hash=content,
    )


def ingest_file(
    spark: SparkSession,
    path: str,
    source: SourceFile,
    database: str,
    encoding: str,
    max_body_bytes: int,
    run_id: str,
    unchanged: Callable[[], str | None] = lambda: None,
    rows_loaded: Callable[[], None] = lambda: None,
) -> FileCounts:
    """Parse, count and write one file (its header checked already): its good rows to the source's table, then its
    rejected rows. `unchanged` is asked after the count, before any write: a reason there (the file changed, or went)
    stops the file unwritten. `rows_loaded` is called between the two writes."""
    rows = read_as_strings(spark, path, source.columns, encoding).transform(parse_rows(source, max_body_bytes))
    rows = rows.persist()  # parsed once; counted and written from memory
    try:
        counts = file_counts(rows, source)
        changed = unchanged()
        if changed:
            raise FileChangedError(f"{path}: {changed}")
        if counts.duplicates:  # the common case skips this: no join, no shuffle of the rows
            resolved = rows.transform(flag_duplicates(source, F.broadcast(duplicate_keys(rows, source)))).persist()
            rows.unpersist()
            rows = resolved
        counts.written = upsert(
            spark,
            good_rows(rows, source, run_id),
            f"{database}.{source.table}",
            list(source.keys),
            hash_column=ROW_HASH,
        )
        rows_loaded()
        upsert(spark, rejected_rows(rows, run_id), f"{database}.{source.rejected_table}", ["reject_id"])
        return counts
    finally:
        rows.unpersist()


def count_orphans(spark: SparkSession, database: str, children: list[SourceFile]) -> dict[str, int]:
    """Per child table (tags, answers), its rows whose question is absent from questions_raw: kept, but counted and
    reported. One join for all the tables, so questions_raw is read once."""
    references = functools.reduce(
        DataFrame.unionByName,
        [
            spark.table(f"{database}.{child.table}").select(
                F.col(QUESTION_REFERENCE[child.table]).alias("question"), F.lit(child.table).alias("child_table")
            )
            for child in children
        ],
    )
    questions = spark.table(f"{database}.{QUESTIONS.table}").select(F.col("Id").alias("question"))
    orphans = references.join(questions, on="question", how="left_anti").groupBy("child_table").count()
    return {row["child_table"]: row["count"] for row in orphans.collect()}


def load_files(
    spark: SparkSession,
    database: str,
    source: SourceFile,
    todo: list[tuple[landing.ListedFile, str]],
    charset: str,
    max_body_bytes: int,
    run_id: str,
    good_rows_written: Future,
) -> tuple[list[FileCounts], list[str]]:
    """One table's files, one after the other (each a MERGE into the same table); (their counts, "<path>: <reason>"
    of those that failed). `good_rows_written` is resolved once the last file's good rows are in the table, or when
    the files ended otherwise."""
    loaded, failed = [], []
    try:
        for position, (listed, why) in enumerate(todo):
            is_last = position == len(todo) - 1
            outcome = load_file(
                spark,
                database,
                source,
                listed,
                why,
                charset,
                max_body_bytes,
                run_id,
                rows_loaded=(lambda: good_rows_written.set_result(None)) if is_last else (lambda: None),
            )
            if isinstance(outcome, FileCounts):
                loaded.append(outcome)
            else:
                failed.append(f"{listed.path}: {outcome}")
    finally:
        if not good_rows_written.done():
            good_rows_written.set_result(None)
    return loaded, failed


def load_file(
    spark: SparkSession,
    database: str,
    source: SourceFile,
    listed: landing.ListedFile,
    why: str,
    charset: str,
    max_body_bytes: int,
    run_id: str,
    rows_loaded: Callable[[], None],
) -> FileCounts | str:
    """One file loaded whole, or not at all; recorded in ingested_files either way. Its counts, or why it failed."""
    try:
        check_header(spark, listed.path, source.columns, charset)
        if not landing.ends_a_record(spark, listed):
            raise IngestError(f"{listed.path}: it does not end with a line break: cut short, or still being written")
        counts = ingest_file(
            spark,
            listed.path,
            source,
            database,
            charset,
            max_body_bytes,
            run_id,
            unchanged=lambda: landing.still_there(spark, listed),
            rows_loaded=rows_loaded,
        )
    except IngestError as error:
        reason = str(error).removeprefix(f"{listed.path}: ")
    except (Py4JJavaError, FileNotFoundError) as error:
        if not isinstance(error, FileNotFoundError) and "FileNotFoundException" not in str(error):
            raise  # not the file's fault: a bug, or the cluster
        reason = "deleted after it was listed"
    else:
        counts.file_name = listed.path.rsplit("/", 1)[-1]
        outcome = (counts.content_hash, counts.read, counts.loaded, counts.rejected, landing.LOADED)
        landing.record(spark, database, [(listed, source.table, *outcome, None if why == "new" else why, run_id)])
        return counts
    landing.record(spark, database, [(listed, source.table, None, None, None, None, landing.FAILED, reason, run_id)])
    return reason


def orphan_counts(spark: SparkSession, database: str, loaded: dict) -> dict[str, int]:
    """count_orphans for the child tables this run loaded rows into, when there is a questions table to refer to."""
    children = [
        s
        for s in SOURCE_FILES
        if s.table in QUESTION_REFERENCE and s in loaded and spark.catalog.tableExists(f"{database}.{s.table}")
    ]
    if not children or not spark.catalog.tableExists(f"{database}.{QUESTIONS.table}"):
        return {}
    return count_orphans(spark, database, children)


def table_counts(source: SourceFile, files: list[FileCounts]) -> FileCounts:
    """One table's counts summed over its files."""
    total = FileCounts(source.file_name, source.table)
    for f in files:
        total.read, total.loaded, total.rejected = (
            total.read + f.read,
            total.loaded + f.loaded,
            total.rejected + f.rejected,
        )
        total.duplicates += f.duplicates
        total.written = WriteCounts(
            total.written.inserted + f.written.inserted, total.written.updated + f.written.updated
        )
    return total


def ingest(
    spark: SparkSession, source_dir: str, database: str, encoding: str, max_body_bytes: int, run_id: str
) -> IngestResult:
    """Load the StackSample files below a folder on any Hadoop file system that no earlier run loaded
    (stacktags.landing), each recorded in ingested_files. Files that fail are recorded with their reason and the
    others loaded; then an IngestError names the failures (the next run retries them)."""
    charset = java_charset(spark, encoding)
    listed = landing.list_source_files(spark, source_dir, tuple(s.stem for s in SOURCE_FILES))
    if not listed:
        raise IngestError(
            f"no StackSample files under {source_dir}: ingest reads Questions*.csv, Tags*.csv and Answers*.csv"
        )
    todo, skipped = landing.plan(spark, database, listed)
    by_source = {source: [(f, why) for f, why in todo if f.stem == source.stem] for source in SOURCE_FILES}
    by_source = {source: files for source, files in by_source.items() if files}
    if by_source:
        landing.create_table(spark, database)
    # The tables are independent until the orphan counts: each table's files load in a thread of their own, so one
    # table's tasks use the cores while another's driver does its part (planning, Delta commits, small jobs). The
    # orphan counts need the good rows only: they run beside the writes of the rejected rows and the records.
    written = {source: Future() for source in by_source}
    with ThreadPoolExecutor(max(len(by_source), 1)) as pool:
        outcomes = {
            source: pool.submit(
                load_files, spark, database, source, files, charset, max_body_bytes, run_id, written[source]
            )
            for source, files in by_source.items()
        }
        wait(written.values())
        orphans = orphan_counts(spark, database, by_source)
        outcomes = {source: outcome.result() for source, outcome in outcomes.items()}
    # every table the folder has files of, with the sums of this run's (zero for a table with nothing new)
    totals = [
        table_counts(source, outcomes.get(source, ([], []))[0])
        for source in SOURCE_FILES
        if any(f.stem == source.stem for f in listed)
    ]
    failed = [reason for _, failures in outcomes.values() for reason in failures]
    for counts in totals:
        counts.orphans = orphans.get(counts.table, 0)
    result = IngestResult(
        totals, loaded_files=sum(len(files) for files, _ in outcomes.values()), skipped_files=skipped, failed=failed
    )
    if failed:
        raise IngestError(
            f"{len(failed)} of {len(todo)} files not loaded (recorded in {database}.{landing.INGESTED_FILES}; the next "
            f"run retries them): " + "; ".join(failed)
        )
    return result
