"""Measure model quality on a real StackSample-format folder, beside the seed's approach and a strong linear baseline
on the same split.

    scripts/quality.sh --source ../shared/data/so-dev [--set train.reg_param=1e-6] [--record]
    scripts/quality.sh --source ../shared/data/so-dev --source ../shared/data/se-dev --set train.num_tags=1000

With several --source folders, their CSV files are joined into one folder first (one header each).

1. Our model: `scripts/submit.sh pipeline` into a fresh warehouse, as a user runs it (the test split is scored by the
   evaluate job, never a training row).
2. The seed's approach, on the same questions: the train split rows that carry one of the model's tags, and the same
   test rows. scikit-learn TfidfVectorizer(max_features=5000, stop_words='english') over the lowercased title plus
   the BeautifulSoup text of the body, OneVsRestClassifier(LogisticRegression(solver='liblinear')), threshold 0.5.
3. A strong linear baseline (benchmarks/baseline.py: 1-2-gram TF-IDF with the title three times, logistic
   regression per tag with C tuned on the validation split, at least one tag), on the same rows.
4. Every set of predictions is scored by the same code (stacktags.metrics) and printed as one table; with more
   tags than train.tags_per_fit, a second table gives micro- and macro-F1 per group of tags (most frequent first),
   the groups the estimator learns one after the other. --record appends them to benchmarks/runs.jsonl with the date,
   the command and the settings.

The warehouse's tables are read with the `deltalake` package; the metrics run in a plain local SparkSession.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession

from benchmarks.baseline import baseline_predictions, baseline_text
from benchmarks.bench import RUNS_LOG, invocation, publish, read_delta, run_measured, submit_script
from benchmarks.seed import seed_predictions, seed_text
from stacktags import config
from stacktags.evaluate import reports_dir
from stacktags.lines import conf_dir
from stacktags.metrics import Metrics, evaluate_predictions


@dataclass
class Approach:
    name: str
    overall: dict[str, float]
    per_tag: list[dict]  # in the model's tag order, most frequent first
    train_rows: int
    fit_seconds: float


STACKSAMPLE_FILES = ("Questions.csv", "Tags.csv", "Answers.csv")


def add_source_option(parser: argparse.ArgumentParser) -> None:
    """--source, repeatable: the folders' rows together (joined_source), as quality.sh and levers.sh take them."""
    parser.add_argument(
        "--source",
        type=Path,
        action="append",
        required=True,
        help="a StackSample-format folder with tags (repeatable: the folders' rows together)",
    )


def joined_source(sources: list[Path], folder: Path) -> Path:
    """One StackSample-format folder holding the rows of all `sources`: each CSV file is theirs one after the
    other, with the first one's header only. Files whose headers differ are an error (their columns would mix); a
    file that does not end with a newline gets one (its last row would run into the next file's first). A question
    Id in two sources is the ingest job's to quarantine."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in STACKSAMPLE_FILES:
        with (folder / name).open("wb") as out:
            first_header = None
            for source in sources:
                with (source / name).open("rb") as part:
                    header = part.readline()
                    if first_header is None:
                        first_header = header
                        # a header-only file may lack its newline: the next file's rows must not run into it
                        out.write(header if header.endswith(b"\n") else header + b"\n")
                    elif header.rstrip(b"\r\n") != first_header.rstrip(b"\r\n"):
                        raise ValueError(
                            f"{source / name}: header {header.strip()!r} differs from "
                            f"{sources[0] / name}'s {first_header.strip()!r}"
                        )
                    shutil.copyfileobj(part, out)
                    if part.tell() > len(header):
                        part.seek(-1, 2)
                        if part.read(1) != b"\n":
                            out.write(b"\n")
    return folder


def split_rows(warehouse: Path, database: str, tags: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The train, validation and test rows that carry one of the tags, their truth restricted to the tags (as the
    train and evaluate jobs select them), each with the seed's text (`text`) and the baseline's (`baseline_text`)."""
    db = warehouse / f"{database}.db"
    clean = read_delta(db / "questions_clean", ["Id", "tags", "split"]).to_pandas()
    raw = read_delta(db / "questions_raw", ["Id", "Title", "Body"]).to_pandas()
    known = set(tags)
    rows = clean.merge(raw, on="Id")
    rows["tags"] = rows["tags"].map(lambda ts: sorted(known.intersection(ts)))
    rows = rows[rows["tags"].map(len) > 0]
    rows["text"] = [seed_text(t, b) for t, b in zip(rows["Title"], rows["Body"])]
    rows["baseline_text"] = [baseline_text(t, b) for t, b in zip(rows["Title"], rows["Body"])]
    return tuple(rows[rows["split"] == split] for split in ("train", "validation", "test"))


