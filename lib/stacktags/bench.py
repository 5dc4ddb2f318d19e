"""Benchmark the jobs as users run them: one `scripts/submit.sh` process per stage, timed, with peak memory sampled.

    scripts/bench.sh --corpus var/corpus/1264216 [--stages ingest,ingest-rerun] [--target local] [--record BENCHMARKS.md]

Prints one table (stage, rows, wall seconds, rows/second, peak memory of the driver JVM and of the whole process
tree) and, with --record, appends it to BENCHMARKS.md with the date, the machine and the command. Row counts come from
the job_runs table, read with the `deltalake` package so that no extra JVM runs. Each run uses a fresh warehouse.
Asserts nothing about time: a benchmark reports, the reader judges.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import psutil
from deltalake import DeltaTable

from stacktags import config

STAGES = {
    # name: (job, job options given the corpus folder and the database)
    "ingest": ("ingest", lambda corpus, db: ["--source", str(corpus)]),
    "ingest-rerun": ("ingest", lambda corpus, db: ["--source", str(corpus)]),  # the same files again: no change
    "clean": ("clean", lambda corpus, db: []),
    "clean-rerun": ("clean", lambda corpus, db: []),  # nothing new: nothing prepared
    "train": ("train", lambda corpus, db: []),
    "train-1000": ("train", lambda corpus, db: ["--set", "train.num_tags=1000"]),
    "evaluate": ("evaluate", lambda corpus, db: []),  # the newest model
    "score": ("score", lambda corpus, db: ["--source", f"{db}.questions_raw"]),  # every question, newest model
}
SAMPLE_SECONDS = 0.25
MB = 1024 * 1024


@dataclass
class StageResult:
    stage: str
    rows: int
    wall_seconds: float
    peak_jvm_mb: float
    peak_tree_mb: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.wall_seconds if self.wall_seconds else 0.0


def run_measured(command: list[str], log: Path) -> tuple[float, float, float]:
    """Run a command; return wall seconds and the peak RSS (MB) of its largest JVM and of its whole process tree."""
    start = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        root = psutil.Process(process.pid)
        peak_jvm = peak_tree = 0.0
        while process.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                sizes = {p.pid: (p.name(), p.memory_info().rss) for p in tree}
            except psutil.Error:  # a process ended between listing and reading it
                continue
            peak_tree = max(peak_tree, sum(rss for _, rss in sizes.values()) / MB)
            peak_jvm = max([peak_jvm, *(rss / MB for name, rss in sizes.values() if name == "java")])
            time.sleep(SAMPLE_SECONDS)
    wall = time.monotonic() - start
    if process.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed (exit {process.returncode}); see {log}")
    return wall, peak_jvm, peak_tree


def last_run_rows(warehouse: Path, database: str, job: str) -> int:
    table = DeltaTable(str(warehouse / f"{database}.db" / "job_runs"))
    runs = table.to_pyarrow_table().to_pylist()
    # Free delta-rs and Arrow scan objects now: left to interpreter shutdown, their threads can abort the process
    # ("terminate called without an active exception", delta-io/delta-rs#2184).
    del table
    gc.collect()
    latest = max((run for run in runs if run["job"] == job), key=lambda run: run["ended_at"])
    return latest["rows_in"]


def machine() -> str:
    memory = psutil.virtual_memory().total / 1024 ** 3
    return f"{os.cpu_count()} cores, {memory:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def spark_settings(cfg: config.Config) -> str:
    props = config.spark_properties(cfg)
    keys = ("spark.master", "spark.driver.memory", "spark.executor.memory", "spark.sql.shuffle.partitions")
    return ", ".join(f"{key}={props[key]}" for key in keys if key in props)


def table(results: list[StageResult]) -> str:
    lines = ["| stage | rows | wall s | rows/s | peak driver JVM MB | peak process tree MB |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.stage} | {r.rows:,} | {r.wall_seconds:.1f} | {r.rows_per_second:,.0f} | "
                     f"{r.peak_jvm_mb:,.0f} | {r.peak_tree_mb:,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench.sh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="the project folder")
    parser.add_argument("--corpus", type=Path, required=True, help="a StackSample-format folder (scripts/make-corpus)")
    parser.add_argument("--stages", default="ingest,ingest-rerun,clean,clean-rerun", help=f"comma-separated, of: {', '.join(STAGES)}")
    parser.add_argument("--target", default="local")
    parser.add_argument("--work", type=Path, help="scratch folder for the warehouse and logs (default var/bench)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the warehouse of the last run (e.g. --stages train after an ingest,clean run)")
    parser.add_argument("--record", type=Path, help="append the results to this Markdown file (e.g. BENCHMARKS.md)")
    parser.add_argument("--note", default="", help="a line to record with the results")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a setting for every stage, e.g. train.max_iter=5 (repeatable; recorded with the figures)")
    args = parser.parse_args(argv)
    stages = args.stages.split(",")
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stages {unknown}; known: {', '.join(STAGES)}")

    root = args.root.resolve()
    work = (args.work or root / "var" / "bench").resolve()
    warehouse = work / "warehouse"
    if not args.reuse:
        shutil.rmtree(warehouse, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    cfg = config.load(root / "conf" / f"{args.target}.toml", warehouse=str(warehouse))

    results = []
    for stage in stages:
        job, options = STAGES[stage]
        command = [str(root / "scripts" / "submit.sh"), job, "--target", args.target, "--warehouse", str(warehouse),
                   *options(args.corpus.resolve(), cfg.database), *[f"--set={s}" for s in args.set]]
        print(f"[bench] {stage}: {shlex.join(command)}", file=sys.stderr, flush=True)
        wall, peak_jvm, peak_tree = run_measured(command, work / f"{stage}.log")
        results.append(StageResult(stage, last_run_rows(warehouse, cfg.database, job), wall, peak_jvm, peak_tree))
        print(f"[bench] {stage}: {wall:.1f} s", file=sys.stderr, flush=True)

    facts = [f"spark: {spark_settings(cfg)}", *([f"settings: {', '.join(args.set)}"] if args.set else [])]
    publish(f"{', '.join(stages)} on {args.corpus.name}", invocation("scripts/bench.sh", argv, root), facts,
            args.note, table(results), args.record)


def invocation(script: str, argv: list[str] | None, root: Path) -> str:
    """The command as the user typed it (the wrapper script adds --root)."""
    return f"{script} " + shlex.join(argv if argv is not None else sys.argv[1:]).replace(f"--root {root} ", "")


def publish(heading: str, command: str, facts: list[str], note: str, body: str, record: Path | None) -> None:
    """Print a dated Markdown section (command, machine, facts, note, table); with `record`, append it there."""
    text = "\n".join([
        f"### {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {heading}",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        *[f"- {fact}" for fact in facts],
        *([f"- note: {note}"] if note else []),
        "",
        body,
        "",
    ])
    print(text)
    if record:
        with record.open("a", encoding="utf-8") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
