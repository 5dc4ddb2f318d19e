"""Benchmark the jobs as users run them: one `scripts/submit.sh` process per stage, timed, with peak memory sampled.

    scripts/bench.sh --corpus var/corpus/1264216 [--stages ingest,ingest-rerun] [--target local] [--record]

Prints one table (stage, rows, wall seconds, rows/second, peak memory of the driver JVM and of the whole process
tree, and the machine probe: a fixed single-core Python loop timed just before the stage) and, with --record,
appends the run to benchmarks/runs.jsonl with the date, the commit, the machine and the command. Row counts come from
the job_runs table, read with the `deltalake` package so that no extra JVM runs. Each run uses a fresh warehouse. The
`seed` stage times the seed's scikit-learn approach end to end on the same corpus (benchmarks.seed), stopped after
--seed-timeout seconds, and the table is followed by the ratio to stacktags' own stages of the run. Asserts nothing
about time: a benchmark reports, the reader judges.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from stacktags import cli, config
from stacktags.lines import conf_dir, running_line
from stacktags.registry import MODELS_TABLE

STAGES = {
    # name: (job, job options given the corpus folder and the database)
    "ingest": ("ingest", lambda corpus, db: ["--source", str(corpus)]),
    "ingest-rerun": ("ingest", lambda corpus, db: ["--source", str(corpus)]),  # the same files again: no change
    "clean": ("clean", lambda corpus, db: []),
    "clean-rerun": ("clean", lambda corpus, db: []),  # nothing new: nothing prepared
    "train": ("train", lambda corpus, db: []),
    "train-1000": ("train", lambda corpus, db: ["--set", "train.num_tags=1000"]),
    "evaluate": ("evaluate", lambda corpus, db: []),  # the model of the train stage (see trained_model)
    "score": ("score", lambda corpus, db: ["--source", f"{db}.questions_raw"]),  # every question
    "monitor": ("monitor", lambda corpus, db: []),  # the score stage's batch against the model's profile
    "seed": (None, None),  # the seed's approach end to end: not a Spark job (see benchmarks.seed)
}
MODEL_USERS = ("evaluate", "score")
END_TO_END = ("ingest", "clean", "train", "evaluate", "score")  # the stages a user runs to go from CSV to tags
SAMPLE_SECONDS = 0.25
MB = 1024 * 1024
LOG_TAIL_LINES = 30  # of a failed stage's log, in the error
PROBE_ITERATIONS = 20_000_000


@dataclass
class StageResult:
    stage: str
    rows: int
    wall_seconds: float
    peak_jvm_mb: float
    peak_tree_mb: float
    finished: bool = True  # False: stopped at the time limit, so wall_seconds is a lower bound
    probe_seconds: float | None = None  # machine_probe_seconds() just before the stage

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.wall_seconds if self.wall_seconds else 0.0


def machine_probe_seconds() -> float:
    """Seconds for a fixed single-core Python loop. On a shared host the same stage can vary by 20% from hour to hour;
    a stage whose probe reads well above its run's others ran on a busier machine, and its time is not comparable."""
    start = time.perf_counter()
    total = 0
    for i in range(PROBE_ITERATIONS):
        total += i * i
    return time.perf_counter() - start


def run_measured(command: list[str], log: Path, timeout: float | None = None) -> tuple[float, float, float, bool]:
    """Run a command; return wall seconds, the peak RSS (MB) of its largest JVM and of its whole process tree, and
    whether it finished: past `timeout` seconds its process tree is stopped and the wall time is a lower bound."""
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
            if timeout is not None and time.monotonic() - start > timeout:
                for member in reversed(tree):
                    with contextlib.suppress(psutil.Error):  # already gone
                        member.kill()
                process.wait()
                return time.monotonic() - start, peak_jvm, peak_tree, False
            time.sleep(SAMPLE_SECONDS)
    wall = time.monotonic() - start
    if process.returncode not in (0, cli.ALERT_STATUS):  # the monitor's alerts are a finding, not a failure
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-LOG_TAIL_LINES:])
        raise RuntimeError(f"{shlex.join(command)} failed (exit {process.returncode}); {log} ends:\n{tail}")
    return wall, peak_jvm, peak_tree, True


