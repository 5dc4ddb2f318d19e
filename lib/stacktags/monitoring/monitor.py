"""The monitor job's work: one scoring batch (a score run, or a window of scored_at) against the reference profile
of the model that scored it -> the `drift_metrics` table (one row per batch, model version, metric and tag where
relevant), the `alerts` table for the metrics past their [monitor] threshold, and the notifications.

A batch holds the predictions of one or more model versions (a window may span a model change): each version's rows
are compared with that version's profile. Rerunning the monitor on a batch replaces its rows in both tables (one
commit each), so reruns converge; notifications are sent before the rows are written: at least once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType, TimestampType

from stacktags.clean import SILVER_TABLE, in_split
from stacktags.config import Config
from stacktags.errors import UserError
from stacktags.monitoring.drift import Figure, drift_figures, live_quality, moved_most
from stacktags.monitoring.profile import TEXT_STATS, load_profile
from stacktags.registry import models
from stacktags.runs import JOB_RUNS_TABLE
from stacktags.score import PREDICTIONS_TABLE
from stacktags.tables import append, input_table

log = logging.getLogger(__name__)

DRIFT_TABLE = "drift_metrics"
ALERTS_TABLE = "alerts"
DRIFT_SCHEMA = StructType(
    [
        StructField("batch", StringType(), False),  # the score run's id, or FROM/TO: a window of scored_at
        StructField("model_version", IntegerType(), False),
        StructField("monitored_at", TimestampType(), False),
        StructField("first_scored_at", TimestampType(), True),
        StructField("last_scored_at", TimestampType(), True),
        StructField("metric", StringType(), False),
        StructField("tag", StringType(), True),  # for predicted_rate; null for the batch's figures
        StructField("value", DoubleType(), False),
        StructField("reference", DoubleType(), True),  # the model's: its profile, or its evaluation (live_*)
    ]
)
ALERTS_SCHEMA = StructType(
    [
        StructField("batch", StringType(), False),
        StructField("model_version", IntegerType(), False),
        StructField("raised_at", TimestampType(), False),
        StructField("metric", StringType(), False),
        StructField("value", DoubleType(), False),
        StructField("reference", DoubleType(), True),
        StructField("threshold", DoubleType(), False),
        StructField("message", StringType(), False),
        StructField("notified", StringType(), True),  # what each notification channel did: sent, or failed and why
    ]
)
BATCH_COLUMNS = ("Id", "tags", "scores", "model_version", "scored_at", TEXT_STATS)
WINDOW_SEPARATOR = "/"  # --batch FROM/TO, ISO 8601's interval


class BatchError(UserError, ValueError):
    """--batch names no scoring batch."""


@dataclass(frozen=True)
class Rule:
    """An alert: `metric` past the [monitor] `setting`: above it (plus the `allowance` figure's value, what
    sampling alone explains), or risen or dropped from its reference by more."""

    metric: str
    setting: str
    kind: str  # "above", "rise" or "drop"
    allowance: str | None = None  # "above" only

    def breach(self, figure: Figure, threshold: float, allowance: Figure | None = None) -> str | None:
        """The alert's message when the figure breaks the rule, else None."""
        if self.kind == "above":
            extra = allowance.value if allowance else 0.0
            if figure.value <= threshold + extra:
                return None
            sampling = f" + {extra:.4f} (what sampling alone reaches at these sizes)" if allowance else ""
            return f"{self.metric} {figure.value:.4f} > {threshold}{sampling}"
        if figure.reference is None:
            return None
        change = figure.value - figure.reference if self.kind == "rise" else figure.reference - figure.value
        if change <= threshold:
            return None
        return (
            f"{self.metric} {figure.value:.4f} ({'up' if self.kind == 'rise' else 'down'} {change:.4f} from its "
            f"reference {figure.reference:.4f}; allowed {threshold})"
        )


DRIFT_RULES = (
    Rule("title_length_psi", "length_psi", "above"),
    Rule("body_length_psi", "length_psi", "above"),
    Rule("code_length_psi", "length_psi", "above"),
    Rule("unweighted_share", "unweighted_share_rise", "rise"),
    Rule("empty_text_share", "empty_text_share_rise", "rise"),
    Rule("predicted_tags_js", "predicted_tags_js", "above", allowance="predicted_tags_js_sampling"),
    Rule("forced_tag_share", "forced_tag_share_rise", "rise"),
    Rule("mean_top_score", "top_score_drop", "drop"),
)
LIVE_RULES = (
    Rule("live_micro_f1", "live_micro_f1_drop", "drop"),
    Rule("live_macro_f1", "live_macro_f1_drop", "drop"),
    Rule("live_p_at_1", "live_p_at_1_drop", "drop"),
)


@dataclass(frozen=True)
class Alert:
    batch: str
    model_version: int
    metric: str
    value: float
    reference: float | None
    threshold: float
    message: str


@dataclass
class VersionReport:
    version: int
    rows: int
    figures: list[Figure]
    alerts: list[Alert]
    first_scored_at: datetime | None = None
    last_scored_at: datetime | None = None


