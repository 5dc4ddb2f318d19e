"""Read one large multi-line CSV file in parallel: byte ranges parsed by many tasks, every record exactly once.

Spark's CSV reader cannot split a multiLine file, so a 1.3 GB Questions.csv is one task on one core however big the
cluster. This reader splits it anyway. In the files' dialect a quote inside a field is doubled, so a byte is inside a
quoted field exactly when an odd number of quotes precede it. One cheap pass counts the quotes of each byte range; then
each task knows the quote state where its range starts, finds the first record that starts in its range (after an
unquoted newline) and parses the records that start there, with pyarrow's CSV parser.

Each record belongs to the range its first byte falls in, so the ranges' records add up to the file's. A record with
the wrong number of fields keeps its raw text in the corrupt-record column, as Spark's PERMISSIVE mode does.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
from pyspark.sql import DataFrame, SparkSession

READ_BLOCK = 16 << 20  # bytes read per call while counting quotes or looking for a record start
# URI schemes the JVM knows under other names than pyarrow does.
ARROW_SCHEMES = {"s3a": "s3", "s3n": "s3"}


@dataclass(frozen=True)
class ByteRange:
    """Bytes [start, end) of the file; `in_quotes` is the quote state at `start` (and `end_in_quotes` at `end`)."""

    start: int
    end: int
    in_quotes: bool = False
    end_in_quotes: bool = False


def arrow_location(uri: str) -> tuple[pafs.FileSystem, str] | None:
    """The pyarrow file system and path for a Hadoop-style URI (file:, s3://, gs://, hdfs:// where libhdfs is
    installed), or None when pyarrow cannot reach it."""
    scheme, sep, rest = uri.partition("://")
    if sep and scheme in ARROW_SCHEMES:
        uri = f"{ARROW_SCHEMES[scheme]}://{rest}"
    if uri.startswith("file:"):
        uri = "/" + uri[len("file:") :].lstrip("/")
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowException, OSError, ValueError):
        return None


def ascii_compatible(encoding: str) -> bool:
    """Quotes and newlines are the bytes 0x22 and 0x0A (UTF-8, latin-1, cp1252; not UTF-16)."""
    try:
        return '"\n'.encode(codecs.lookup(encoding).name) == b'"\n'
    except LookupError:  # a charset only the JVM knows
        return False


def plan_ranges(size: int, max_bytes: int) -> list[ByteRange]:
    """As few equal byte ranges of at most `max_bytes` as cover the file."""
    count = max(1, -(-size // max_bytes))
    step = max(1, -(-size // count))
    return [ByteRange(start, min(start + step, size)) for start in range(0, size, step)] or [ByteRange(0, 0)]


def quote_count(location: tuple[pafs.FileSystem, str], start: int, end: int) -> int:
    fs, path = location
    total = 0
    with fs.open_input_file(path) as f:
        f.seek(start)
        for offset in range(start, end, READ_BLOCK):
            total += f.read(min(READ_BLOCK, end - offset)).count(b'"')
    return total


def with_quote_states(ranges: list[ByteRange], quote_counts: list[int]) -> list[ByteRange]:
    """Give each range the quote state at its ends: the parity of all quotes before."""
    out, before = [], 0
    for byte_range, count in zip(ranges, quote_counts):
        out.append(ByteRange(byte_range.start, byte_range.end, before % 2 == 1, (before + count) % 2 == 1))
        before += count
    return out


def record_start(f: pa.NativeFile, position: int, in_quotes: bool, size: int) -> int:
    """The first record start at or after `position`: 0, or one past a newline outside quotes."""
    if position == 0:
        return 0
    # A record starts at `position` itself when the byte before it is an unquoted newline (a newline does not change
    # the quote state, so the state before it is the state at `position`).
    if f.read_at(1, position - 1) == b"\n" and not in_quotes:
        return position
    return past_next_newline(f, position, in_quotes, size)


def past_next_newline(f: pa.NativeFile, position: int, in_quotes: bool, size: int) -> int:
    """One past the first newline outside quotes at or after `position`, or the file's size if there is none."""
    f.seek(position)
    offset = position
    while offset < size:
        block = f.read(min(READ_BLOCK, size - offset))
        at = 0
        while True:
            quote = block.find(b'"', at)
            if not in_quotes:
                newline = block.find(b"\n", at)
                if newline != -1 and (quote == -1 or newline < quote):
                    return offset + newline + 1
            if quote == -1:
                break
            in_quotes, at = not in_quotes, quote + 1
        offset += len(block)
    return size


