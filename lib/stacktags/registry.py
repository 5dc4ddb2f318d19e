"""The model registry: each model version's stage, in the models table, and every change of stage, in model_events.

    training --> candidate --> champion --> archived
                           \\-> rejected

- training: a version number reserved by a train that has not saved its model yet (a train that stopped leaves it);
- candidate: saved, waiting for its evaluation and the gate;
- champion: the one model `score` and `evaluate` use when no --model-version is given; at most one;
- rejected: the gate found it worse than the champion on the same test rows;
- archived: a former champion.

The gate runs after a candidate's evaluation: on the candidate's test rows (its data version and split), the
champion is scored too, and the candidate becomes champion unless its micro-F1 or P@1 is lower than the champion's
by more than [registry] micro_f1_tolerance or p_at_1_tolerance, or its macro-F1 by more than macro_f1_tolerance.
The first model becomes champion. `promote` forces a version to champion, `rollback` brings back the champion before
the current one; both need a reason.

A train reserves its version number first: a MERGE that inserts the row (stage training) only where no row has that
number, retried with the next number when a concurrent train took it, so two trains never share a version or a
model folder. A change of stage is one MERGE of the models table, conditioned on the stages it changes from: a
concurrent change makes it fail (Delta's conflict detection) or match fewer rows, and it is refused rather than
applied twice. Every change, the reservation included, is a row of model_events, appended after it; a run that
stops in between leaves the models table right and the event missing, and the next change records it
(`record_missing_events`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from delta.exceptions import DeltaConcurrentModificationException
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)
from pyspark.sql.window import Window

from stacktags.config import Config
from stacktags.errors import UserError
from stacktags.tables import append

log = logging.getLogger(__name__)

MODELS_TABLE = "models"
EVENTS_TABLE = "model_events"
TRAINING, CANDIDATE, CHAMPION, REJECTED, ARCHIVED = "training", "candidate", "champion", "rejected", "archived"
MODELS_SCHEMA = StructType(
    [
        StructField("version", IntegerType(), False),
        StructField("path", StringType(), False),
        StructField("created_at", TimestampType(), False),
        StructField("data_table", StringType(), False),
        StructField("data_version", LongType(), False),
        StructField("stage", StringType(), False),
        StructField("metrics", MapType(StringType(), DoubleType()), True),
        StructField("params", MapType(StringType(), StringType()), True),  # the [train] settings, the run's facts
    ]
)
EVENTS_SCHEMA = StructType(
    [
        StructField("version", IntegerType(), False),
        StructField("from_stage", StringType(), True),
        StructField("to_stage", StringType(), False),
        StructField("at", TimestampType(), False),
        StructField("reason", StringType(), False),
        StructField("compared", MapType(StringType(), DoubleType()), True),  # candidate.micro_f1, champion.micro_f1..
        StructField("run_id", StringType(), True),
    ]
)
# The metrics the gate compares, each with its tolerance's setting in [registry].
GATE_METRICS = {"micro_f1": "micro_f1_tolerance", "p_at_1": "p_at_1_tolerance", "macro_f1": "macro_f1_tolerance"}
RESERVE_ATTEMPTS = 5  # trains started at once that may each take the number another was about to take


class NoModelError(UserError, LookupError):
    """No trained model, or not the requested version."""


class RegistryError(UserError):
    """A change of stage that cannot be made: no champion to roll back to, a concurrent change, a version never
    saved."""


@dataclass(frozen=True)
class Transition:
    version: int
    from_stage: str | None
    to_stage: str


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str
    compared: dict[str, float]

    def summary(self, version: int) -> str:
        return f"gate: model {version} {'is the champion' if self.promoted else 'rejected'}: {self.reason}"


def models(spark: SparkSession, cfg: Config) -> DataFrame:
    table = cfg.table(MODELS_TABLE)
    if not spark.catalog.tableExists(table):
        raise NoModelError(f"no models yet: {table} does not exist (run the train job)")
    return spark.table(table)


def stage_of(spark: SparkSession, cfg: Config, version: int) -> str:
    row = models(spark, cfg).where(F.col("version") == version).select("stage").first()
    if row is None:
        raise NoModelError(f"no model version {version} in {cfg.table(MODELS_TABLE)}")
    return row["stage"]


def reserve_version(
    spark: SparkSession,
    cfg: Config,
    path_of: Callable[[int], str],
    data_table: str,
    data_version: int,
    run_id: str | None,
) -> int:
    """A new version number, this run's alone: its models row (stage training, the run's id in params) inserted
    where no row has that number."""
    table = cfg.table(MODELS_TABLE)
    if not spark.catalog.tableExists(table):
        spark.createDataFrame([], MODELS_SCHEMA).write.format("delta").saveAsTable(table)
    claim = str(run_id or datetime.now(UTC).isoformat())
    for _ in range(RESERVE_ATTEMPTS):
        version = (spark.table(table).agg(F.max("version")).first()[0] or 0) + 1
        row = (version, path_of(version), datetime.now(UTC), data_table, data_version, TRAINING, {}, {"run_id": claim})
        try:
            DeltaTable.forName(spark, table).alias("m").merge(
                spark.createDataFrame([row], MODELS_SCHEMA).alias("r"), "m.version = r.version"
            ).whenNotMatchedInsertAll().execute()
        except DeltaConcurrentModificationException:  # another train committed first: look again
            continue
        mine = spark.table(table).where((F.col("version") == version) & (F.col("params")["run_id"] == claim))
        if not mine.isEmpty():
            record_events(spark, cfg, [Transition(version, None, TRAINING)], "reserved by a train", run_id)
            return version
    raise RegistryError(f"no version number could be reserved in {table} in {RESERVE_ATTEMPTS} attempts: try again")


def champion(spark: SparkSession, cfg: Config) -> Row | None:
    """The champion's models row, or None."""
    table = cfg.table(MODELS_TABLE)
    if not spark.catalog.tableExists(table):
        return None
    return spark.table(table).where(F.col("stage") == CHAMPION).first()