def read_delta(location: Path, columns: list[str] | None = None) -> pa.Table:
    """A Delta table's current rows, read without a JVM: delta-rs lists the snapshot's files, pyarrow reads them.
    delta-rs's own scan leaves threads behind that can abort the process at exit ("terminate called without an
    active exception", delta-io/delta-rs#2184). Reading the listed files is exact for protocol-1 tables (no deletion
    vectors, no column mapping), which is what the jobs write; anything newer is read by delta-rs."""
    table = DeltaTable(str(location))
    if table.protocol().min_reader_version > 1:
        return table.to_pyarrow_table(columns=columns)
    return pq.read_table(table.file_uris(), columns=columns)


def last_run_rows(warehouse: Path, database: str, job: str) -> int:
    runs = read_delta(warehouse / f"{database}.db" / "job_runs", ["job", "ended_at", "rows_in"]).to_pylist()
    latest = max((run for run in runs if run["job"] == job), key=lambda run: run["ended_at"])
    return latest["rows_in"]


def trained_model(warehouse: Path, database: str, num_tags: int) -> int | None:
    """The newest model of the train stage's `num_tags` tags, for evaluate and score: the jobs' default, the newest
    model of all, would be a train-1000 model whenever that stage ran after train (or in an earlier --reuse run).
    None when there is no such model: then the jobs take their default."""
    location = warehouse / f"{database}.db" / MODELS_TABLE
    if not (location / "_delta_log").is_dir():
        return None
    rows = read_delta(location, ["version", "params"]).to_pylist()
    return max(
        (row["version"] for row in rows if dict(row["params"] or []).get("num_tags") == str(num_tags)), default=None
    )


def machine() -> str:
    memory = psutil.virtual_memory().total / 1024**3
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores, {memory:.0f} GiB RAM, {system}, Python {platform.python_version()}"


def spark_settings(cfg: config.Config) -> str:
    props = config.spark_properties(cfg)
    keys = ("spark.master", "spark.driver.memory", "spark.executor.memory", "spark.sql.shuffle.partitions")
    return ", ".join(f"{key}={props[key]}" for key in keys if key in props)


