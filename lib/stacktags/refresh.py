"""The continuous pipeline: one refresh of the tables from a landing folder, safe to run on a schedule.

    ingest (the new files only) -> clean (the new questions only)
    -> train, evaluate and the gate, when [refresh] retrain_after labelled questions arrived since the champion's data
    -> score the questions the champion has not scored yet -> monitor them (stacktags.monitoring)

Each step is a run of its own in job_runs, inside one `refresh` run. A refresh that finds nothing new commits nothing
to the data tables (each step commits only what changed). Two refreshes of one database never run at once: each
takes the lease row of the `leases` table first (a MERGE that takes it only when it is free or expired; Delta's
conflict detection refuses the second of two simultaneous takers), and the loser stops with a message naming the
holder. A refresh that dies keeps the lease until [refresh] lease_minutes have passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from delta.exceptions import DeltaConcurrentModificationException
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from stacktags.clean import SILVER_TABLE
from stacktags.config import Config
from stacktags.errors import UserError
from stacktags.registry import champion
from stacktags.runs import recorded_run
from stacktags.stages import run_clean, run_evaluate, run_ingest, run_monitor, run_score, run_train

LEASES_TABLE = "leases"
LEASES_SCHEMA = "name string, holder string, taken_at timestamp, expires_at timestamp"
LEASE = "refresh"


class LeaseHeldError(UserError):
    """Another refresh of this database holds the lease."""


@dataclass
class RefreshResult:
    lines: list[str] = field(default_factory=list)
    alerts: int = 0  # the monitor's, on the questions this refresh scored

    def summary(self) -> str:
        return "\n".join(self.lines)


def take_lease(spark: SparkSession, cfg: Config, holder: str) -> None:
    """The refresh lease for `holder`, or a LeaseHeldError naming who has it."""
    table = cfg.table(LEASES_TABLE)
    if not spark.catalog.tableExists(table):
        try:
            spark.createDataFrame([], LEASES_SCHEMA).write.format("delta").saveAsTable(table)
        except Exception:
            if not spark.catalog.tableExists(table):  # not made meanwhile by another refresh: a real failure
                raise
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=cfg.require("refresh", "lease_minutes"))
    offer = spark.createDataFrame([(LEASE, holder, now, expires)], LEASES_SCHEMA)
    try:
        DeltaTable.forName(spark, table).alias("l").merge(offer.alias("o"), "l.name = o.name").whenMatchedUpdateAll(
            condition=F.col("l.expires_at") < F.col("o.taken_at")
        ).whenNotMatchedInsertAll().execute()
    except DeltaConcurrentModificationException:
        pass  # another refresh took or released it at the same time: the row says who has it
    row = spark.table(table).where(F.col("name") == LEASE).first()
    if row is None:
        raise LeaseHeldError(
            f"another refresh of {cfg.database} took the lease at the same time: this one does nothing"
        )
    if row["holder"] != holder:
        raise LeaseHeldError(
            f"another refresh of {cfg.database} is running (run {row['holder']} since "
            f"{row['taken_at']:%Y-%m-%d %H:%M:%S}; its lease ends at {row['expires_at']:%Y-%m-%d %H:%M:%S} at the "
            "latest): this one does nothing"
        )


def release_lease(spark: SparkSession, cfg: Config, holder: str) -> None:
    DeltaTable.forName(spark, cfg.table(LEASES_TABLE)).delete((F.col("name") == LEASE) & (F.col("holder") == holder))


def labelled_questions(spark: SparkSession, table: str, version: int | None = None) -> int:
    """Questions with at least one tag in questions_clean (at a Delta version)."""
    reader = spark.read.option("versionAsOf", version) if version is not None else spark.read
    return reader.table(table).where(F.size("tags") > 0).count()


def retrain_reason(spark: SparkSession, cfg: Config) -> str | None:
    """Why this refresh trains a new model (no champion yet, or enough new labelled questions), or None."""
    current = champion(spark, cfg)
    if current is None:
        return "no champion yet"
    silver = cfg.table(SILVER_TABLE)
    new = labelled_questions(spark, silver) - labelled_questions(spark, silver, current["data_version"])
    wanted = cfg.require("refresh", "retrain_after")
    if new >= wanted:
        return f"{new} labelled questions since champion v{current['version']}'s data (at least {wanted})"
    return None


def run_refresh(spark: SparkSession, cfg: Config, source: str) -> RefreshResult:
    """A refresh, recorded in job_runs as `refresh` (its steps as runs of their own)."""
    with recorded_run(spark, cfg, "refresh") as run:
        result = refresh(spark, cfg, source, run.run_id)
        run.details = {f"step{n}": line for n, line in enumerate(result.lines, 1)}
    return result


def refresh(spark: SparkSession, cfg: Config, source: str, holder: str) -> RefreshResult:
    take_lease(spark, cfg, holder)
    try:
        result = RefreshResult()
        ingested = run_ingest(spark, cfg, source)
        result.lines.append(
            f"ingest: {ingested.loaded_files} files loaded, {ingested.skipped_files} loaded before; "
            f"{ingested.loaded} rows loaded, {ingested.rejected} rejected"
        )
        cleaned = run_clean(spark, cfg)
        result.lines.append(f"clean: {cleaned.written.inserted} inserted, {cleaned.written.updated} updated")
        reason = retrain_reason(spark, cfg)
        if reason:
            trained = run_train(spark, cfg)
            evaluated = run_evaluate(spark, cfg, trained.version)
            result.lines.append(f"train: model {trained.version} ({reason})")
            result.lines.append(evaluated.decision.summary(trained.version))
        else:
            result.lines.append("train: not needed ([refresh] retrain_after not reached)")
        scored = run_score(spark, cfg, cfg.table("questions_raw"))
        result.lines.append(scored.summary())
        if scored.scored:
            monitored = run_monitor(spark, cfg, scored.run_id)
            result.lines.append(monitored.summary())
            result.alerts = len(monitored.alerts)
        return result
    finally:
        release_lease(spark, cfg, holder)