def default_version(spark: SparkSession, cfg: Config, job: str) -> int:
    """The version a job uses without --model-version: the champion; for evaluate, the newest candidate first (the
    model a train just made, waiting for its gate)."""
    rows = models(spark, cfg)
    if job == "evaluate":
        newest = rows.where(F.col("stage") == CANDIDATE).agg(F.max("version")).first()[0]
        if newest is not None:
            return newest
    best = champion(spark, cfg)
    if best is None:
        raise RegistryError(
            "no champion model yet: evaluate a candidate (the gate makes the first one champion) or promote one "
            "(scripts/submit.sh registry --promote N --reason ...)"
        )
    return best["version"]


def change_stages(
    spark: SparkSession,
    cfg: Config,
    transitions: list[Transition],
    reason: str,
    run_id: str | None,
    compared: dict[str, float] | None = None,
    params: dict[str, str] | None = None,
) -> None:
    """Apply the transitions in one commit of the models table, each only from its expected stage (and set the
    rows' params when given), then record them in model_events."""
    record_missing_events(spark, cfg, run_id)
    source = spark.createDataFrame(
        [(t.version, t.from_stage, t.to_stage, params) for t in transitions],
        "version int, from_stage string, to_stage string, params map<string,string>",
    )
    updates = {"stage": "t.to_stage", **({"params": "t.params"} if params is not None else {})}
    try:
        DeltaTable.forName(spark, cfg.table(MODELS_TABLE)).alias("m").merge(
            source.alias("t"), "m.version = t.version AND m.stage = t.from_stage"
        ).whenMatchedUpdate(set=updates).execute()
    except DeltaConcurrentModificationException as error:
        raise RegistryError(f"another run changed {cfg.table(MODELS_TABLE)} at the same time: try again") from error
    stages = {row["version"]: row["stage"] for row in models(spark, cfg).select("version", "stage").collect()}
    missed = [t for t in transitions if stages.get(t.version) != t.to_stage]
    if missed:
        raise RegistryError(
            f"model stages changed meanwhile: {', '.join(f'v{t.version} is {stages.get(t.version)}' for t in missed)}"
            "; look with: scripts/submit.sh registry --list"
        )
    record_events(spark, cfg, transitions, reason, run_id, compared)


def record_events(
    spark: SparkSession,
    cfg: Config,
    transitions: list[Transition],
    reason: str,
    run_id: str | None,
    compared: dict[str, float] | None = None,
) -> None:
    now = datetime.now(UTC)
    rows = [(t.version, t.from_stage, t.to_stage, now, reason, compared, run_id) for t in transitions]
    append(spark.createDataFrame(rows, EVENTS_SCHEMA), cfg.table(EVENTS_TABLE))


def record_missing_events(spark: SparkSession, cfg: Config, run_id: str | None) -> None:
    """An event for each version whose stage differs from its last recorded one (a change made by a run that
    stopped before recording it)."""
    events_table = cfg.table(EVENTS_TABLE)
    stages = models(spark, cfg).select("version", "stage")
    if spark.catalog.tableExists(events_table):
        newest = Window.partitionBy("version").orderBy(F.desc("at"))
        last = (
            spark.table(events_table)
            .withColumn("n", F.row_number().over(newest))
            .where("n = 1")
            .select("version", F.col("to_stage").alias("recorded"))
        )
        stages = stages.join(last, "version", "left")
    else:
        stages = stages.withColumn("recorded", F.lit(None).cast("string"))
    untold = stages.where(F.col("recorded").isNull() | (F.col("recorded") != F.col("stage"))).collect()
    if untold:
        record_events(
            spark,
            cfg,
            [Transition(row["version"], row["recorded"], row["stage"]) for row in untold],
            "recorded late: a run changed this stage and stopped before recording it",
            run_id,
        )


