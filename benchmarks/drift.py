"""Measure the monitor's figures on batches with and without drift, to choose and check the [monitor] thresholds.

    scripts/drift.sh --source ../shared/data/so-dev --other ../shared/data/se-dev [--set monitor.length_psi=0.2]

Trains a model on --source (ingest, clean, train, evaluate into a fresh warehouse, in one local session), then scores
and monitors three batches, one score run each:
  held-back     the questions of --source's test split: the model never learnt from them; no drift expected
  blank bodies  the same questions with their bodies emptied (and other Ids): input drift
  other sites   the questions of --other (another StackSample-format folder, e.g. other Stack Exchange sites)
Prints one table: each batch's figures, the thresholds, and the alerts each raised. --record appends the run to
benchmarks/runs.jsonl.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from pyspark.sql import functions as F

from benchmarks.bench import RUNS_LOG, invocation, publish
from stacktags import config
from stacktags.lines import conf_dir
from stacktags.monitoring.monitor import DRIFT_RULES, LIVE_RULES
from stacktags.session import build_session
from stacktags.stages import run_clean, run_evaluate, run_ingest, run_monitor, run_score, run_train

SHOWN = (
    "rows",
    "title_length_psi",
    "body_length_psi",
    "code_length_psi",
    "unweighted_share",
    "empty_text_share",
    "predicted_tags_js",
    "forced_tag_share",
    "mean_top_score",
    "live_micro_f1",
    "live_macro_f1",
    "live_p_at_1",
)
ID_OFFSET = 10**12  # the blank-bodies batch's Ids: new questions to the model's predictions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--source", type=Path, required=True, help="StackSample-format folder to train on")
    parser.add_argument("--other", type=Path, required=True, help="StackSample-format folder of other questions")
    parser.add_argument("--work", type=Path, default=Path("/tmp/stacktags-drift"), help="emptied first")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--record", action="store_true", help=f"append the run to {RUNS_LOG}")
    args = parser.parse_args(argv)

    shutil.rmtree(args.work, ignore_errors=True)
    cfg = config.load(
        conf_dir(args.root) / "local.toml",
        warehouse=str(args.work / "warehouse"),
        database="drift",
        settings=args.settings,
    )
    spark = build_session(cfg, "stacktags-drift")
    run_ingest(spark, cfg, str(args.source))
    run_clean(spark, cfg)
    trained = run_train(spark, cfg)
    evaluated = run_evaluate(spark, cfg, trained.version)

    test_ids = spark.table(cfg.table("questions_clean")).where("split = 'test'").select("Id")
    held_back = spark.table(cfg.table("questions_raw")).join(test_ids, "Id", "left_semi").select("Id", "Title", "Body")
    held_back.write.format("delta").save(str(args.work / "held-back"))
    blank = held_back.select((F.col("Id") + ID_OFFSET).alias("Id"), "Title", F.lit("").alias("Body"))
    blank.write.format("delta").save(str(args.work / "blank-bodies"))
    batches = {
        "held-back": str(args.work / "held-back"),
        "blank bodies": str(args.work / "blank-bodies"),
        "other sites": str(args.other),
    }

    results = []
    for name, source in batches.items():
        run_score(spark, cfg, source, trained.version)
        started = time.monotonic()
        result = run_monitor(spark, cfg, version=trained.version)
        seconds = time.monotonic() - started
        report = result.reports[0]
        figures = {f.metric: f for f in report.figures if f.tag is None}
        results.append(
            {
                "batch": name,
                "monitor_seconds": round(seconds, 1),
                **{metric: figures[metric].value for metric in SHOWN if metric in figures},
                "references": {m: f.reference for m, f in figures.items() if f.reference is not None},
                "alerts": [a.metric for a in result.alerts],
            }
        )

    references = results[0]["references"]
    header = ["batch", *SHOWN, "alerts", "monitor s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cell(value) -> str:
        return "" if value is None else (f"{value:.0f}" if value >= 100 else f"{value:.3f}")

    lines.append(
        "| reference (validation; live: evaluation) | " + " | ".join(cell(references.get(m)) for m in SHOWN) + " | | |"
    )
    for r in results:
        lines.append(
            f"| {r['batch']} | "
            + " | ".join(cell(r.get(m)) for m in SHOWN)
            + f" | {', '.join(r['alerts']) or 'none'} | {r['monitor_seconds']} |"
        )
    limits = {rule.metric: f"{rule.kind} {cfg.get('monitor', rule.setting)}" for rule in (*DRIFT_RULES, *LIVE_RULES)}
    lines.append("| threshold | " + " | ".join(limits.get(m, "") for m in SHOWN) + " | | |")
    publish(
        "monitor figures: held-back, blank bodies, other sites",
        invocation("scripts/drift.sh", argv, args.root),
        [
            f"model {trained.version}: {trained.tags} tags, {trained.train_rows} training questions "
            f"of {args.source.name}",
            f"its test split: {evaluated.metrics.headline()}",
        ],
        "",
        "\n".join(lines),
        RUNS_LOG if args.record else None,
        results,
        args.root,
    )
    spark.stop()


if __name__ == "__main__":
    main()
