"""Compare training settings ("levers") on one data set's split: each variant fitted, tuned and scored on the same rows.

    scripts/levers.sh --source ../shared/data/se-dev [--split 70|85] [--record] \
        'today:' 'reg 3e-6:train.reg_param=3e-6' 'bigrams 2^20:train.bigrams=true;train.num_features=1048576'

A variant is NAME:SETTINGS, the settings as --set takes them, separated by ";" (none: the conf as it is). With
several --source folders, their rows are joined into one folder first, as quality.sh does. The folder is ingested
and cleaned once into a scratch warehouse (kept under --work and reused while the folder and the split are the
same); then, in one Spark session, each variant's predictor is fitted on the train split, its thresholds tuned on
the validation split and its predictions on the test split scored by stacktags.metrics: the train job's steps
without saving a model, so that a lever costs its fit and not a whole pipeline. Each variant's micro-F1 is given
against the first's with the 95% interval of the difference (a paired bootstrap over the test questions): a lever
whose interval holds 0 is within the noise. quality.sh remains the measure of record (a user's pipeline, beside the
baselines); this is the quick side-by-side of settings that issue 30 asks for.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from benchmarks.bench import RUNS_LOG, invocation, publish
from benchmarks.quality import add_source_option, joined_source
from stacktags import config
from stacktags.clean import SILVER_TABLE, rows_of_split
from stacktags.evaluate import judged_rows, predicted
from stacktags.lines import conf_dir
from stacktags.metrics import evaluate_predictions
from stacktags.model import fit_and_tune
from stacktags.session import build_session
from stacktags.stages import run_clean, run_ingest

SPLITS = {  # --split: the share of questions in train, validation and test
    "70": "clean.split={train=0.7,validation=0.1,test=0.2}",  # the conf's
    "85": "clean.split={train=0.85,validation=0.14,test=0.01}",  # issue 30's "nothing held back from training"
}
COLUMNS = ["Id", "title_tokens", "body_tokens", "code_tokens", "tags"]
BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED = 1000, 0
METRICS = [("micro-F1", "micro_f1"), ("macro-F1", "macro_f1"), ("P@1", "p_at_1"), ("P@3", "p_at_3"), ("R@5", "r_at_5")]


def row_counts(rows: DataFrame) -> np.ndarray:
    """Per test question, in Id order (the same in every variant): its true tags found, true tags, tags predicted."""
    found = F.size(F.array_intersect("truth", "predicted"))
    frame = rows.select("Id", found.alias("found"), F.size("truth").alias("true"), F.size("predicted").alias("said"))
    return np.array([(r.found, r.true, r.said) for r in frame.orderBy("Id").collect()], dtype=np.int64)


def bootstrap_interval(base: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """The 95% interval of micro-F1(other) - micro-F1(base) over BOOTSTRAP_SAMPLES resamples of the test questions,
    the same questions for both (a paired bootstrap): a lever whose interval holds 0 is within the noise."""
    picks = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(base), size=(BOOTSTRAP_SAMPLES, len(base)))

    def micro_f1(counts: np.ndarray) -> np.ndarray:
        found, true, said = (counts[:, i][picks].sum(axis=1) for i in range(3))
        return 2 * found / np.maximum(true + said, 1)

    low, high = np.percentile(micro_f1(other) - micro_f1(base), [2.5, 97.5])
    return float(low), float(high)


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, colon, settings = text.partition(":")
    if not colon or not name:
        raise SystemExit(f"levers: a variant is NAME:SETTINGS (settings separated by ';'), got {text!r}")
    return name, [setting for setting in settings.split(";") if setting]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/levers.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, required=True, help="the project folder")
    add_source_option(parser)
    parser.add_argument("--split", choices=SPLITS, default="70", help="train/validation/test percentages")
    parser.add_argument("--set", action="append", default=[], help="a setting for every variant (repeatable)")
    parser.add_argument("--work", type=Path, help="scratch folder (default var/levers/<source name>-<split>)")
    parser.add_argument("--record", type=Path, nargs="?", const=RUNS_LOG, help="append to benchmarks/runs.jsonl")
    parser.add_argument("--note", default="", help="a line to record with the results")
    parser.add_argument("variants", nargs="+", metavar="NAME:SETTINGS")
    args = parser.parse_args(argv)
    variants = [parse_variant(v) for v in args.variants]
    root = args.root.resolve()
    sources = [source.resolve() for source in args.source]
    name = "+".join(source.name for source in sources)
    work = (args.work or root / "var" / "levers" / f"{name}-{args.split}").resolve()
    common = [SPLITS[args.split], *args.set]

    def conf(settings: list[str]) -> config.Config:
        return config.load(
            conf_dir(root) / "local.toml", warehouse=str(work / "warehouse"), settings=[*common, *settings]
        )

    cfg = conf([])
    spark = build_session(cfg, "levers")
    try:
        silver = cfg.table(SILVER_TABLE)
        # the cleaned rows are reused when they came from the same folder with the same settings
        stamp, made_from = work / "made-from.txt", "\n".join([*map(str, sources), *common])
        if not (spark.catalog.tableExists(silver) and stamp.is_file() and stamp.read_text() == made_from):
            spark.sql(f"DROP DATABASE IF EXISTS {cfg.database} CASCADE")
            spark.sql(f"CREATE DATABASE {cfg.database}")
            source = sources[0] if len(sources) == 1 else joined_source(sources, work / "source")
            run_ingest(spark, cfg, str(source))
            run_clean(spark, cfg)
            stamp.write_text(made_from)
        data = spark.table(silver).select(*COLUMNS, "split").cache()
        training, validation, test = (rows_of_split(data, s).select(*COLUMNS) for s in ("train", "validation", "test"))
        results, counts = [], []
        for name, settings in variants:
            started = time.monotonic()
            chosen = fit_and_tune(conf(settings), training, validation)
            predictor = chosen.predictor
            tags = predictor.stages[-1].getOrDefault("tags")
            rows = predicted(predictor, judged_rows(test, tags), "Id").cache()
            overall = evaluate_predictions(rows, tags).overall
            per_question = row_counts(rows)
            rows.unpersist()
            seconds = time.monotonic() - started
            results.append(
                {
                    "variant": name,
                    "settings": settings,
                    "reg_param": chosen.reg_param,
                    "overall": overall,
                    "seconds": seconds,
                }
            )
            counts.append(per_question)
            print(f"[levers] {name}: micro-F1 {overall['micro_f1']:.4f} in {seconds:.0f} s", flush=True)
    finally:
        spark.stop()

    first = results[0]["overall"]
    for result, per_question in zip(results, counts):
        result["micro_f1_change_95"] = bootstrap_interval(counts[0], per_question)
    header = [
        "variant",
        "settings",
        "reg_param chosen",
        *(label for label, _ in METRICS),
        f"micro-F1 vs {results[0]['variant']} (95% interval)",
        "s",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for result in results:
        overall = result["overall"]
        lines.append(
            "| "
            + " | ".join(
                [
                    result["variant"],
                    "; ".join(f"`{s}`" for s in result["settings"]) or "(the conf)",
                    f"{result['reg_param']:g}",
                    *(f"{overall[key]:.4f}" for _, key in METRICS),
                    "{:+.4f} ({:+.4f} to {:+.4f})".format(
                        overall["micro_f1"] - first["micro_f1"], *result["micro_f1_change_95"]
                    ),
                    f"{result['seconds']:.0f}",
                ]
            )
            + " |"
        )
    publish(
        f"levers on {name}, split {args.split}",
        invocation("scripts/levers.sh", argv, root),
        [
            f"test split: {int(first['rows']):,} questions with one of the tags",
            *(f"every variant: `{s}`" for s in common),
        ],
        args.note,
        "\n".join(lines),
        args.record,
        results,
        root,
    )


if __name__ == "__main__":
    main()
