"""The landing zone (stacktags.landing) through the ingest job: files dripping in over several runs load exactly once
and give the tables a one-shot ingest gives; a file cut short, changed, or gone is recorded with its reason and never
half-loaded; a failed file is retried alone on the next run."""

import csv
import os
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE, job_arguments, load_job
from pyspark.sql import functions as F

from stacktags import landing
from stacktags.ingest import QUESTIONS, TAGS, IngestError

ingest_job = load_job("ingest")
csv.field_size_limit(sys.maxsize)


def run_ingest(cfg, source):
    ingest_job.main([*job_arguments(cfg), "--source", str(source)])


def sample_rows(name: str) -> tuple[list[str], list[list[str]]]:
    with (SAMPLE / name).open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])
    return path


def table_rows(spark, cfg, table, columns):
    return sorted(tuple(row) for row in spark.table(cfg.table(table)).select(*columns, "row_hash").collect())


def versions(spark, cfg, tables):
    return {t: spark.sql(f"DESCRIBE HISTORY {cfg.table(t)} LIMIT 1").first()["version"] for t in tables}


def test_files_dripping_in_over_four_runs_give_the_tables_of_one_run_and_a_fifth_run_commits_nothing(
    spark, fresh_cfg, tmp_path
):
    q_header, questions = sample_rows("Questions.csv")
    t_header, tags = sample_rows("Tags.csv")
    first_ids = {row[0] for row in questions[: len(questions) // 2]}
    landing_zone = tmp_path / "landing"
    drips = [  # the first half's questions before their tags; the second half's tags before their questions
        write_csv(tmp_path / "q1", q_header, questions[: len(questions) // 2]),
        write_csv(tmp_path / "t1", t_header, [row for row in tags if row[0] in first_ids]),
        write_csv(tmp_path / "t2", t_header, [row for row in tags if row[0] not in first_ids]),
        write_csv(tmp_path / "q2", q_header, questions[len(questions) // 2 :]),
    ]
    places = ["2016/01/Questions_1.csv", "2016/01/Tags_1.csv", "2016/02/Tags_2.csv", "2016/02/Questions_2.csv"]
    dripped = fresh_cfg()
    for drip, place in zip(drips, places, strict=True):
        (landing_zone / place).parent.mkdir(parents=True, exist_ok=True)
        drip.rename(landing_zone / place)
        run_ingest(dripped, landing_zone)

    whole = fresh_cfg()
    one_shot = tmp_path / "one-shot"
    for name in ("Questions.csv", "Tags.csv"):
        (one_shot / name).parent.mkdir(parents=True, exist_ok=True)
        (one_shot / name).write_bytes((SAMPLE / name).read_bytes())
    run_ingest(whole, one_shot)
    for source in (QUESTIONS, TAGS):
        assert table_rows(spark, dripped, source.table, source.columns) == table_rows(
            spark, whole, source.table, source.columns
        )
    files = spark.table(dripped.table("ingested_files")).collect()
    assert sorted((Path(f["path"]).name, f["status"]) for f in files) == sorted(
        (Path(p).name, "loaded") for p in places
    )
    loaded = {t: sum(f["rows_loaded"] for f in files if f["table"] == t) for t in ("questions_raw", "tags_raw")}
    assert loaded == {t: spark.table(dripped.table(t)).count() for t in loaded}  # exact counts, file by file

    tables = ["questions_raw", "tags_raw", "ingested_files", "questions_raw_rejected", "tags_raw_rejected"]
    before = versions(spark, dripped, tables)
    run_ingest(dripped, landing_zone)
    assert versions(spark, dripped, tables) == before
    run = spark.sql(f"SELECT details FROM {dripped.table('job_runs')} ORDER BY ended_at DESC LIMIT 1").first()
    assert (run["details"]["files.loaded"], run["details"]["files.skipped"]) == ("0", "4")


def test_a_file_cut_short_is_recorded_not_loaded_and_retried_alone_once_whole(spark, fresh_cfg, tmp_path):
    cfg = fresh_cfg()
    zone = tmp_path / "landing"
    header, questions = sample_rows("Questions.csv")
    t_header, tags = sample_rows("Tags.csv")
    write_csv(zone / "Tags.csv", t_header, tags[:50])
    whole = write_csv(tmp_path / "Questions_1.csv", header, questions[:20]).read_bytes()
    (zone / "Questions_1.csv").write_bytes(whole[: len(whole) - 40])  # cut mid-record, as a copy still running
    with pytest.raises(IngestError, match=r"1 of 2 files not loaded .*Questions_1.csv: it does not end with a line"):
        run_ingest(cfg, zone)
    assert not spark.catalog.tableExists(cfg.table("questions_raw"))  # nothing of it, not even its first rows
    assert spark.table(cfg.table("tags_raw")).count() == 50  # the other file of the run is in
    (zone / "Questions_1.csv").write_bytes(whole)
    run_ingest(cfg, zone)
    assert spark.table(cfg.table("questions_raw")).count() == 20
    attempts = spark.table(cfg.table("ingested_files")).orderBy("recorded_at").collect()
    by_file = {}
    for attempt in attempts:
        by_file.setdefault(Path(attempt["path"]).name, []).append(attempt)
    assert [a["status"] for a in by_file["Tags.csv"]] == ["loaded"]  # not read again
    assert [a["status"] for a in by_file["Questions_1.csv"]] == ["failed", "loaded"]
    assert by_file["Questions_1.csv"][1]["reason"].startswith("retried: it failed on")


def test_a_changed_file_is_loaded_again_and_says_so(spark, fresh_cfg, tmp_path):
    cfg = fresh_cfg()
    header, questions = sample_rows("Questions.csv")
    t_header, tags = sample_rows("Tags.csv")
    write_csv(tmp_path / "Tags.csv", t_header, tags[:10])
    path = write_csv(tmp_path / "Questions.csv", header, questions[:10])
    run_ingest(cfg, tmp_path)
    write_csv(path, header, questions[:12])
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))  # a later modification time, as a new copy
    run_ingest(cfg, tmp_path)
    assert spark.table(cfg.table("questions_raw")).count() == 12
    latest = (
        spark.table(cfg.table("ingested_files"))
        .where(F.col("path").endswith("Questions.csv"))
        .orderBy(F.desc("recorded_at"))
        .first()
    )
    assert latest["reason"].startswith("changed since its load on") and latest["rows_loaded"] == 12


def test_a_file_that_changes_or_goes_after_its_listing_is_caught_before_any_write(spark, tmp_path):
    path = tmp_path / "Questions.csv"
    path.write_text("Id,Title\n1,a\n")
    (listed,) = landing.list_source_files(spark, str(tmp_path), ("Questions", "Tags"))
    assert landing.still_there(spark, listed) is None and landing.ends_a_record(spark, listed)
    path.write_text("Id,Title\n1,a\n2,b")
    assert "changed while it was read" in landing.still_there(spark, listed)
    path.unlink()
    assert landing.still_there(spark, listed) == "deleted after it was listed"


def test_the_listing_finds_the_files_at_any_depth_and_leaves_out_hidden_ones_and_others(spark, tmp_path):
    for name in ("a/b/Questions_x.csv", "Tags.csv", "c/Answers-2.csv", "_tmp/Questions.csv", ".x/Tags.csv", "q.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    listed = landing.list_source_files(spark, str(tmp_path), ("Questions", "Tags", "Answers"))
    assert [(Path(f.path.removeprefix("file:")).relative_to(tmp_path).as_posix(), f.stem) for f in listed] == [
        ("Tags.csv", "Tags"),
        ("a/b/Questions_x.csv", "Questions"),
        ("c/Answers-2.csv", "Answers"),
    ]
