"""End-to-end ingest through the job's entry point: real sample, faulty rows, encodings, reruns, run records."""

import csv
import shutil

import pytest
from conftest import FIXTURES, SAMPLE, SHARED_DATA, csv_row_count, job_arguments, load_job, test_config
from deltalake import DeltaTable as DeltaRsTable

from stacktags.ingest import QUESTIONS, IngestError, check_header

ingest_job = load_job("ingest")

BRONZE = ("questions_raw", "tags_raw", "answers_raw")


def run_ingest(cfg, source, *extra):
    max_body = f"ingest.max_body_bytes={cfg.require('ingest', 'max_body_bytes')}"
    ingest_job.main([*job_arguments(cfg, max_body), "--source", str(source), *extra])


def count(spark, cfg, table):
    return spark.table(cfg.table(table)).count()


def versions(spark, cfg, tables):
    return {t: spark.sql(f"DESCRIBE HISTORY {cfg.table(t)} LIMIT 1").first()["version"] for t in tables}


def last_run(spark, cfg):
    return spark.sql(f"SELECT * FROM {cfg.table('job_runs')} ORDER BY ended_at DESC LIMIT 1").first()


@pytest.fixture(scope="module")
def sample_cfg(spark, warehouse):
    """The bundled sample, ingested once for the tests of this module that only read it."""
    cfg = test_config(warehouse, "sample_ingest")
    run_ingest(cfg, SAMPLE)
    return cfg


def test_sample_counts_match_pythons_csv_module(spark, sample_cfg, capsys):
    expected = {
        table: csv_row_count(SAMPLE / name) for table, name in zip(BRONZE, ("Questions.csv", "Tags.csv", "Answers.csv"))
    }
    assert {table: count(spark, sample_cfg, table) for table in BRONZE} == expected
    assert all(count(spark, sample_cfg, f"{t}_rejected") == 0 for t in BRONZE)
    run = last_run(spark, sample_cfg)
    assert run["status"] == "succeeded" and run["job"] == "ingest"
    assert run["rows_in"] == sum(expected.values()) == run["rows_out"] and run["rows_rejected"] == 0


def test_real_tags_null_and_nan_are_kept(spark, sample_cfg):
    tags = {row["Tag"] for row in spark.table(sample_cfg.table("tags_raw")).select("Tag").collect()}
    assert {"null", "nan"} <= tags


def test_bodies_with_newlines_and_quotes_arrive_whole(spark, sample_cfg):
    with (SAMPLE / "Questions.csv").open(newline="", encoding="utf-8") as handle:
        expected = {int(row["Id"]): row["Body"] for row in csv.DictReader(handle)}
    got = {
        row["Id"]: row["Body"] for row in spark.table(sample_cfg.table("questions_raw")).select("Id", "Body").collect()
    }
    assert got == expected


def test_another_delta_reader_sees_the_same_counts(spark, sample_cfg):
    for table in BRONZE:
        location = spark.sql(f"DESCRIBE DETAIL {sample_cfg.table(table)}").first()["location"]
        assert DeltaRsTable(location).to_pyarrow_dataset().count_rows() == count(spark, sample_cfg, table)


def test_second_run_changes_no_table(spark, sample_cfg):
    tables = [*BRONZE, *(f"{t}_rejected" for t in BRONZE)]
    before = versions(spark, sample_cfg, tables)
    run_ingest(sample_cfg, SAMPLE)
    assert versions(spark, sample_cfg, tables) == before
    run = last_run(spark, sample_cfg)
    assert run["status"] == "succeeded" and run["details"]["questions_raw.inserted"] == "0"


def test_changed_rows_are_updated_and_new_rows_inserted(spark, fresh_cfg, tmp_path):
    cfg = fresh_cfg()
    source = tmp_path / "v1"
    shutil.copytree(FIXTURES / "faulty", source)
    run_ingest(cfg, source)
    questions = (source / "Questions.csv").read_text()
    edited = questions.replace("Missing values are fine", "Missing values are still fine")
    edited += "12,1,2012-01-01T00:00:00Z,NA,0,A new question,<p>new</p>\n"
    (source / "Questions.csv").write_text(edited)
    run_ingest(cfg, source)
    details = last_run(spark, cfg)["details"]
    assert (details["questions_raw.inserted"], details["questions_raw.updated"]) == ("1", "1")
    titles = {r["Id"]: r["Title"] for r in spark.table(cfg.table("questions_raw")).collect()}
    assert titles[10] == "Missing values are still fine" and titles[12] == "A new question"


@pytest.fixture(scope="module")
def faulty_cfg(spark, warehouse):
    """tests/fixtures/faulty (one row for each way a row can be bad), ingested once with a 200-byte body cap."""
    cfg = test_config(warehouse, "faulty_ingest", "ingest.max_body_bytes=200")
    run_ingest(cfg, FIXTURES / "faulty")
    return cfg