def gate(
    cfg: Config, version: int, metrics: dict[str, float], champion_row: Row | None, champion_metrics
) -> GateDecision:
    """Whether candidate `version` (its test metrics) becomes champion against the champion's metrics on the same
    test rows."""
    if champion_row is None:
        return GateDecision(True, "the first model", {f"candidate.{m}": metrics[m] for m in GATE_METRICS})
    compared = {f"candidate.{m}": metrics[m] for m in GATE_METRICS} | {
        f"champion.{m}": champion_metrics[m] for m in GATE_METRICS
    }
    worse = []
    for metric, setting in GATE_METRICS.items():
        tolerance = cfg.require("registry", setting)
        if metrics[metric] < champion_metrics[metric] - tolerance:
            worse.append(f"{metric} {metrics[metric]:.4f} < {champion_metrics[metric]:.4f} - {tolerance}")
    against = f"against champion v{champion_row['version']} on the same test rows"
    if worse:
        return GateDecision(False, f"{', '.join(worse)} ({against})", compared)
    summary = ", ".join(f"{m} {metrics[m]:.4f} vs {champion_metrics[m]:.4f}" for m in GATE_METRICS)
    return GateDecision(True, f"{summary} ({against})", compared)


def apply_gate(spark: SparkSession, cfg: Config, version: int, decision: GateDecision, run_id: str | None) -> None:
    if not decision.promoted:
        change_stages(
            spark, cfg, [Transition(version, CANDIDATE, REJECTED)], decision.reason, run_id, decision.compared
        )
        return
    current = champion(spark, cfg)
    transitions = [Transition(version, CANDIDATE, CHAMPION)]
    if current is not None:
        transitions.append(Transition(current["version"], CHAMPION, ARCHIVED))
    change_stages(spark, cfg, transitions, decision.reason, run_id, decision.compared)


def promote(spark: SparkSession, cfg: Config, version: int, reason: str, run_id: str | None) -> str:
    """Make `version` the champion whatever its stage (a candidate, rejected or archived model); the champion before
    it is archived."""
    stage = stage_of(spark, cfg, version)
    if stage == CHAMPION:
        raise RegistryError(f"model {version} is the champion already")
    if stage == TRAINING:
        raise RegistryError(f"model {version} was never saved (its train stopped): train again")
    transitions = [Transition(version, stage, CHAMPION)]
    current = champion(spark, cfg)
    if current is not None:
        transitions.append(Transition(current["version"], CHAMPION, ARCHIVED))
    change_stages(spark, cfg, transitions, f"promoted by hand: {reason}", run_id)
    return f"model {version}: {stage} -> champion" + (f"; model {current['version']} archived" if current else "")


def rollback(spark: SparkSession, cfg: Config, reason: str, run_id: str | None) -> str:
    """Make the champion before the current one the champion again; the current one is archived."""
    current = champion(spark, cfg)
    if current is None:
        raise RegistryError("no champion to roll back from")
    events_table = cfg.table(EVENTS_TABLE)
    previous = (
        spark.table(events_table)
        .where((F.col("to_stage") == ARCHIVED) & (F.col("from_stage") == CHAMPION))
        .where(F.col("version") != current["version"])
        .orderBy(F.desc("at"))
        .first()
        if spark.catalog.tableExists(events_table)
        else None
    )
    if previous is None or stage_of(spark, cfg, previous["version"]) != ARCHIVED:
        raise RegistryError(f"model {current['version']} is the only champion there has been: nothing to roll back to")
    transitions = [
        Transition(current["version"], CHAMPION, ARCHIVED),
        Transition(previous["version"], ARCHIVED, CHAMPION),
    ]
    change_stages(spark, cfg, transitions, f"rollback: {reason}", run_id)
    return f"model {previous['version']}: archived -> champion; model {current['version']} archived"


def listing(spark: SparkSession, cfg: Config) -> str:
    """One line per model version, newest first: stage, when, data version, headline metrics."""
    lines = ["version  stage      created (UTC)     data  " + "  ".join(f"{m:>8}" for m in GATE_METRICS)]
    for row in models(spark, cfg).orderBy(F.desc("version")).collect():
        metrics = row["metrics"] or {}
        figures = "  ".join(f"{metrics[m]:8.4f}" if m in metrics else "       -" for m in GATE_METRICS)
        lines.append(
            f"{row['version']:>7}  {row['stage']:<9}  {row['created_at']:%Y-%m-%d %H:%M}  {row['data_version']:>4}  "
            f"{figures}"
        )
    return "\n".join(lines)


def history(spark: SparkSession, cfg: Config, version: int) -> str:
    """A version's models row and its events, oldest first."""
    row = models(spark, cfg).where(F.col("version") == version).first()
    if row is None:
        raise RegistryError(f"no model version {version} in {cfg.table(MODELS_TABLE)}")
    lines = [
        f"model {version}: {row['stage']}, created {row['created_at']:%Y-%m-%d %H:%M} UTC at {row['path']}",
        f"trained on {row['data_table']} version {row['data_version']}",
        f"metrics: {dict(sorted((row['metrics'] or {}).items()))}",
    ]
    events_table = cfg.table(EVENTS_TABLE)
    if spark.catalog.tableExists(events_table):
        for event in spark.table(events_table).where(F.col("version") == version).orderBy("at").collect():
            change = f"{event['from_stage'] or '-'} -> {event['to_stage']}"
            lines.append(f"{event['at']:%Y-%m-%d %H:%M:%S} {change}: {event['reason']}")
    return "\n".join(lines)
