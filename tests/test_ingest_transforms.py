"""The parsing transforms of ingest, each on a tiny DataFrame of raw string rows."""

from datetime import datetime

from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from stacktags.ingest import (
    CORRUPT_RECORD,
    QUESTIONS,
    REJECT_REASON,
    ROW_HASH,
    SOURCE_FILE,
    TAGS,
    duplicate_keys,
    file_counts,
    flag_duplicates,
    parse_rows,
    present,
    source_record,
)

RAW_QUESTION_COLUMNS = QUESTIONS.columns + [CORRUPT_RECORD, SOURCE_FILE]


def raw_questions(spark, rows):
    schema = StructType([StructField(name, StringType()) for name in RAW_QUESTION_COLUMNS])
    return spark.createDataFrame(
        [(*row, None, "file:/in/Questions.csv") if len(row) == 7 else row for row in rows], schema
    )


def reasons(df):
    return {row["Id"] if row["Id"] is not None else row["Title"]: row[REJECT_REASON] for row in df.collect()}


def test_na_is_missing_only_where_the_column_allows_it(spark):
    owner = next(f for f in QUESTIONS.fields if f.name == "OwnerUserId")
    title = next(f for f in QUESTIONS.fields if f.name == "Title")
    df = spark.createDataFrame([("NA", "NA"), ("7", "NA title")], ["OwnerUserId", "Title"])
    out = df.select(present(owner).alias("OwnerUserId"), present(title).alias("Title"))
    expected = spark.createDataFrame([(None, "NA"), ("7", "NA title")], "OwnerUserId string, Title string")
    assert_df_equality(out, expected, ignore_nullable=True)


def test_good_question_is_typed_and_not_rejected(spark):
    raw = raw_questions(spark, [("6", "9", "2008-07-31T21:42:52Z", "NA", "256", "Title", "<p>Body</p>")])
    row = raw.transform(parse_rows(QUESTIONS, 1000)).first()
    assert row["Id"] == 6 and row["OwnerUserId"] == 9 and row["Score"] == 256
    assert row["CreationDate"] == datetime(2008, 7, 31, 21, 42, 52)  # session time zone is UTC
    assert row["ClosedDate"] is None and row[REJECT_REASON] is None and row["raw_record"] is None
    assert isinstance(row[ROW_HASH], int)


def test_each_bad_field_gets_its_reason(spark):
    good = ["1", "9", "2008-07-31T21:42:52Z", "NA", "1", "Title", "<p>b</p>"]

    def variant(**changes):
        row = list(good)
        for name, value in changes.items():
            row[QUESTIONS.columns.index(name)] = value
        return row

    raw = raw_questions(
        spark,
        [
            variant(Id="abc", Title="t-id"),
            variant(Id="2", CreationDate="yesterday"),
            variant(Id="3", ClosedDate="2008-13-45T00:00:00Z"),
            variant(Id="4", Score="lots"),
            variant(Id="5", Title="   "),
            variant(Id="6", Body="x" * 11),
            variant(Id="7", OwnerUserId="NA", CreationDate="NA", Score="NA"),
            variant(Id="8", Score="1.5"),
        ],
    )
    got = reasons(raw.transform(parse_rows(QUESTIONS, 10)))
    assert got == {
        "t-id": "non-numeric Id: abc",
        2: "unparsable CreationDate: yesterday",
        3: "unparsable ClosedDate: 2008-13-45T00:00:00Z",
        4: "non-numeric Score: lots",
        5: "empty Title",
        6: "Body over 10 bytes: 11",
        7: None,
        8: "non-numeric Score: 1.5",
    }


def test_wrong_field_count_keeps_the_raw_record(spark):
    raw = raw_questions(
        spark,
        [
            (
                "7",
                "1",
                "2010-01-01T00:00:00Z",
                "NA",
                "5",
                "Too few",
                None,
                "7,1,2010-01-01T00:00:00Z,NA,5,Too few",
                "file:/in/Questions.csv",
            )
        ],
    )
    row = raw.transform(parse_rows(QUESTIONS, 1000)).first()
    assert row[REJECT_REASON] == "wrong field count (expected 7)"
    assert row["raw_record"] == "7,1,2010-01-01T00:00:00Z,NA,5,Too few"


def test_rejected_row_keeps_its_fields_as_a_csv_record(spark):
    raw = raw_questions(spark, [("x", "NA", "NA", "NA", "1", 'Say "hi"', "<p>a,b</p>")])
    row = raw.transform(parse_rows(QUESTIONS, 1000)).first()
    assert row["raw_record"] == 'x,NA,NA,NA,1,"Say ""hi""","<p>a,b</p>"'