def test_every_bad_row_is_quarantined_with_its_reason(spark, faulty_cfg):
    cfg = faulty_cfg

    def rejected(table):
        return {row["reason"]: row["raw_record"] for row in spark.table(cfg.table(f"{table}_rejected")).collect()}

    questions = rejected("questions_raw")
    assert set(questions) == {
        "non-numeric Id: x2",
        "unparsable CreationDate: yesterday",
        "non-numeric Score: lots",
        "empty Title",
        "Body over 200 bytes: 307",
        "wrong field count (expected 7)",
        "duplicate 9: another row with this key was kept",
    }
    # Both wrong-count rows share the reason; check that each is there, raw.
    raw_records = [r["raw_record"] for r in spark.table(cfg.table("questions_raw_rejected")).collect()]
    assert "7,10,2010-01-01T10:00:00Z,NA,5,Too few fields" in raw_records
    assert "8,10,2010-01-01T10:00:00Z,NA,5,Too many fields,<p>b</p>,extra" in raw_records
    assert questions["duplicate 9: another row with this key was kept"].endswith("Duplicate older,<p>old</p>")
    kept = {r["Id"]: r for r in spark.table(cfg.table("questions_raw")).collect()}
    assert sorted(kept) == [1, 9, 10, 11]
    assert kept[9]["Title"] == "Duplicate newer"
    assert kept[10]["OwnerUserId"] is None and kept[10]["CreationDate"] is None and kept[10]["Score"] is None
    assert kept[11]["Title"] == "NA" and kept[11]["Score"] == -3
    assert kept[1]["Body"] == '<p>Body with "quotes" and\na newline</p>'

    assert set(rejected("tags_raw")) == {
        "non-numeric Id: y",
        "empty Tag",
        "duplicate 1/python: another row with this key was kept",
    }
    assert sorted((r["Id"], r["Tag"]) for r in spark.table(cfg.table("tags_raw")).collect()) == [
        (1, "nan"),
        (1, "null"),
        (1, "python"),
        (99, "orphan"),
    ]
    assert set(rejected("answers_raw")) == {"non-numeric ParentId: zz"}

    run = last_run(spark, cfg)
    assert (run["rows_in"], run["rows_out"], run["rows_rejected"]) == (12 + 7 + 3, 4 + 4 + 2, 8 + 3 + 1)
    details = run["details"]
    assert details["tags_raw.orphans"] == "1" and details["answers_raw.orphans"] == "1"
    for table in BRONZE:
        assert int(details[f"{table}.read"]) == int(details[f"{table}.loaded"]) + int(details[f"{table}.rejected"])
        assert int(details[f"{table}.rejected"]) == count(spark, cfg, f"{table}_rejected")


def test_rerun_over_faulty_files_quarantines_nothing_twice(spark, faulty_cfg):
    tables = [*BRONZE, *(f"{t}_rejected" for t in BRONZE)]
    before = versions(spark, faulty_cfg, tables)
    run_ingest(faulty_cfg, FIXTURES / "faulty")
    assert versions(spark, faulty_cfg, tables) == before
    assert count(spark, faulty_cfg, "questions_raw_rejected") == 8


def test_latin1_file_with_the_encoding_option(spark, fresh_cfg, tmp_path):
    source = tmp_path / "latin1"
    source.mkdir()
    for name in ("Questions.csv", "Tags.csv"):
        text = (SAMPLE / name).read_text(encoding="utf-8")
        (source / name).write_bytes(text.encode("latin-1", errors="replace"))  # as in the Kaggle download
    accented = [
        line
        for line in (SAMPLE / "Questions.csv").read_text().splitlines()
        if any("\u00c0" <= ch <= "\u00ff" for ch in line)
    ]
    assert accented, "the sample should hold Latin-1 letters"

    cfg = fresh_cfg()
    run_ingest(cfg, source, "--encoding", "latin-1")
    assert count(spark, cfg, "questions_raw") == csv_row_count(SAMPLE / "Questions.csv")
    text = " ".join(r["Title"] + r["Body"] for r in spark.table(cfg.table("questions_raw")).collect())
    letters = {ch for line in accented for ch in line if "\u00c0" <= ch <= "\u00ff"}
    assert letters <= set(text) and "\ufffd" not in text


def test_a_folder_without_stacksample_files_fails_clearly_and_is_recorded(spark, fresh_cfg, tmp_path):
    cfg = fresh_cfg()
    with pytest.raises(IngestError, match="no StackSample files under .*: ingest reads Questions\\*.csv"):
        run_ingest(cfg, tmp_path)
    run = last_run(spark, cfg)
    assert run["status"] == "failed" and "no StackSample files under" in run["error"]


def test_a_file_with_another_header_is_refused_whole(spark, fresh_cfg, tmp_path):
    (tmp_path / "Questions.csv").write_text("Id,Title\n1,hello\n")
    (tmp_path / "Tags.csv").write_text("Id,Tag\n1,python\n")
    cfg = fresh_cfg()
    with pytest.raises(IngestError, match="header is Id,Title, expected Id,OwnerUserId"):
        run_ingest(cfg, tmp_path)
    assert not spark.catalog.tableExists(cfg.table("questions_raw"))
    (tmp_path / "Questions.csv").write_text("")
    with pytest.raises(IngestError, match=r"header is \(empty file\)"):
        run_ingest(cfg, tmp_path)
    (tmp_path / "Questions.csv").write_text("x" * 3_000_000)  # no line break at all: not read whole, not echoed
    with pytest.raises(IngestError, match=r"header is x{200}\.\.\., expected Id,") as refused:
        run_ingest(cfg, tmp_path)
    assert len(str(refused.value)) < 500


def test_the_header_is_read_in_the_files_encoding_with_or_without_a_byte_order_mark(spark, fresh_cfg, tmp_path):
    header = ",".join(f'"{name}"' for name in QUESTIONS.columns) + "\n1,NA,NA,NA,1,t,b\n"
    for encoding, data in [("UTF-8", "\ufeff" + header), ("UTF-16", header), ("ISO-8859-1", header)]:
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(data.encode(encoding))
        check_header(spark, str(path), QUESTIONS.columns, encoding)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs ../shared/data beside the clone")
def test_so_dev_counts(spark, fresh_cfg):
    cfg = fresh_cfg()
    run_ingest(cfg, SHARED_DATA / "so-dev")
    assert [count(spark, cfg, t) for t in BRONZE] == [10280, 33567, 5800]
    assert all(count(spark, cfg, f"{t}_rejected") == 0 for t in BRONZE)
