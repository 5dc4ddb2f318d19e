"""Evaluate a model on the test split (never on training rows): the model_metrics table, a JSON file and an HTML
report with plots; for a candidate, the registry's gate against the champion on the same test rows."""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, LongType, StringType, StructField, StructType, TimestampType

from stacktags.clean import rows_of_split
from stacktags.config import Config
from stacktags.files import write_text
from stacktags.metrics import Metrics, evaluate_predictions
from stacktags.model import THRESHOLD_BUCKETS, classifier_of, load_model, predictor_of
from stacktags.registry import CANDIDATE, MODELS_TABLE, GateDecision, apply_gate, champion, gate, stage_of
from stacktags.tables import append

METRICS_TABLE = "model_metrics"
METRICS_SCHEMA = StructType(
    [
        StructField("model_version", IntegerType(), False),
        StructField("evaluated_at", TimestampType(), False),
        StructField("split", StringType(), False),
        StructField("tag", StringType(), True),  # null for the overall figures
        StructField("metric", StringType(), False),
        StructField("value", DoubleType(), False),
        StructField("support", LongType(), True),
    ]
)
EXAMPLES = 25


@dataclass
class EvaluationResult:
    version: int
    metrics: Metrics
    json_path: str
    report_path: str
    decision: GateDecision | None = None  # the gate's, when the model was a candidate

    def summary(self) -> str:
        gate_line = f"\n{self.decision.summary(self.version)}" if self.decision else ""
        return f"model {self.version} on test: {self.metrics.headline()}\nreport: {self.report_path}{gate_line}"


def reports_dir(cfg: Config) -> str:
    """Where the database's reports go, on any file system: [evaluate] reports_dir, or <warehouse>/reports, then
    /<database> (databases that share a warehouse keep their reports apart)."""
    base = cfg.get("evaluate", "reports_dir") or f"{cfg.warehouse.rstrip('/')}/reports"
    return f"{base.rstrip('/')}/{cfg.database}"


def judged_rows(test: DataFrame, tags: list[str]) -> DataFrame:
    """Test rows as evaluation judges them: their truth cut to the model's tags, the rows left with none dropped."""
    known = F.array(*map(F.lit, tags))
    return test.withColumn("tags", F.array_intersect("tags", known)).where(F.size("tags") > 0)


def predicted(predictor, test: DataFrame, *more: str) -> DataFrame:
    """The test rows with their truth, the predicted tags and the tags ranked by score (the columns of
    metrics.evaluate_predictions), and `more` of the predictor's output."""
    return predictor.transform(test).select(
        F.col("tags").alias("truth"),
        F.col("predicted_tags").alias("predicted"),
        F.transform("scores", lambda s: s["tag"]).alias("ranked"),
        *more,
    )


def evaluate(
    spark: SparkSession, cfg: Config, version: int | None = None, run_id: str | None = None
) -> EvaluationResult:
    version, model, info = load_model(spark, cfg, version, "evaluate")
    predictor, classifier = predictor_of(model), classifier_of(model)
    tags = classifier.getOrDefault(classifier.tags)
    data = spark.read.option("versionAsOf", info["data_version"]).table(info["data_table"])
    test_from = (info["params"] or {}).get("test_from")  # the model's own split keeps its training rows out
    test = judged_rows(rows_of_split(data, "test", test_from), tags).select(
        "Id", "title", "title_tokens", "body_tokens", "code_tokens", "tags"
    )
    # one prediction of the test rows, cached with their features, serves the metrics, the probability histograms
    # (counted from the features where they are scored) and the examples
    features = classifier.getFeaturesCol()
    scored = predicted(predictor, test, "Id", "title", "scores", features).cache()
    metrics = evaluate_predictions(scored, tags)
    positives, negatives = classifier.probabilityHistograms(scored, "truth", THRESHOLD_BUCKETS)
    examples = [row.asDict(recursive=True) for row in scored.drop(features).orderBy("Id").limit(EXAMPLES).collect()]
    scored.unpersist()

    record_metrics(spark, cfg, version, metrics)
    out = f"{reports_dir(cfg)}/v{version}"
    document = json.dumps(
        {
            "model_version": version,
            "split": "test",
            "test_from": test_from,
            "data_version": info["data_version"],
            "overall": metrics.overall,
            "per_tag": metrics.per_tag,
        },
        indent=1,
    )
    thresholds = classifier.getOrDefault(classifier.thresholds)
    report = render_report(version, info, metrics, tags, thresholds, positives, negatives, examples)
    for name, text in (("metrics.json", document), ("report.html", report)):
        write_text(spark, text, f"{out}/{name}")
    decision = (
        gate_candidate(spark, cfg, version, info, test, tags, metrics, run_id) if info["stage"] == CANDIDATE else None
    )
    return EvaluationResult(version, metrics, f"{out}/metrics.json", f"{out}/report.html", decision)


