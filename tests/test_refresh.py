"""The continuous pipeline (jobs/refresh.py, stacktags.refresh) on the bundled sample arriving in two batches: the
first refresh trains the first champion and scores, a quiet refresh commits nothing to the data tables, the next
batch is scored by the champion without a retrain below [refresh] retrain_after; the lease keeps a second refresh
out."""

import csv
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import SAMPLE, job_arguments, load_job
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from stacktags import cli
from stacktags.refresh import LeaseHeldError, release_lease, take_lease

refresh_job = load_job("refresh")
QUICK = ["train.num_tags=20", "train.max_iter=25", "train.num_features=32768", "refresh.retrain_after=100000"]
csv.field_size_limit(sys.maxsize)


def refresh(cfg, zone):
    refresh_job.main([*job_arguments(cfg, *QUICK), "--source", str(zone)])


def write_half(zone: Path, half: int) -> None:
    """Questions_<half>.csv and Tags_<half>.csv of the sample: its first or second half of the questions."""
    for name in ("Questions", "Tags"):
        with (SAMPLE / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
            header, *rows = list(csv.reader(handle))
        if name == "Questions":
            cut = len(rows) // 2
            ids = {row[0] for row in (rows[:cut] if half == 1 else rows[cut:])}
        with (zone / f"{name}_{half}.csv").open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, lineterminator="\n").writerows([header, *[row for row in rows if row[0] in ids]])


def versions(spark, cfg, tables):
    return {t: spark.sql(f"DESCRIBE HISTORY {cfg.table(t)} LIMIT 1").first()["version"] for t in tables}


def test_batches_arrive_the_first_refresh_trains_a_quiet_one_commits_nothing_the_next_batch_is_scored(
    spark, fresh_cfg, tmp_path, capsys
):
    cfg, zone = fresh_cfg(), tmp_path / "landing"
    zone.mkdir()
    write_half(zone, 1)
    refresh(cfg, zone)
    assert "train: model 1 (no champion yet)" in capsys.readouterr().out
    assert spark.table(cfg.table("models")).select("stage").first()["stage"] == "champion"
    assert spark.table(cfg.table("predictions")).count() == 1000

    tables = ["questions_raw", "tags_raw", "questions_clean", "models", "predictions"]
    before = versions(spark, cfg, tables)
    refresh(cfg, zone)
    assert versions(spark, cfg, tables) == before

    # the sample's second half is another era of Stack Overflow (java 3.6 times as common, .NET rare): the monitor
    # of the batch this refresh scored alerts, and the refresh exits with its status once every step is done
    write_half(zone, 2)
    with pytest.raises(SystemExit) as stop:
        refresh(cfg, zone)
    assert stop.value.code == cli.ALERT_STATUS
    out = capsys.readouterr().out
    assert "train: not needed" in out and "ALERT predicted_tags_js" in out
    predictions = spark.table(cfg.table("predictions"))
    assert predictions.count() == 2000 and predictions.where(F.col("model_version") != 1).isEmpty()
    steps = spark.table(cfg.table("job_runs")).where("job = 'refresh'").collect()
    assert len(steps) == 3 and all(step["status"] == "succeeded" for step in steps)


def test_a_refresh_while_another_holds_the_lease_does_nothing_and_an_expired_lease_is_taken(spark, fresh_cfg, tmp_path):
    cfg = fresh_cfg(*QUICK)
    take_lease(spark, cfg, "run-a")
    with pytest.raises(LeaseHeldError, match=rf"another refresh of {cfg.database} is running \(run run-a since"):
        refresh(cfg, tmp_path)
    assert not spark.catalog.tableExists(cfg.table("questions_raw"))
    with pytest.raises(LeaseHeldError):
        take_lease(spark, cfg, "run-b")
    past = datetime.now(UTC) - timedelta(minutes=1)
    DeltaTable.forName(spark, cfg.table("leases")).update(F.col("holder") == "run-a", {"expires_at": F.lit(past)})
    take_lease(spark, cfg, "run-b")  # run-a died: its lease ran out
    release_lease(spark, cfg, "run-b")
    take_lease(spark, cfg, "run-c")
