"""The benchmark harness as CI's smoke test: stages on a tiny corpus, each in its own process as users run it. It
asserts that the stages ran and the table was written, nothing about time. Each stage is a job that other tests run
end to end (test_s3 submits the pipeline): the smoke test runs one job and the seed's approach, and the other
stages' command lines are checked as they are built."""

import argparse
import json
import subprocess
import sys

import pytest
from conftest import CONF, ROOT, SAMPLE, SHORT_JVM, csv_row_count

from benchmarks.bench import END_TO_END, StageResult, plot_scaling, run_measured, scaling_table, stage_command, table
from benchmarks.microbench import gradients, optimiser
from stacktags import config

pytestmark = pytest.mark.jvm  # its tests run the jobs in processes of their own

STAGES = ["ingest", "seed"]  # a job and the seed's approach: the harness's two kinds of stage
OPTIONS = ["--set", "train.num_tags=20", *SHORT_JVM]  # a setting for the run to record; a short-lived JVM


def test_bench_runs_a_job_and_the_seeds_approach_on_a_small_corpus(tmp_path):
    corpus, record = tmp_path / "corpus", tmp_path / "runs.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.corpus",
            "--source",
            str(SAMPLE),
            "--questions",
            "300",
            "--out",
            str(corpus),
            "--seed",
            "1",
        ],
        check=True,
        cwd=ROOT,
        timeout=300,
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench",
            "--root",
            str(ROOT),
            "--corpus",
            str(corpus),
            "--stages",
            ",".join(STAGES),
            "--work",
            str(tmp_path / "bench"),
            "--record",
            str(record),
            "--note",
            "CI smoke test",
            *OPTIONS,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-6000:]
    printed = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [cells[1].strip() for cells in printed[1:]] == STAGES and printed[0][7].strip() == "probe s"
    (run,) = [json.loads(line) for line in record.read_text().splitlines()]  # one JSON line per recorded run
    rows = {stage["stage"]: stage for stage in run["results"]}
    assert list(rows) == STAGES and all(stage["probe_seconds"] > 0 for stage in rows.values())
    records = sum(csv_row_count(file) for file in corpus.glob("*.csv"))  # the questions, their tags and answers
    assert rows["ingest"]["rows"] == records and rows["seed"]["rows"] == 300
    assert run["command"].startswith("scripts/bench.sh --corpus") and run["note"] == "CI smoke test"
    assert any(fact.startswith("settings: train.num_tags=20") for fact in run["facts"]) and run["commit"] != "unknown"


def test_evaluate_and_score_take_the_train_stages_model_not_a_newer_one_of_other_tags(spark, tmp_path):
    """Model 2 (train-1000's 1,000 tags) is newer than model 1 (the train stage's 20): evaluate and score are given
    model 1. Without a models table they are given none (the jobs' default)."""
    warehouse, corpus = tmp_path / "warehouse", tmp_path / "corpus"
    cfg = config.load(CONF / "local.toml", warehouse=str(warehouse))
    args = argparse.Namespace(target="local", set=["train.num_tags=20"])

    def command(stage):
        return stage_command(stage, ROOT, corpus, warehouse, cfg, args)

    assert "--model-version" not in command("evaluate")
    models = spark.createDataFrame(
        [(1, {"num_tags": "20"}), (2, {"num_tags": "1000"})], "version int, params map<string,string>"
    )
    models.write.format("delta").save(str(warehouse / f"{cfg.database}.db" / "models"))
    evaluate, score = command("evaluate"), command("score")
    assert evaluate[-2:] == score[-2:] == ["--model-version", "1"]
    assert evaluate[3:6] == ["evaluate", "--target", "local"] and "--set=train.num_tags=20" in evaluate
    assert score[-4:-2] == ["--source", f"{cfg.database}.questions_raw"]
    assert command("train-1000")[-2:] == ["--set", "train.num_tags=1000"]  # after --set=train.num_tags=20: it wins
    assert command("seed")[1:] == ["-m", "benchmarks.seed", str(corpus)]


def test_a_stage_past_its_time_limit_is_stopped_and_reported_as_a_lower_bound(tmp_path):
    wall, _, _, finished = run_measured(["sh", "-c", "sleep 60 & sleep 60"], tmp_path / "log", timeout=1)
    assert not finished and wall < 30
    stopped = StageResult("seed", 0, wall, 0, 0, finished)
    assert "> 1 (stopped)" in table([stopped]) or "> 2 (stopped)" in table([stopped])
    quick = [StageResult(stage, 10, 0.1, 0, 0) for stage in END_TO_END]  # 0.5 s end to end
    assert f"at least {wall:.0f} s: stacktags is at least {wall / 0.5:.1f}x as fast." in table(quick + [stopped])
    slow = [StageResult(stage, 10, 20.0, 0, 0) for stage in END_TO_END]  # 100 s: longer than the stopped seed
    assert "stopped before stacktags' time, so neither is known to be faster" in table(slow + [stopped])
    finished_seed = StageResult("seed", 10, 25.0, 0, 0)
    assert "the seed's approach 25 s: the seed's approach is 4.0x as fast." in table(slow + [finished_seed])


def test_scaling_table_and_plot_show_seconds_against_questions(tmp_path):
    curve = {
        n: [StageResult("ingest", n, n / 1000, 0, 0), StageResult("train", n, 5 + n / 500, 0, 0)]
        for n in (1000, 3000, 12000)
    }
    text = scaling_table(curve)
    assert (
        "| stage | 1,000 questions, s | 3,000 questions, s | 12,000 questions, s | time grew (corpus grew 12.0x) |"
        in text
    )
    assert "| ingest | 1.0 | 3.0 | 12.0 | 12.0x |" in text
    assert "| train | 7.0 | 11.0 | 29.0 | 4.1x |" in text
    plot_scaling(curve, tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_gradient_microbenchmark_times_pass_sums(spark, capsys):
    gradients(spark, argparse.Namespace(tags=3, features=50, bands=[1, 32]))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("an empty job: median ")
    partitions = spark.sparkContext.defaultParallelism
    assert lines[1].startswith(f"pass_sums: {partitions} partitions' 0 MB gradients in 1 bands: median ")
    assert lines[2].startswith(f"pass_sums: {partitions} partitions' 0 MB gradients in 32 bands: median ")


def test_the_optimiser_microbenchmark_times_the_driver_between_passes(spark, capsys):
    optimiser(spark, argparse.Namespace(tags=4, features=300))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith("optimiser at 301 x 4: ") for line in lines)
    assert len({line.split("theta ")[1] for line in lines}) == 1  # the same iterations each run