def gate_candidate(
    spark: SparkSession,
    cfg: Config,
    version: int,
    info: dict,
    test: DataFrame,
    tags: list[str],
    metrics: Metrics,
    run_id: str | None,
) -> GateDecision:
    """The registry's gate for candidate `version`: the champion scored on the same test rows, with the same truth
    (the candidate's tags), then compared; the decision applied to the models table."""
    current = champion(spark, cfg)
    champion_metrics = None
    if current is not None:
        split = (info["params"] or {}).get("test_from")
        if (current["params"] or {}).get("test_from") != split:
            decision = GateDecision(
                False,
                f"champion v{current['version']} was trained with another split rule, so its training rows may be "
                "among these test rows: compare by hand, then promote",
                {},
            )
            apply_gate(spark, cfg, version, decision, run_id)
            return decision
        _, champion_model, _ = load_model(spark, cfg, current["version"], "evaluate")
        champion_metrics = evaluate_predictions(predicted(predictor_of(champion_model), test), tags).overall
    decision = gate(cfg, version, metrics.overall, current, champion_metrics)
    apply_gate(spark, cfg, version, decision, run_id)
    return decision


def write_decision(spark: SparkSession, cfg: Config, result: EvaluationResult, path: str) -> None:
    """The evaluated model's stage after this evaluation, as a JSON object at `path` (any file system), for an
    orchestrator to branch on (the AWS state machine's Gate state): model_version, stage (champion, rejected, ...),
    promoted (whether this evaluation made it the champion) and reason (the gate's, when it ran)."""
    decision = result.decision
    document = {
        "model_version": result.version,
        "stage": stage_of(spark, cfg, result.version),
        "promoted": bool(decision and decision.promoted),
        "reason": decision.reason if decision else "not a candidate: no gate ran",
    }
    write_text(spark, json.dumps(document), path)


def record_metrics(spark: SparkSession, cfg: Config, version: int, metrics: Metrics) -> None:
    now = datetime.now(UTC)
    rows = [(version, now, "test", None, name, float(value), None) for name, value in metrics.overall.items()]
    for tag in metrics.per_tag:
        rows += [
            (version, now, "test", tag["tag"], name, float(tag[name]), tag["support"])
            for name in ("precision", "recall", "f1")
        ]
    append(spark.createDataFrame(rows, METRICS_SCHEMA), cfg.table(METRICS_TABLE))
    headline = {k: metrics.overall[k] for k in ("micro_f1", "macro_f1", "p_at_1", "p_at_3", "p_at_5", "r_at_5")}
    DeltaTable.forName(spark, cfg.table(MODELS_TABLE)).update(
        condition=F.col("version") == version,
        set={"metrics": F.create_map(*[x for k, v in headline.items() for x in (F.lit(k), F.lit(float(v)))])},
    )


# --- the HTML report -----------------------------------------------------------------------------------------------


def split_rule(info: dict) -> str:
    test_from = (info["params"] or {}).get("test_from")
    return f"questions created from {html.escape(test_from)} on" if test_from else "by a hash of the Id"


def figure_png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def per_tag_figure(metrics: Metrics, top: int = 40):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tags = sorted(metrics.per_tag, key=lambda t: -t["support"])[:top]
    figure, axis = plt.subplots(figsize=(12, 4.5))
    x = np.arange(len(tags))
    for offset, name in ((-0.27, "precision"), (0.0, "recall"), (0.27, "f1")):
        axis.bar(x + offset, [t[name] for t in tags], width=0.27, label=name)
    axis.set_xticks(x, [t["tag"] for t in tags], rotation=70, fontsize=8)
    axis.set_ylim(0, 1)
    axis.set_title(f"Per-tag precision, recall and F1 on the test split ({len(tags)} most frequent tags)")
    axis.legend()
    return figure