def range_records(location: tuple[pafs.FileSystem, str], byte_range: ByteRange, size: int) -> bytes:
    """The bytes of the records that start in the range, the file's header excluded."""
    fs, path = location
    with fs.open_input_file(path) as f:
        if byte_range.start == 0:
            first = past_next_newline(f, 0, False, size)  # skip the header
        else:
            first = record_start(f, byte_range.start, byte_range.in_quotes, size)
        last = size if byte_range.end >= size else record_start(f, byte_range.end, byte_range.end_in_quotes, size)
        return f.read_at(last - first, first) if last > first else b""


def as_utf8(data: bytes, encoding: str) -> bytes:
    """The bytes as UTF-8. Undecodable bytes become U+FFFD, as in Spark's CSV reader, instead of failing the file."""
    if codecs.lookup(encoding).name == "utf-8" and is_utf8(data):
        return data
    return data.decode(encoding, errors="replace").encode("utf-8")


def is_utf8(data: bytes) -> bool:
    """Checked in place by Arrow's validator, without decoding the bytes into a Python str."""
    offsets = pa.array([0, len(data)], pa.int64()).buffers()[1]
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
        return True
    except pa.ArrowInvalid:
        return False


def parse_records(data: bytes, columns: list[str], corrupt_column: str) -> Iterator[pa.RecordBatch]:
    """CSV records -> string batches: `columns` plus `corrupt_column`, which holds the raw text of a record with the
    wrong number of fields (its other columns are null). An unquoted empty field is null, a quoted one is ''."""
    schema = pa.schema([(name, pa.string()) for name in columns + [corrupt_column]])
    if not data.strip():
        return
    corrupt: list[str] = []

    def keep_corrupt(row) -> str:
        corrupt.append(row.text.rstrip("\r\n"))
        return "skip"

    reader = pacsv.open_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(column_names=columns, use_threads=False, block_size=8 << 20),
        parse_options=pacsv.ParseOptions(
            newlines_in_values=True, double_quote=True, escape_char=False, invalid_row_handler=keep_corrupt
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in columns},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    for batch in reader:
        yield pa.RecordBatch.from_arrays([*batch.columns, pa.nulls(batch.num_rows, pa.string())], schema=schema)
    if corrupt:
        nulls = [pa.nulls(len(corrupt), pa.string()) for _ in columns]
        yield pa.RecordBatch.from_arrays([*nulls, pa.array(corrupt, pa.string())], schema=schema)


def range_bytes(spark: SparkSession, size: int) -> int:
    """Spark's own rule for splitting a file (FilePartition.maxSplitBytes): at most spark.sql.files.maxPartitionBytes,
    less when that would leave cores idle, never under spark.sql.files.openCostInBytes."""
    conf = spark._jsparkSession.sessionState().conf()
    per_core = -(-size // spark.sparkContext.defaultParallelism)
    return min(conf.filesMaxPartitionBytes(), max(conf.filesOpenCostInBytes(), per_core))


def read_csv_split(
    spark: SparkSession, location: tuple[pafs.FileSystem, str], columns: list[str], corrupt_column: str, encoding: str
) -> DataFrame:
    """The file's records as string columns plus `corrupt_column`, read by one task per byte range.

    `location` comes from `arrow_location`. The quote-counting pass runs now; the parse runs with the DataFrame's
    actions."""
    size = location[0].get_file_info(location[1]).size
    ranges = plan_ranges(size, range_bytes(spark, size))
    # One task per range, on a JVM-made input (spark.range with one id per partition), so no Python stage feeds it.
    range_ids = spark.range(0, len(ranges), 1, len(ranges))
    counts = {
        row.id: row.quotes
        for row in range_ids.mapInArrow(
            lambda batches: count_quotes(batches, location, ranges), "id long, quotes long"
        ).collect()
    }
    ranges = with_quote_states(ranges, [counts[i] for i in range(len(ranges))])

    def parse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for index in batch.column("id").to_pylist():
                data = range_records(location, ranges[index], size)
                yield from parse_records(as_utf8(data, encoding), columns, corrupt_column)

    schema = ", ".join(f"`{name}` string" for name in columns + [corrupt_column])
    return range_ids.mapInArrow(parse, schema)


def count_quotes(
    batches: Iterator[pa.RecordBatch], location: tuple[pafs.FileSystem, str], ranges: list[ByteRange]
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        ids = batch.column("id").to_pylist()
        quotes = [quote_count(location, ranges[i].start, ranges[i].end) for i in ids]
        yield pa.RecordBatch.from_pydict({"id": ids, "quotes": quotes})
