"""The parallel reader of multi-line CSV files: byte ranges that split records exactly, and the same rows as Spark's
own CSV reader on the real sample, the faulty fixture and a latin-1 file."""

import pyarrow.fs as pafs
import pytest
from chispa import assert_df_equality
from conftest import FIXTURES, SAMPLE
from pyspark.sql import functions as F

from stacktags import csvsplit
from stacktags.ingest import CORRUPT_RECORD, QUESTIONS, SOURCE_FILES, qualified_uri, read_with_spark_csv

# Quoted newlines (LF and CRLF), doubled quotes, a quote at a range edge, an empty quoted field, a short record,
# and no newline at the end.
TRICKY = (
    "Id,Title,Body\n"
    '1,"a ""quoted"" title","<p>line one\nline two</p>"\n'
    '2,plain,"<pre>x = ""\r\n\r\n""</pre>"\r\n'
    '3,"",\n'
    "4,short\n"
    '5,"comma, inside","""\n"""\n'
    '6,last,"no newline at the end"'
)


def records_of(path, max_bytes):
    """The records' bytes of every range, in order."""
    location = csvsplit.arrow_location(f"file:{path}")
    size = path.stat().st_size
    ranges = csvsplit.plan_ranges(size, max_bytes)
    counts = [csvsplit.quote_count(location, r.start, r.end) for r in ranges]
    return [csvsplit.range_records(location, r, size) for r in csvsplit.with_quote_states(ranges, counts)]


@pytest.mark.parametrize("max_bytes", range(1, len(TRICKY) + 2))
def test_ranges_of_any_size_hold_every_record_once_and_whole(tmp_path, max_bytes):
    path = tmp_path / "tricky.csv"
    path.write_bytes(TRICKY.encode())
    pieces = records_of(path, max_bytes)
    assert b"".join(pieces) == TRICKY.encode().split(b"\n", 1)[1]  # all but the header, in order, nothing twice
    rows = [
        row
        for piece in pieces
        for batch in csvsplit.parse_records(piece, ["Id", "Title", "Body"], "bad")
        for row in batch.to_pylist()
    ]
    assert sorted(rows, key=lambda r: r["Id"] or r["bad"]) == [
        {"Id": "1", "Title": 'a "quoted" title', "Body": "<p>line one\nline two</p>", "bad": None},
        {"Id": "2", "Title": "plain", "Body": '<pre>x = "\r\n\r\n"</pre>', "bad": None},
        {"Id": "3", "Title": "", "Body": None, "bad": None},  # quoted empty: ''; unquoted empty: null
        {"Id": None, "Title": None, "Body": None, "bad": "4,short"},
        {"Id": "5", "Title": "comma, inside", "Body": '"\n"', "bad": None},
        {"Id": "6", "Title": "last", "Body": "no newline at the end", "bad": None},
    ]


def test_plan_covers_the_file_with_as_few_ranges_as_the_cap_allows():
    ranges = csvsplit.plan_ranges(1000, 300)
    assert [(r.start, r.end) for r in ranges] == [(0, 250), (250, 500), (500, 750), (750, 1000)]
    assert csvsplit.plan_ranges(0, 300) == [csvsplit.ByteRange(0, 0)]


def test_undecodable_bytes_become_replacement_characters():
    assert csvsplit.as_utf8(b"caf\xe9", "UTF-8") == "caf\ufffd".encode()
    assert csvsplit.as_utf8(b"caf\xe9", "ISO-8859-1") == "café".encode()


def test_valid_utf8_passes_unchanged_and_any_invalid_sequence_is_caught():
    text = "naïve café 日本語 🎉\n".encode() * 3
    assert csvsplit.as_utf8(text, "UTF-8") is text
    assert csvsplit.is_utf8(b"") and csvsplit.is_utf8(text)
    for bad in (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf0\x9f\x8e"):  # stray, truncated, surrogate, cut emoji
        assert not csvsplit.is_utf8(text + bad + text)


def test_only_ascii_compatible_encodings_and_reachable_file_systems_are_split():
    assert csvsplit.ascii_compatible("UTF-8") and csvsplit.ascii_compatible("ISO-8859-1")
    assert not csvsplit.ascii_compatible("UTF-16") and not csvsplit.ascii_compatible("x-no-such-charset")
    assert isinstance(csvsplit.arrow_location("file:/tmp/x.csv")[0], pafs.LocalFileSystem)
    assert csvsplit.arrow_location("nosuchscheme://bucket/x.csv") is None


def comparable(df):
    """A good row is compared whole; a corrupt one by its raw text (Spark also fills the fields it could read)."""
    fields = [c for c in df.columns if c != CORRUPT_RECORD]
    return df.select(*[F.when(F.col(CORRUPT_RECORD).isNull(), F.col(c)).alias(c) for c in fields], CORRUPT_RECORD)


@pytest.mark.parametrize(
    "folder, encoding", [(SAMPLE, "UTF-8"), (FIXTURES / "faulty", "UTF-8"), ("latin1", "ISO-8859-1")]
)
def test_same_rows_as_sparks_csv_reader(spark, tmp_path, folder, encoding):
    if folder == "latin1":
        folder = tmp_path
        text = (SAMPLE / "Questions.csv").read_text(encoding="utf-8")
        (folder / "Questions.csv").write_bytes(text.encode("latin-1", errors="replace"))
    # Small ranges, so many range edges fall inside multi-line bodies.
    spark.conf.set("spark.sql.files.maxPartitionBytes", 64 * 1024)
    try:
        for source in SOURCE_FILES:
            path = folder / source.file_name
            if not path.exists():
                continue
            uri = qualified_uri(spark, str(path))
            split = csvsplit.read_csv_split(
                spark, csvsplit.arrow_location(uri), source.columns, CORRUPT_RECORD, encoding
            )
            whole = read_with_spark_csv(spark, uri, source.columns, encoding).drop("source_file")
            assert split.rdd.getNumPartitions() == len(csvsplit.plan_ranges(path.stat().st_size, 64 * 1024))
            assert_df_equality(comparable(split), comparable(whole), ignore_row_order=True)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")


def test_a_file_system_pyarrow_cannot_open_is_read_by_spark(spark, monkeypatch):
    monkeypatch.setattr(csvsplit, "arrow_location", lambda uri: None)
    from stacktags.ingest import read_as_strings

    rows = read_as_strings(spark, str(SAMPLE / "Questions.csv"), QUESTIONS.columns, "UTF-8")
    assert "csv" in rows._jdf.queryExecution().optimizedPlan().toString().lower()
    assert rows.count() == 2000