@dataclass
class MonitorResult:
    batch: str
    reports: list[VersionReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why something was not computed
    notified: str | None = None
    dashboard: str | None = None  # where the run wrote the dashboard

    @property
    def alerts(self) -> list[Alert]:
        return [a for r in self.reports for a in r.alerts]

    def summary(self) -> str:
        lines = [f"monitor: batch {self.batch}"] + [f"  {note}" for note in self.notes]
        for report in self.reports:
            figures = {f.metric: f for f in report.figures if f.tag is None}
            shown = [
                f"{name} {figures[name].value:.3f}"
                for name in ("body_length_psi", "unweighted_share", "predicted_tags_js", "live_micro_f1")
                if name in figures
            ]
            if "predicted_tags_js_sampling" in figures:
                sampling = figures["predicted_tags_js_sampling"].value
                shown = [
                    f"{x} (sampling alone: up to {sampling:.3f})" if x.startswith("predicted_tags_js") else x
                    for x in shown
                ]
            lines.append(f"  model {report.version}: {report.rows} questions; {', '.join(shown)}")
            lines += [f"  ALERT {a.message}" for a in report.alerts]
        if self.alerts:
            lines.append(f"  {len(self.alerts)} alerts; notifications: {self.notified or 'none configured'}")
        if self.dashboard:
            lines.append(f"  dashboard: {self.dashboard}")
        return "\n".join(lines)


def latest_batch(spark: SparkSession, cfg: Config, predictions: DataFrame) -> str:
    """The newest score run that scored questions, from job_runs (the predictions table would need a scan)."""
    if "score_run" not in predictions.columns:
        raise BatchError(
            "the predictions table records no score runs (scored by an older stacktags): use --batch FROM/TO"
        )
    runs = spark.table(cfg.table(JOB_RUNS_TABLE))
    scored = runs.where((F.col("job") == "score") & (F.col("status") == "succeeded") & (F.col("rows_out") > 0))
    newest = scored.orderBy(F.desc("started_at")).select("run_id").first()
    if newest is None:
        raise BatchError("no score run has scored questions yet: run the score job, or use --batch FROM/TO")
    return newest[0]


def already_monitored(spark: SparkSession, cfg: Config, batch: str) -> bool:
    """Whether a monitor run of the batch succeeded (job_runs)."""
    runs = spark.table(cfg.table(JOB_RUNS_TABLE))
    done = (F.col("job") == "monitor") & (F.col("status") == "succeeded") & (F.col("details")["batch"] == batch)
    return not runs.where(done).isEmpty()


def batch_condition(batch: str) -> Column:
    """The predictions rows of a batch: a score run's id, or FROM/TO (ISO timestamps, UTC): scored_at in [FROM, TO)."""
    if WINDOW_SEPARATOR not in batch:
        return F.col("score_run") == batch
    start, _, end = batch.partition(WINDOW_SEPARATOR)
    try:
        bounds = [datetime.fromisoformat(t) for t in (start, end)]
    except ValueError as err:
        raise BatchError(
            f"--batch {batch!r}: a window is FROM/TO in ISO form, e.g. 2026-12-01T00:00/2026-12-02"
        ) from err
    scored_at = F.col("scored_at")
    return (scored_at >= F.lit(bounds[0]).cast("timestamp")) & (scored_at < F.lit(bounds[1]).cast("timestamp"))


def check(rules, figures: list[Figure], cfg: Config, batch: str, version: int) -> list[Alert]:
    by_metric = {f.metric: f for f in figures if f.tag is None}
    alerts = []
    for rule in rules:
        figure, limit = by_metric.get(rule.metric), cfg.get("monitor", rule.setting)
        if figure is None or limit is None:
            continue
        message = rule.breach(figure, limit, by_metric.get(rule.allowance))
        if message:
            alerts.append(Alert(batch, version, rule.metric, figure.value, figure.reference, limit, message))
    return alerts


def truth_of(spark: SparkSession, cfg: Config, info: dict) -> DataFrame | None:
    """The known tags (questions_clean, from tags_raw) of the questions the model did not learn from: its test split
    by its own split rule (a hash of the Id, or test_from). None when there is no questions_clean."""
    table = cfg.table(SILVER_TABLE)
    if not spark.catalog.tableExists(table):
        return None
    test_from = (info["params"] or {}).get("test_from")
    return spark.table(table).where(in_split("test", test_from)).select("Id", "tags")


def monitor_version(spark: SparkSession, cfg: Config, batch: str, rows: DataFrame, info: dict) -> VersionReport | str:
    """The report of one model version's rows of the batch, or why there is none."""
    version = info["version"]
    profile = load_profile(spark, info["path"])
    if profile is None:
        return f"model {version} has no reference profile (trained by an older stacktags): nothing computed"
    count, figures = drift_figures(rows, profile)
    span = rows.agg(F.min("scored_at"), F.max("scored_at")).first()
    minimum = cfg.require("monitor", "min_rows")
    alerts = check(DRIFT_RULES, figures, cfg, batch, version) if count >= minimum else []
    if count < minimum:
        log.warning(
            "batch %s, model %d: %d questions, fewer than [monitor] min_rows %d: no drift alert",
            batch,
            version,
            count,
            minimum,
        )
    truth = truth_of(spark, cfg, info)
    if truth is None:
        log.warning("no %s yet: no live quality", cfg.table(SILVER_TABLE))
    else:
        live = live_quality(rows, truth, profile.tags, info["metrics"] or {})
        figures += live
        if live[0].value >= cfg.require("monitor", "min_live_rows"):
            alerts += check(LIVE_RULES, live, cfg, batch, version)
    moved = ", ".join(f"{f.tag} {f.reference:.3f}->{f.value:.3f}" for f in moved_most(figures))
    alerts = [
        replace(a, message=f"{a.message}; moved most: {moved}") if a.metric == "predicted_tags_js" else a
        for a in alerts
    ]
    return VersionReport(version, count, figures, alerts, span[0], span[1])


def monitor(spark: SparkSession, cfg: Config, batch: str | None = None, version: int | None = None) -> MonitorResult:
    """Compute the batch's figures and alerts (not yet written: see record)."""
    predictions = input_table(spark, cfg.table(PREDICTIONS_TABLE), made_by="score")
    if batch is None:
        batch = latest_batch(spark, cfg, predictions)
        if already_monitored(spark, cfg, batch):
            # the newest batch has its figures (an orchestrator's score that found nothing new to score): its
            # alerts were raised once, and a rerun asked for by name (--batch) recomputes them
            note = f"the newest batch, {batch}, was monitored already: nothing computed (--batch {batch} recomputes)"
            log.warning(note)
            return MonitorResult(batch, notes=[note])
    if TEXT_STATS not in predictions.columns:
        predictions = predictions.withColumn(
            TEXT_STATS,
            F.lit(None).cast("struct<title_length:int,body_length:int,code_length:int,unweighted_share:double>"),
        )
    # the batch's columns that the figures read, cached: about six aggregations and a join read them
    rows = predictions.where(batch_condition(batch)).select(*BATCH_COLUMNS).persist()
    try:
        return monitor_batch(spark, cfg, batch, rows, version)
    finally:
        rows.unpersist()


def monitor_batch(spark: SparkSession, cfg: Config, batch: str, rows: DataFrame, version: int | None) -> MonitorResult:
    result = MonitorResult(batch)
    versions = sorted(r[0] for r in rows.select("model_version").distinct().collect())
    if not versions:
        result.notes.append("no predictions in this batch: nothing to monitor")
        log.warning("batch %s has no predictions: nothing to monitor", batch)
        return result
    if version is not None and version not in versions:
        note = f"batch {batch} was scored by model {', '.join(map(str, versions))}, not {version}: nothing computed"
        result.notes.append(note)
        log.warning(note)
        return result
    registry = {r["version"]: r.asDict() for r in models(spark, cfg).collect()}
    for v in [version] if version is not None else versions:
        report = monitor_version(spark, cfg, batch, rows.where(F.col("model_version") == v), registry[v])
        if isinstance(report, str):
            result.notes.append(report)
            log.warning("batch %s: %s", batch, report)
        else:
            result.reports.append(report)
    return result


def replace_batch(spark: SparkSession, frame: DataFrame, table: str, batch: str, versions: list[int]) -> None:
    """The batch's rows of these versions in `table` replaced by `frame`, in one commit (Delta's overwrite by
    a condition, through the DataFrameWriterV2: saveAsTable's replaceWhere also asks the Hive metastore to alter
    the table, which it refuses)."""
    if not spark.catalog.tableExists(table):
        append(frame, table)
        return
    frame.writeTo(table).overwrite((F.col("batch") == batch) & F.col("model_version").isin(versions))


def record(spark: SparkSession, cfg: Config, result: MonitorResult) -> None:
    """The result's drift_metrics and alerts rows, replacing the batch's earlier ones."""
    if not result.reports:
        return
    now = datetime.now(UTC)
    versions = [r.version for r in result.reports]
    metrics = [
        (
            result.batch,
            r.version,
            now,
            r.first_scored_at,
            r.last_scored_at,
            f.metric,
            f.tag,
            float(f.value),
            None if f.reference is None else float(f.reference),
        )
        for r in result.reports
        for f in r.figures
    ]
    alerts = [
        (
            a.batch,
            a.model_version,
            now,
            a.metric,
            float(a.value),
            None if a.reference is None else float(a.reference),
            float(a.threshold),
            a.message,
            result.notified,
        )
        for a in result.alerts
    ]
    replace_batch(spark, spark.createDataFrame(metrics, DRIFT_SCHEMA), cfg.table(DRIFT_TABLE), result.batch, versions)
    replace_batch(spark, spark.createDataFrame(alerts, ALERTS_SCHEMA), cfg.table(ALERTS_TABLE), result.batch, versions)
