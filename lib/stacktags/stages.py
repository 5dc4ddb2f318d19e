"""Each pipeline stage as a recorded run: do the work, then write its row to job_runs (also when it fails).

The job files call one of these each; jobs/pipeline.py calls them in order.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from stacktags.clean import CleanResult, clean
from stacktags.config import Config
from stacktags.evaluate import EvaluationResult, evaluate, write_decision
from stacktags.ingest import IngestResult, ingest
from stacktags.model import TrainResult, train
from stacktags.monitoring.dashboard import dashboard_path, write_dashboard
from stacktags.monitoring.monitor import MonitorResult, monitor, record
from stacktags.monitoring.notify import notify, put_metrics
from stacktags.runs import recorded_run
from stacktags.score import ScoreResult, score


def run_ingest(spark: SparkSession, cfg: Config, source: str, encoding: str | None = None) -> IngestResult:
    with recorded_run(spark, cfg, "ingest") as run:
        result = ingest(
            spark,
            source,
            cfg.database,
            encoding=encoding or cfg.require("ingest", "encoding"),
            max_body_bytes=cfg.require("ingest", "max_body_bytes"),
            run_id=run.run_id,
        )
        run.rows_in, run.rows_out, run.rows_rejected = result.read, result.loaded, result.rejected
        run.details = result.details()
    return result


def run_clean(spark: SparkSession, cfg: Config, full: bool = False) -> CleanResult:
    with recorded_run(spark, cfg, "clean") as run:
        result = clean(spark, cfg, full=full)
        run.rows_in, run.rows_out, run.rows_rejected = result.bronze_questions, result.written.written, 0
        run.details = {
            "inserted": result.written.inserted,
            "updated": result.written.updated,
            **{f"rows.{name}": n for name, n in result.rows_per_split.items()},
        }
    return result


def run_train(spark: SparkSession, cfg: Config) -> TrainResult:
    with recorded_run(spark, cfg, "train") as run:
        result = train(spark, cfg, run.run_id)
        run.rows_in, run.rows_out = result.train_rows, result.tags
        run.details = {
            "model_version": result.version,
            "path": result.path,
            "data_version": result.data_version,
            "fit_seconds": f"{result.fit_seconds:.1f}",
        }
    return result


def run_evaluate(
    spark: SparkSession, cfg: Config, version: int | None = None, decision_file: str | None = None
) -> EvaluationResult:
    with recorded_run(spark, cfg, "evaluate") as run:
        result = evaluate(spark, cfg, version, run.run_id)
        if decision_file:
            write_decision(spark, cfg, result, decision_file)
        run.rows_in = int(result.metrics.overall["rows"])
        run.details = {
            "model_version": result.version,
            "report": result.report_path,
            **({"gate": result.decision.summary(result.version)} if result.decision else {}),
            **{k: f"{v:.4f}" for k, v in result.metrics.overall.items()},
        }
    return result


def run_score(spark: SparkSession, cfg: Config, source: str, version: int | None = None) -> ScoreResult:
    with recorded_run(spark, cfg, "score") as run:
        result = score(spark, cfg, source, version, run.run_id)
        run.rows_in, run.rows_out, run.rows_rejected = result.scored, result.scored, result.unreadable
        run.details = {"model_version": result.version, "source": source}
    return result


def run_monitor(
    spark: SparkSession, cfg: Config, batch: str | None = None, version: int | None = None
) -> MonitorResult:
    with recorded_run(spark, cfg, "monitor") as run:
        result = monitor(spark, cfg, batch, version)
        result.notified = notify(cfg, result, dashboard_path(cfg))
        cloudwatch = put_metrics(cfg, result)
        record(spark, cfg, result)
        if result.reports:
            result.dashboard = write_dashboard(spark, cfg)
        run.rows_in = sum(report.rows for report in result.reports)
        run.rows_out = len(result.alerts)
        run.details = {
            "batch": result.batch,
            "model_versions": ",".join(str(report.version) for report in result.reports),
            "alerts": len(result.alerts),
            **({"dashboard": result.dashboard} if result.dashboard else {}),
            **({"notified": result.notified} if result.notified else {}),
            **({"cloudwatch": cloudwatch} if cloudwatch else {}),
            **({"notes": " | ".join(result.notes)} if result.notes else {}),
        }
    return result