def threshold_figure(
    tags: list[str], thresholds: list[float], positives: np.ndarray, negatives: np.ndarray, show: int = 12
):
    import matplotlib.pyplot as plt

    order = np.argsort(-positives.sum(axis=1))[:show]
    columns = 4
    figure, axes = plt.subplots(
        (len(order) + columns - 1) // columns, columns, figsize=(14, 3 * len(order) / columns + 1), squeeze=False
    )
    grid = np.arange(positives.shape[1]) / positives.shape[1]
    for axis, k in zip(axes.flat, order):
        tp = np.cumsum(positives[k, ::-1])[::-1]
        fp = np.cumsum(negatives[k, ::-1])[::-1]
        precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
        recall = tp / max(positives[k].sum(), 1)
        axis.plot(grid, precision, label="precision")
        axis.plot(grid, recall, label="recall")
        axis.axvline(thresholds[k], color="grey", linestyle="--", linewidth=1)
        axis.set_title(f"{tags[k]} (threshold {thresholds[k]:.3f})", fontsize=9)
        axis.set_ylim(0, 1.02)
    for axis in list(axes.flat)[len(order) :]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=8)
    figure.suptitle("Precision and recall against the decision threshold (test split)")
    figure.tight_layout()
    return figure


def _top_scores(scores: list[dict]) -> str:
    return ", ".join(f"{s['tag']} {s['probability']:.2f}" for s in scores)


def render_report(
    version: int,
    info: dict,
    metrics: Metrics,
    tags: list[str],
    thresholds: list[float],
    positives: np.ndarray,
    negatives: np.ndarray,
    examples: list[dict],
) -> str:
    import matplotlib.pyplot as plt

    overall_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in metrics.overall.items())
    tag_rows = "".join(
        f"<tr><td>{html.escape(t['tag'])}</td><td>{t['precision']:.3f}</td><td>{t['recall']:.3f}</td>"
        f"<td>{t['f1']:.3f}</td><td>{t['support']}</td><td>{thresholds[i]:.3f}</td></tr>"
        for i, t in enumerate(metrics.per_tag)
    )
    example_rows = "".join(
        f"<tr><td>{e['Id']}</td><td>{html.escape(e['title'] or '')}</td><td>{html.escape(', '.join(e['truth']))}</td>"
        f"<td>{html.escape(', '.join(e['predicted']))}</td>"
        f"<td>{html.escape(_top_scores(e['scores']))}</td></tr>"
        for e in examples
    )
    figures = [per_tag_figure(metrics), threshold_figure(tags, thresholds, positives, negatives)]
    images = "".join(f'<img alt="plot" src="data:image/png;base64,{figure_png(f)}">' for f in figures)
    for figure in figures:
        plt.close(figure)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>stacktags model {version}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}} img{{max-width:100%;display:block;margin:1em 0}}</style>
</head><body>
<h1>stacktags model {version}: test-split evaluation</h1>
<p>Trained on {html.escape(str(info["data_table"]))} version {info["data_version"]} ({html.escape(str(info["path"]))}).
Evaluated on the test split only ({split_rule(info)}): {int(metrics.overall["rows"])} questions that carry at least
one of the model's
{len(tags)} tags. Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>
<p>The scoring batches' drift and live quality: <a href="../monitor.html">the monitoring dashboard</a> (written by
the monitor job).</p>
<h2>Overall</h2><table><tr><th>metric</th><th>value</th></tr>{overall_rows}</table>
<h2>Plots</h2>{images}
<h2>Predicted and true tags ({len(examples)} test questions)</h2>
<table><tr><th>Id</th><th>title</th><th>true</th><th>predicted</th><th>top scores</th></tr>{example_rows}</table>
<h2>Per tag</h2>
<table><tr><th>tag</th><th>precision</th><th>recall</th><th>F1</th><th>support</th><th>threshold</th></tr>{tag_rows}</table>
</body></html>
"""
