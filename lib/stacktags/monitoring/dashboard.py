"""The monitoring dashboard, `<reports>/<database>/monitor.html`, rewritten by each monitor run from the drift_metrics
and alerts tables: each metric over the batches with its alert threshold drawn, the tags whose predicted rate moved
most in the newest batch, live quality over time, and the newest alerts. The model reports link to it."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import numpy as np
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from stacktags.config import Config
from stacktags.evaluate import figure_png, reports_dir
from stacktags.files import write_text
from stacktags.monitoring.monitor import ALERTS_TABLE, DRIFT_RULES, DRIFT_TABLE, LIVE_RULES, Rule

DASHBOARD_FILE = "monitor.html"
NEWEST_ALERTS = 30
MOVED_TAGS = 12
BATCH_COLOUR = "#1f77b4"
ALERT_COLOUR = "#d62728"


def dashboard_path(cfg: Config) -> str:
    return f"{reports_dir(cfg)}/{DASHBOARD_FILE}"


def limit_line(rule: Rule, threshold: float, references: list[float | None]) -> list[float]:
    """Per batch, the value past which `rule` alerts: its threshold, or the reference plus or minus it."""
    if rule.kind == "above":
        return [threshold] * len(references)
    sign = 1 if rule.kind == "rise" else -1
    return [np.nan if r is None else r + sign * threshold for r in references]


def metric_figure(batches: list[dict], rules: tuple[Rule, ...], cfg: Config, title: str):
    """One small plot per rule's metric: its value per batch (red where it alerted), the reference (grey) and the
    alert limit (dashed red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    columns = 4
    rows = (len(rules) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(15, 3.1 * rows), squeeze=False)
    x = np.arange(len(batches))
    labels = [b["label"] for b in batches]
    for axis, rule in zip(axes.flat, rules):
        values = [b["figures"].get(rule.metric, (np.nan, None))[0] for b in batches]
        references = [b["figures"].get(rule.metric, (np.nan, None))[1] for b in batches]
        alerted = [rule.metric in b["alerted"] for b in batches]
        axis.plot(x, values, marker="o", color=BATCH_COLOUR)
        axis.scatter(x[alerted], np.asarray(values)[alerted], color=ALERT_COLOUR, zorder=3, s=60)
        # short dashes at each batch as well as lines, so that a lone batch with a reference shows it too
        if any(r is not None for r in references):
            axis.plot(x, [np.nan if r is None else r for r in references], marker="_", ms=16, color="grey")
        threshold = cfg.get("monitor", rule.setting)
        if threshold is not None:
            limits = limit_line(rule, threshold, references)
            axis.plot(x, limits, "--", marker="_", ms=16, color=ALERT_COLOUR)
        axis.set_title(rule.metric, fontsize=10)
        axis.set_xticks(x, labels, rotation=45, fontsize=7, ha="right")
    for axis in list(axes.flat)[len(rules) :]:
        axis.axis("off")
    legend = [
        Line2D([], [], marker="o", color=BATCH_COLOUR, label="batch"),
        Line2D([], [], marker="o", ls="", ms=8, color=ALERT_COLOUR, label="alert"),
        Line2D([], [], color="grey", label="reference"),
        Line2D([], [], ls="--", color=ALERT_COLOUR, label="alert limit"),
    ]
    figure.legend(handles=legend, loc="upper right", ncols=4, fontsize=8)
    figure.suptitle(title, x=0.01, ha="left")
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.3 / figure.get_figheight()))  # room for the title and legend
    return figure