def table(results: list[StageResult]) -> str:
    lines = [
        "| stage | rows | wall s | rows/s | peak driver JVM MB | peak process tree MB | probe s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        wall = f"{r.wall_seconds:.1f}" if r.finished else f"> {r.wall_seconds:.0f} (stopped)"
        probe = "" if r.probe_seconds is None else f"{r.probe_seconds:.2f}"
        lines.append(
            f"| {r.stage} | {r.rows:,} | {wall} | {r.rows_per_second:,.0f} | "
            f"{r.peak_jvm_mb:,.0f} | {r.peak_tree_mb:,.0f} | {probe} |"
        )
    return "\n".join(lines + seed_comparison(results))


def seed_comparison(results: list[StageResult]) -> list[str]:
    """With a seed stage and stacktags' own stages from CSV to tags in the run: both end-to-end times and the ratio."""
    by_stage = {r.stage: r for r in results}
    if "seed" not in by_stage or not all(stage in by_stage for stage in END_TO_END):
        return []
    ours = sum(by_stage[stage].wall_seconds for stage in END_TO_END)
    seed = by_stage["seed"]
    ratio = seed.wall_seconds / ours
    if not seed.finished and ratio < 1:
        verdict = "the seed's run was stopped before stacktags' time, so neither is known to be faster"
    elif ratio >= 1:
        verdict = f"stacktags is {'' if seed.finished else 'at least '}{ratio:.1f}x as fast"
    else:
        verdict = f"the seed's approach is {1 / ratio:.1f}x as fast"
    bound = "" if seed.finished else "at least "
    return [
        "",
        f"End to end ({' + '.join(END_TO_END)}): stacktags {ours:.0f} s, the seed's approach "
        f"{bound}{seed.wall_seconds:.0f} s: {verdict}.",
    ]


def seed_rows(log: Path) -> int:
    """The number of questions the seed's run read (its last line), 0 when it was stopped before saying."""
    found = re.search(r"seed's approach: (\d+) questions", log.read_text())
    return int(found.group(1)) if found else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/bench.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, required=True, help="the project folder")
    parser.add_argument(
        "--corpus",
        type=Path,
        action="append",
        required=True,
        help="a StackSample-format folder (scripts/make-corpus); repeat it for a scaling curve: the "
        "stages run on each, and a table and a plot (--plot) show seconds against questions",
    )
    parser.add_argument(
        "--stages", default="ingest,ingest-rerun,clean,clean-rerun", help=f"comma-separated, of: {', '.join(STAGES)}"
    )
    parser.add_argument("--target", default="local")
    parser.add_argument("--work", type=Path, help="scratch folder for the warehouse and logs (default var/bench)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the warehouse of the last run (e.g. --stages train after an ingest,clean run)",
    )
    parser.add_argument(
        "--record",
        type=Path,
        nargs="?",
        const=RUNS_LOG,
        help=f"append the run to this JSON-lines log (default: {RUNS_LOG.relative_to(RUNS_LOG.parents[1])})",
    )
    parser.add_argument("--plot", type=Path, help="with several corpora: write the scaling plot (PNG) here")
    parser.add_argument("--note", default="", help="a line to record with the results")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a setting for every stage, e.g. train.max_iter=5 (repeatable; recorded with the figures)",
    )
    parser.add_argument(
        "--seed-timeout",
        type=float,
        default=3600,
        help="stop the seed stage after this many seconds and report the time as a lower bound",
    )
    args = parser.parse_args(argv)
    stages = args.stages.split(",")
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stages {unknown}; known: {', '.join(STAGES)}")
    scaling = len(args.corpus) > 1
    if scaling and "ingest" not in stages:
        parser.error("a scaling curve needs the ingest stage (it counts each corpus's questions)")

    root = args.root.resolve()
    work = (args.work or root / "var" / "bench").resolve()
    command = invocation("scripts/bench.sh", argv, root)
    curve = {}
    for corpus in args.corpus:
        corpus_work = work / corpus.name if scaling else work  # one warehouse per corpus
        warehouse = corpus_work / "warehouse"
        if not args.reuse:
            shutil.rmtree(warehouse, ignore_errors=True)
        corpus_work.mkdir(parents=True, exist_ok=True)
        cfg = config.load(conf_dir(root) / f"{args.target}.toml", warehouse=str(warehouse))
        results = [run_stage(stage, root, corpus.resolve(), corpus_work, warehouse, cfg, args) for stage in stages]
        facts = [f"spark: {spark_settings(cfg)}", *([f"settings: {', '.join(args.set)}"] if args.set else [])]
        publish(
            f"{', '.join(stages)} on {corpus.name}",
            command,
            facts,
            args.note,
            table(results),
            args.record,
            [asdict(result) for result in results],
            root,
        )
        if scaling:
            curve[questions_ingested(warehouse, cfg.database)] = results
    if scaling:
        body = scaling_table(curve)
        if args.plot:
            plot_scaling(curve, args.plot)
            body += f"\n\n![seconds per stage against questions]({args.plot})"
        points = [
            {"questions": questions, **asdict(result)} for questions, results in curve.items() for result in results
        ]
        publish(
            f"scaling of {', '.join(stages)}",
            command,
            [f"spark: {spark_settings(cfg)}"],
            args.note,
            body,
            args.record,
            points,
            root,
        )


def submit_script(root: Path) -> list[str]:
    """scripts/submit.sh on the runtime line of this Python (--spark 3.5 for .venv-spark3.5's)."""
    return [str(root / "scripts" / "submit.sh"), "--spark", running_line()]


def stage_command(
    stage: str, root: Path, corpus: Path, warehouse: Path, cfg: config.Config, args: argparse.Namespace
) -> list[str]:
    """The command line of one stage: the seed's script, or the stage's job submitted as a user submits it."""
    job, options = STAGES[stage]
    if job is None:
        return [sys.executable, "-m", "benchmarks.seed", str(corpus)]
    # the stage's own options last: train-1000 learns 1,000 tags whatever --set train.num_tags says
    command = [
        *submit_script(root),
        job,
        "--target",
        args.target,
        "--warehouse",
        str(warehouse),
        *[f"--set={s}" for s in args.set],
        *options(corpus, cfg.database),
    ]
    num_tags = config.load(cfg.path, settings=args.set).require("train", "num_tags")
    version = trained_model(warehouse, cfg.database, num_tags) if stage in MODEL_USERS else None
    if version is not None:
        command += ["--model-version", str(version)]
    return command


def run_stage(
    stage: str, root: Path, corpus: Path, work: Path, warehouse: Path, cfg: config.Config, args: argparse.Namespace
) -> StageResult:
    """One stage in its own process, as a user runs it: timed, its peak memory sampled, its rows counted."""
    job, _ = STAGES[stage]
    log = work / f"{stage}.log"
    command = stage_command(stage, root, corpus, warehouse, cfg, args)
    probe = machine_probe_seconds()
    print(f"[bench] {stage} (probe {probe:.2f} s): {shlex.join(command)}", file=sys.stderr, flush=True)
    wall, peak_jvm, peak_tree, finished = run_measured(command, log, args.seed_timeout if job is None else None)
    rows = seed_rows(log) if job is None else last_run_rows(warehouse, cfg.database, job)
    print(f"[bench] {stage}: {wall:.1f} s", file=sys.stderr, flush=True)
    return StageResult(stage, rows, wall, peak_jvm, peak_tree, finished, probe)


