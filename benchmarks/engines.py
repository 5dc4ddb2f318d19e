"""The two text-preparation engines side by side ([text] engine: native and spark-nlp), in one run: on each data set
the jobs run as users run them (scripts/submit.sh, a process each) into a warehouse per engine, on the same split.

    scripts/engines.sh --spark 3.5 --source ../shared/data/so-dev --source ../shared/data/se-dev [--record]
    scripts/engines.sh --spark 3.5 --source var/corpus/1264216 --set train.num_tags=100   # speed at scale

Per data set and engine it prints the model's test-split quality (evaluate's metrics.json), the clean and score
jobs' wall seconds (JVM start included) and questions per second (score: every question of the data set), and how
many questions get the same tokens (title, body and code) as under the native engine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.bench import RUNS_LOG, invocation, publish, read_delta, run_measured, submit_script
from benchmarks.quality import newest_model
from stacktags import config
from stacktags.evaluate import reports_dir
from stacktags.lines import conf_dir, running_line
from stacktags.text import ENGINES

JOBS = ("ingest", "clean", "train", "evaluate", "score")
TOKENS = ["title_tokens", "body_tokens", "code_tokens"]


def run_job(root: Path, job: str, warehouse: Path, engine: str, settings: list[str], options: list[str], log: Path):
    command = [
        *submit_script(root),
        job,
        "--warehouse",
        str(warehouse),
        f"--set=text.engine={engine}",
        *[f"--set={s}" for s in settings],
        *options,
    ]
    print(f"[engines] {' '.join(command)}", file=sys.stderr, flush=True)
    wall, _, _, finished = run_measured(command, log)
    if not finished:
        raise SystemExit(f"{job} did not finish: {log}")
    return wall


def joined_tokens(warehouse: Path, database: str) -> pa.Table:
    """Id and each token column of questions_clean as one string (tokens joined by U+001F), column by column in
    Arrow: 1.26M questions' tokens as Python objects took minutes and gigabytes."""
    table = read_delta(warehouse / f"{database}.db" / "questions_clean", ["Id", *TOKENS])
    return pa.table({"Id": table["Id"], **{c: pc.fill_null(pc.binary_join(table[c], "\x1f"), "") for c in TOKENS}})


def same_tokens(tokens: pa.Table, native: pa.Table) -> int:
    """The questions whose three token columns equal the native engine's."""
    joined = tokens.join(native, "Id", right_suffix="_native")
    same = [pc.equal(joined[c], joined[f"{c}_native"]) for c in TOKENS]
    return pc.sum(pc.and_(pc.and_(same[0], same[1]), same[2])).as_py() or 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/engines.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, required=True, help="the project folder")
    parser.add_argument("--source", type=Path, action="append", required=True, help="a StackSample folder (repeatable)")
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"the jobs to run, in order (default {','.join(JOBS)})")
    parser.add_argument(
        "--model-from", help="without train: the data set (a --source's folder name) whose models score"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="a setting for every job"
    )
    parser.add_argument("--work", type=Path, help="scratch folder (default var/engines)")
    parser.add_argument("--record", type=Path, nargs="?", const=RUNS_LOG, help="append the run to this JSON-lines log")
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    jobs = args.jobs.split(",")
    work = (args.work or root / "var" / "engines").resolve()
    cfg = config.load(conf_dir(root) / "local.toml")
    rows, results = [], []
    for source in (s.resolve() for s in args.source):
        native_tokens = None
        for engine in ENGINES:
            warehouse = work / source.name / engine
            shutil.rmtree(warehouse, ignore_errors=True)
            warehouse.mkdir(parents=True)
            seconds = {}
            for job in jobs:
                options = {"ingest": ["--source", str(source)], "score": ["--source", f"{cfg.database}.questions_raw"]}
                log = work / f"{source.name}-{engine}-{job}.log"
                seconds[job] = run_job(root, job, warehouse, engine, args.set, options.get(job, []), log)
            tokens = joined_tokens(warehouse, cfg.database)
            questions = tokens.num_rows
            native_tokens = native_tokens if native_tokens is not None else tokens
            same = same_tokens(tokens, native_tokens)
            overall = {}
            if "evaluate" in jobs:
                model = newest_model(warehouse, cfg.database)
                wh_cfg = config.load(cfg.path, warehouse=str(warehouse))
                overall = json.loads((Path(reports_dir(wh_cfg)) / f"v{model['version']}" / "metrics.json").read_text())[
                    "overall"
                ]
            rows.append((source.name, engine, questions, overall, seconds, same))
            results.append(
                {
                    "data": source.name,
                    "engine": engine,
                    "questions": questions,
                    "overall": overall,
                    "seconds": seconds,
                    "same_tokens": same,
                }
            )
    lines = [
        "| data | engine | questions | micro-F1 | macro-F1 | P@1 | clean s | clean q/s | score s | score q/s "
        "| same tokens as native |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, engine, questions, overall, seconds, same in rows:
        quality = [f"{overall[k]:.3f}" if k in overall else "" for k in ("micro_f1", "macro_f1", "p_at_1")]
        speed = []
        for job in ("clean", "score"):
            wall = seconds.get(job)
            speed += [f"{wall:.0f}", f"{questions / wall:,.0f}"] if wall else ["", ""]
        lines.append(
            f"| {name} | {engine} | {questions:,} | {' | '.join(quality)} | {' | '.join(speed)} "
            f"| {same / questions:.2%} |"
        )
    facts = [f"jobs: {', '.join(jobs)}; seconds are each job's process, JVM start included"]
    if args.set:
        facts.append(f"settings: {', '.join(args.set)}")
    publish(
        "text engines side by side",
        invocation(f"scripts/engines.sh --spark {running_line()}", argv, root),
        facts,
        args.note,
        "\n".join(lines),
        args.record,
        results,
        root,
    )


if __name__ == "__main__":
    main()