def newest_model(warehouse: Path, database: str) -> dict:
    """The newest row of the models table, its params map as a dict (Arrow gives maps as key-value pairs)."""
    models = read_delta(warehouse / f"{database}.db" / "models").to_pylist()
    newest = max(models, key=lambda m: m["version"])
    return {**newest, "params": dict(newest["params"])}


def score_rows(spark: SparkSession, rows: pd.DataFrame, tags: list[str]) -> Metrics:
    frame = spark.createDataFrame(rows, "truth array<string>, predicted array<string>, ranked array<string>")
    return evaluate_predictions(frame, tags)


COLUMNS = [
    ("micro-F1", "micro_f1"),
    ("macro-F1", "macro_f1"),
    ("P@1", "p_at_1"),
    ("P@3", "p_at_3"),
    ("R@5", "r_at_5"),
    ("Jaccard", "jaccard"),
    ("Hamming", "hamming_loss"),
    ("subset acc.", "subset_accuracy"),
]


def table(approaches: list[Approach]) -> str:
    lines = [
        "| approach | " + " | ".join(label for label, _ in COLUMNS) + " | train rows | fit s |",
        "|---|" + "---:|" * (len(COLUMNS) + 2),
    ]
    for a in approaches:
        figures = " | ".join(
            f"{a.overall[key]:.4f}" if key == "hamming_loss" else f"{a.overall[key]:.3f}" for _, key in COLUMNS
        )
        lines.append(f"| {a.name} | {figures} | {a.train_rows:,} | {a.fit_seconds:.0f} |")
    return "\n".join(lines)


MARGIN_METRICS = (("micro-F1", "micro_f1"), ("macro-F1", "macro_f1"), ("P@1", "p_at_1"))