def questions_ingested(warehouse: Path, database: str) -> int:
    """The rows of questions_raw, from the Delta log's per-file record counts (no scan)."""
    actions = DeltaTable(str(warehouse / f"{database}.db" / "questions_raw")).get_add_actions(flatten=True)
    return sum(actions.column("num_records").to_pylist())


def scaling_table(curve: dict[int, list[StageResult]]) -> str:
    """Seconds per stage (rows) for each corpus size (columns), and how much the time grew from the smallest corpus
    to the largest against how much the corpus grew."""
    sizes = sorted(curve)
    seconds = {n: {r.stage: r.wall_seconds for r in curve[n]} for n in sizes}
    growth = sizes[-1] / sizes[0]
    lines = [
        "| stage | " + " | ".join(f"{n:,} questions, s" for n in sizes) + f" | time grew (corpus grew {growth:.1f}x) |",
        "|---|" + "---:|" * (len(sizes) + 1),
    ]
    for stage in seconds[sizes[0]]:
        times = [seconds[n][stage] for n in sizes]
        lines.append(f"| {stage} | " + " | ".join(f"{t:.1f}" for t in times) + f" | {times[-1] / times[0]:.1f}x |")
    return "\n".join(lines)


def plot_scaling(curve: dict[int, list[StageResult]], path: Path) -> None:
    """Seconds against questions per stage, log-log, with a line of linear growth for reference."""
    import matplotlib  # imported here: only the plot needs it

    matplotlib.use("Agg")
    from matplotlib import pyplot

    sizes = sorted(curve)
    figure, axes = pyplot.subplots(figsize=(7, 4.5))
    for stage in [r.stage for r in curve[sizes[0]]]:
        times = [next(r.wall_seconds for r in curve[n] if r.stage == stage) for n in sizes]
        axes.plot(sizes, times, marker="o", label=stage)
    slowest = max(r.wall_seconds for r in curve[sizes[0]])
    axes.plot(sizes, [slowest * n / sizes[0] for n in sizes], linestyle="--", color="grey", label="linear growth")
    axes.set(
        xscale="log",
        yscale="log",
        xlabel="questions",
        ylabel="wall seconds (launch to exit)",
        title=f"stacktags stages on {machine()}",
    )
    axes.title.set_fontsize(8)
    axes.legend(fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    pyplot.close(figure)


def invocation(script: str, argv: list[str] | None, root: Path) -> str:
    """The command as the user typed it (the wrapper script adds --root)."""
    return f"{script} " + shlex.join(argv if argv is not None else sys.argv[1:]).replace(f"--root {root} ", "")


RUNS_LOG = Path(__file__).resolve().parent / "runs.jsonl"  # the history of recorded runs, one JSON object a line


def git_commit(root: Path) -> str:
    """The checkout's commit, with "+changes" when its tracked files differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD") or "unknown"
        return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def publish(
    heading: str,
    command: str,
    facts: list[str],
    note: str,
    body: str,
    record: Path | None,
    results: list[dict],
    root: Path,
) -> None:
    """Print a dated Markdown section (command, machine, facts, note, table); with `record`, also append the run to
    that JSON-lines log (benchmarks/runs.jsonl): the same facts, and the results as records, not as a table."""
    recorded_at = datetime.now(UTC)
    commit = git_commit(root)
    text = "\n".join(
        [
            f"### {recorded_at:%Y-%m-%d %H:%M} UTC: {heading}",
            "",
            f"- command: `{command}`",
            f"- commit: {commit}",
            f"- machine: {machine()}",
            *[f"- {fact}" for fact in facts],
            *([f"- note: {note}"] if note else []),
            "",
            body,
            "",
        ]
    )
    print(text)
    if record:
        entry = {
            "recorded_at": recorded_at.isoformat(timespec="seconds"),
            "heading": heading,
            "command": command,
            "commit": commit,
            "machine": machine(),
            "facts": facts,
            "note": note,
            "results": results,
        }
        record.parent.mkdir(parents=True, exist_ok=True)
        with record.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


if __name__ == "__main__":
    main()