def moved_tags_figure(rates: list[tuple[str, float, float]], batch_label: str):
    """The tags whose predicted rate moved most in a batch: reference and batch rate side by side."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 0.35 * len(rates) + 1.2))
    y = np.arange(len(rates))
    axis.barh(y - 0.2, [r[2] for r in rates], height=0.4, color="grey", label="reference (validation)")
    axis.barh(y + 0.2, [r[1] for r in rates], height=0.4, color=BATCH_COLOUR, label=f"batch {batch_label}")
    axis.set_yticks(y, [r[0] for r in rates])
    axis.invert_yaxis()
    axis.set_xlabel("share of questions predicted the tag")
    axis.set_title(f"Tags whose predicted rate moved most in the newest batch ({batch_label})")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def render_dashboard(spark: SparkSession, cfg: Config) -> str:
    import matplotlib.pyplot as plt

    metrics = spark.table(cfg.table(DRIFT_TABLE))
    overall = metrics.where(F.col("tag").isNull()).collect()
    alerts = (
        spark.table(cfg.table(ALERTS_TABLE)).orderBy(F.desc("raised_at")).collect()
        if spark.catalog.tableExists(cfg.table(ALERTS_TABLE))
        else []
    )
    batches: dict[tuple[str, int], dict] = {}
    for row in overall:
        batch = batches.setdefault(
            (row["batch"], row["model_version"]),
            {"batch": row["batch"], "version": row["model_version"], "at": row["first_scored_at"], "figures": {}},
        )
        batch["figures"][row["metric"]] = (row["value"], row["reference"])
    for (name, version), batch in batches.items():
        batch["alerted"] = {a["metric"] for a in alerts if a["batch"] == name and a["model_version"] == version}
        when = batch["at"].strftime("%m-%d %H:%M") if batch["at"] else "?"
        batch["label"] = f"{when} {name[:8]} v{version}"
    ordered = sorted(batches.values(), key=lambda b: (b["at"] or datetime.min, b["batch"]))
    figures = []
    if ordered:
        figures.append(metric_figure(ordered, DRIFT_RULES, cfg, "Input and prediction drift per scoring batch"))
        figures.append(
            metric_figure(ordered, LIVE_RULES, cfg, "Live quality (scored test-split questions whose tags are known)")
        )
        newest = ordered[-1]
        per_tag = metrics.where(
            (F.col("batch") == newest["batch"])
            & (F.col("model_version") == newest["version"])
            & F.col("tag").isNotNull()
        ).collect()
        rates = sorted(
            ((r["tag"], r["value"], r["reference"] or 0.0) for r in per_tag), key=lambda t: -abs(t[1] - t[2])
        )
        if rates:
            figures.append(moved_tags_figure(rates[:MOVED_TAGS], newest["label"]))
    images = "".join(f'<img alt="plot" src="data:image/png;base64,{figure_png(f)}">' for f in figures)
    for figure in figures:
        plt.close(figure)
    alert_rows = "".join(
        f"<tr><td>{a['raised_at']:%Y-%m-%d %H:%M}</td><td>{html.escape(a['batch'])}</td><td>{a['model_version']}</td>"
        f"<td>{html.escape(a['message'])}</td><td>{html.escape(a['notified'] or '')}</td></tr>"
        for a in alerts[:NEWEST_ALERTS]
    )
    batch_rows = "".join(
        f"<tr><td>{html.escape(b['label'])}</td><td>{html.escape(b['batch'])}</td>"
        f"<td>{int(b['figures'].get('rows', (0, None))[0])}</td><td>{len(b['alerted'])}</td></tr>"
        for b in reversed(ordered)
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>stacktags monitoring: {html.escape(cfg.database)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1300px}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}} img{{max-width:100%;display:block;margin:1em 0}}
.alerts td{{color:#a00}}</style>
</head><body>
<h1>stacktags monitoring: database {html.escape(cfg.database)}</h1>
<p>{len(ordered)} scoring batches monitored, {len(alerts)} alerts. Each batch is compared with the reference profile
of the model that scored it (its validation split); live quality with the model's evaluation. Red points broke the
dashed limit ([monitor] in the conf). Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>
<h2>Newest alerts</h2>
<table class="alerts"><tr><th>raised</th><th>batch</th><th>model</th><th>what</th><th>notified</th></tr>
{alert_rows}</table>
<h2>Plots</h2>{images}
<h2>Batches</h2>
<table><tr><th>first scored, model</th><th>batch</th><th>questions</th><th>alerts</th></tr>{batch_rows}</table>
</body></html>
"""


def write_dashboard(spark: SparkSession, cfg: Config) -> str:
    """Render the dashboard and write it to its place: the path."""
    path = dashboard_path(cfg)
    write_text(spark, render_dashboard(spark, cfg), path)
    return path