def test_tags_are_kept_literally(spark):
    raw = spark.createDataFrame(
        [("1", "null", None, "f"), ("1", "nan", None, "f"), ("1", "NA", None, "f")],
        ", ".join(f"{c} string" for c in TAGS.columns + [CORRUPT_RECORD, SOURCE_FILE]),
    )
    out = raw.transform(parse_rows(TAGS, 100)).select("Tag", REJECT_REASON)
    expected = spark.createDataFrame(
        [("null", None), ("nan", None), ("NA", None)],
        StructType([StructField("Tag", StringType()), StructField(REJECT_REASON, StringType())]),
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def parsed_questions(spark, rows):
    return raw_questions(spark, rows).transform(parse_rows(QUESTIONS, 1000))


def resolve_duplicates(rows):
    return rows.transform(flag_duplicates(QUESTIONS, duplicate_keys(rows, QUESTIONS)))


def test_duplicate_keys_are_those_of_several_good_rows(spark):
    rows = parsed_questions(
        spark,
        [
            ("1", "1", "2010-01-01T00:00:00Z", "NA", "5", "a", "b"),
            ("1", "1", "2010-01-01T00:00:00Z", "NA", "5", "a2", "b"),
            ("2", "1", "2010-01-01T00:00:00Z", "NA", "5", "c", "d"),
            ("2", "1", "2010-01-01T00:00:00Z", "NA", "x", "bad", "d"),
        ],
    )
    assert [r["Id"] for r in duplicate_keys(rows, QUESTIONS).collect()] == [1]


def test_file_counts_foresee_the_duplicates_that_resolving_rejects(spark):
    row = ("1", "1", "2010-01-01T00:00:00Z", "NA", "5", "a", "b")
    rows = parsed_questions(
        spark, [row, row, row, ("2", *row[1:]), ("2", *row[1:4], "x", "bad", "d"), ("3", *row[1:]), ("", *row[1:])]
    )
    counts = file_counts(rows, QUESTIONS)
    assert (counts.read, counts.loaded, counts.rejected, counts.duplicates) == (7, 3, 4, 2)
    resolved = rows.transform(resolve_duplicates)
    assert resolved.where(F.col(REJECT_REASON).isNull()).count() == counts.loaded
    assert resolved.where(F.col(REJECT_REASON).startswith("duplicate")).count() == counts.duplicates
    empty = file_counts(rows.limit(0), QUESTIONS)
    assert (empty.read, empty.loaded, empty.rejected, empty.duplicates) == (0, 0, 0, 0)


def test_duplicates_keep_the_newest_row_whatever_the_input_order(spark):
    older = ("9", "1", "2010-01-01T00:00:00Z", "NA", "5", "older", "<p>old</p>")
    newer = ("9", "1", "2011-01-01T00:00:00Z", "NA", "5", "newer", "<p>new</p>")
    other = ("10", "1", "2011-01-01T00:00:00Z", "NA", "5", "other", "<p>x</p>")
    for rows in ([older, newer, other], [newer, other, older]):
        out = parsed_questions(spark, rows).transform(resolve_duplicates)
        got = {row["Title"]: row[REJECT_REASON] for row in out.collect()}
        assert got == {"newer": None, "other": None, "older": "duplicate 9: another row with this key was kept"}
        kept_out = out.where(F.col("Title") == "older").first()["raw_record"]
        assert kept_out == "9,1,2010-01-01T00:00:00Z,NA,5,older,<p>old</p>"


def test_a_bad_row_does_not_compete_with_a_good_one_for_its_key(spark):
    bad = ("9", "1", "2012-01-01T00:00:00Z", "NA", "many", "bad score", "<p>b</p>")
    good = ("9", "1", "2010-01-01T00:00:00Z", "NA", "5", "good", "<p>g</p>")
    out = parsed_questions(spark, [bad, good]).transform(resolve_duplicates)
    assert {row["Title"]: row[REJECT_REASON] for row in out.collect()} == {
        "bad score": "non-numeric Score: many",
        "good": None,
    }


def test_source_record_writes_a_typed_row_back_in_the_source_format(spark):
    row = ("12", "NA", "2009-02-03T04:05:06Z", "NA", "-2", "t", '<p>multi\nline "q"</p>')
    line = '12,NA,2009-02-03T04:05:06Z,NA,-2,t,"<p>multi\nline ""q""</p>"'
    df = parsed_questions(spark, [row]).select(source_record(QUESTIONS).alias("record"), F.lit(line).alias("expected"))
    assert_column_equality(df, "record", "expected")


def test_row_hash_changes_with_content_only(spark):
    a = ("1", "2", "2010-01-01T00:00:00Z", "NA", "5", "t", "<p>x</p>")
    b = ("1", "2", "2010-01-01T00:00:00Z", "NA", "6", "t", "<p>x</p>")
    hashes = [r[ROW_HASH] for r in parsed_questions(spark, [a, a, b]).orderBy("Score").collect()]
    assert hashes[0] == hashes[1] != hashes[2]
    assert parsed_questions(spark, [a]).schema[ROW_HASH].dataType == LongType()
