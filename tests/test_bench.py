"""The benchmark harness as CI's smoke test: every stage on a tiny corpus, each in its own process as users run it.
It asserts that the stages ran and the table was written, nothing about time."""

import subprocess
import sys

from conftest import ROOT, SAMPLE

STAGES = ["ingest", "clean", "train", "evaluate", "score"]
QUICK = ["--set", "train.num_tags=20", "--set", "train.num_features=32768", "--set", "train.warm_start_iter=5",
         "--set", "train.max_iter=10"]


def test_bench_runs_every_stage_on_a_small_corpus(tmp_path):
    corpus, record = tmp_path / "corpus", tmp_path / "BENCHMARKS.md"
    subprocess.run([sys.executable, "-m", "stacktags.corpus", "--source", str(SAMPLE), "--questions", "300",
                    "--out", str(corpus), "--seed", "1"], check=True, cwd=ROOT, timeout=300)
    result = subprocess.run([sys.executable, "-m", "stacktags.bench", "--root", str(ROOT), "--corpus", str(corpus),
                             "--stages", ",".join(STAGES), "--work", str(tmp_path / "bench"), "--record",
                             str(record), "--note", "CI smoke test", *QUICK],
                            capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    table = [line.split("|")[1:3] for line in record.read_text().splitlines() if line.startswith("| ")]
    rows = {stage.strip(): count.strip() for stage, count in table[1:]}
    assert list(rows) == STAGES
    assert rows["score"] == "300" and rows["clean"] == "300"
    assert "settings: train.num_tags=20" in record.read_text()