def margin_table(ours: Approach, baseline: Approach) -> str:
    """stacktags' margin over the baseline on the headline metrics (positive: ahead)."""
    lines = ["| margin over the baseline | " + " | ".join(label for label, _ in MARGIN_METRICS) + " |"]
    lines.append("|---|" + "---:|" * len(MARGIN_METRICS))
    cells = [f"{ours.overall[key] - baseline.overall[key]:+.3f}" for _, key in MARGIN_METRICS]
    lines.append(f"| {ours.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def band_figures(per_tag: list[dict]) -> tuple[float, float]:
    """Micro- and macro-F1 over these tags' figures."""
    true_positives = sum(round(t["recall"] * t["support"]) for t in per_tag)
    counted = sum(t["predicted"] + t["support"] for t in per_tag)
    return (2 * true_positives / counted if counted else 0.0), sum(t["f1"] for t in per_tag) / len(per_tag)


def group_table(approaches: list[Approach], group_size: int) -> str:
    """Micro- and macro-F1 per group of group_size tags, in the model's tag order."""
    count = len(approaches[0].per_tag)
    groups = [(first, min(first + group_size, count)) for first in range(0, count, group_size)]
    lines = [
        "| approach | " + " | ".join(f"tags {a + 1}-{b}: micro-F1 | macro-F1" for a, b in groups) + " |",
        "|---|" + "---:|---:|" * len(groups),
    ]
    for a in approaches:
        cells = [f"{figure:.3f}" for first, last in groups for figure in band_figures(a.per_tag[first:last])]
        lines.append(f"| {a.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/quality.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, required=True, help="the project folder")
    add_source_option(parser)
    parser.add_argument("--target", default="local")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a setting for the pipeline, e.g. train.reg_param=1e-6 (repeatable)",
    )
    parser.add_argument("--work", type=Path, help="scratch folder (default var/quality/<source folder name>)")
    parser.add_argument(
        "--record",
        type=Path,
        nargs="?",
        const=RUNS_LOG,
        help="append the run to this JSON-lines log (default: benchmarks/runs.jsonl)",
    )
    parser.add_argument("--note", default="", help="a line to record with the results")
    args = parser.parse_args(argv)

    root = args.root.resolve()
    sources = [source.resolve() for source in args.source]
    name = "+".join(source.name for source in sources)
    work = (args.work or root / "var" / "quality" / name).resolve()
    warehouse = work / "warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    source = sources[0] if len(sources) == 1 else joined_source(sources, work / "source")
    cfg = config.load(conf_dir(root) / f"{args.target}.toml", warehouse=str(warehouse), settings=args.set)

    command = [
        *submit_script(root),
        "pipeline",
        "--target",
        args.target,
        "--warehouse",
        str(warehouse),
        "--source",
        str(source),
        *[f"--set={s}" for s in args.set],
    ]
    print(f"[quality] {shlex.join(command)}", file=sys.stderr, flush=True)
    pipeline_seconds, _, _, _ = run_measured(command, work / "pipeline.log")

    model = newest_model(warehouse, cfg.database)
    report = json.loads((Path(reports_dir(cfg)) / f"v{model['version']}" / "metrics.json").read_text())
    tags = [t["tag"] for t in report["per_tag"]]
    ours = Approach(
        f"stacktags (model {model['version']})",
        report["overall"],
        report["per_tag"],
        int(model["params"]["train_rows"]),
        float(model["params"]["fit_seconds"]),
    )

    print("[quality] the seed's approach (scikit-learn) on the same split", file=sys.stderr, flush=True)
    train, validation, test = split_rows(warehouse, cfg.database, tags)
    seed_rows, seed_fit = seed_predictions(train, test, tags)
    print("[quality] the linear baseline (scikit-learn) on the same split", file=sys.stderr, flush=True)
    baseline_rows, baseline_c, baseline_fit = baseline_predictions(
        *(frame.assign(text=frame["baseline_text"]) for frame in (train, validation, test)), tags
    )
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("stacktags-quality")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    try:
        seed_metrics = score_rows(spark, seed_rows, tags)
        seed = Approach(
            "seed: TF-IDF 5000 + one-vs-rest liblinear, 0.5",
            seed_metrics.overall,
            seed_metrics.per_tag,
            len(train),
            seed_fit,
        )
        baseline_metrics = score_rows(spark, baseline_rows, tags)
        baseline = Approach(
            f"baseline: 1-2-gram TF-IDF, title x3, LR C={baseline_c:g} (tuned), >= 1 tag",
            baseline_metrics.overall,
            baseline_metrics.per_tag,
            len(train),
            baseline_fit,
        )
    finally:
        spark.stop()

    train_settings = {k: v for k, v in cfg.section("train").items() if k != "models_dir"}
    facts = [
        f"train settings: {', '.join(f'{k}={v}' for k, v in train_settings.items())}",
        f"test split: {int(report['overall']['rows']):,} questions with at least one of the {len(tags)} tags; "
        f"whole pipeline {pipeline_seconds:.0f} s",
    ]
    approaches = [ours, seed, baseline]
    tables = [table(approaches), margin_table(ours, baseline)]
    group_size = int(cfg.require("train", "tags_per_fit"))
    if 0 < group_size < len(tags):
        tables.append(group_table(approaches, group_size))
    publish(
        f"quality on {' + '.join(source.name for source in sources)}",
        invocation("scripts/quality.sh", argv, root),
        facts,
        args.note,
        "\n\n".join(tables),
        args.record,
        [
            {
                "approach": a.name,
                "overall": a.overall,
                "per_tag": a.per_tag,
                "train_rows": a.train_rows,
                "fit_seconds": a.fit_seconds,
            }
            for a in approaches
        ],
        root,
    )


if __name__ == "__main__":
    main()
