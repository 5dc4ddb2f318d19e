"""The model registry (stacktags.registry, jobs/registry.py) through the jobs on the bundled sample: the first model
becomes champion, a worse candidate is rejected by the gate and score keeps the champion, promote and rollback
change the champion with their reasons recorded, what cannot be done is refused, and a change a stopped run did not
record is recorded late."""

import json

import pytest
from conftest import copy_of_sample_model, job_arguments, load_job
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from stacktags import registry

JOBS = {name: load_job(name) for name in ("train", "evaluate", "score", "registry")}
QUICK = ["train.num_tags=20", "train.max_iter=25", "train.num_features=32768"]


def run(job, cfg, *args):
    JOBS[job].main([*job_arguments(cfg, *QUICK), *args])


def stages(spark, cfg) -> dict[int, str]:
    return {row["version"]: row["stage"] for row in spark.table(cfg.table("models")).collect()}


def events(spark, cfg, version):
    return spark.table(cfg.table("model_events")).where(F.col("version") == version).orderBy("at").collect()


@pytest.fixture(scope="module")
def trained(spark, sample_model):
    return copy_of_sample_model(spark, sample_model, "registry_e2e", *QUICK)


def test_without_a_champion_score_says_how_to_get_one(spark, trained):
    assert stages(spark, trained) == {1: "candidate"}
    with pytest.raises(registry.RegistryError, match="no champion model yet: evaluate a candidate"):
        run("score", trained, "--source", trained.table("questions_raw"))


def test_the_gate_rejects_a_worse_candidate_and_promote_and_rollback_change_the_champion(
    spark, trained, capsys, tmp_path
):
    decision_file = tmp_path / "gates" / "first.json"  # what the AWS state machine's Gate state reads
    run("evaluate", trained, "--decision-file", str(decision_file))  # the newest candidate: the first model
    assert stages(spark, trained) == {1: "champion"}
    assert json.loads(decision_file.read_text()) == {
        "model_version": 1,
        "stage": "champion",
        "promoted": True,
        "reason": "the first model",
    }
    with pytest.raises(registry.RegistryError, match="only champion there has been"):
        run("registry", trained, "--rollback", "--reason", "x")
    with pytest.raises(registry.RegistryError, match="model 1 is the champion already"):
        run("registry", trained, "--promote", "1", "--reason", "x")
    with pytest.raises(registry.NoModelError, match="no model version 7"):
        run("registry", trained, "--promote", "7", "--reason", "x")
    with pytest.raises(SystemExit):
        run("registry", trained, "--promote", "1")  # no reason
    run("train", trained, "--set", "train.num_features=1024")  # hashed into 32 times fewer buckets: worse
    capsys.readouterr()
    run("evaluate", trained, "--decision-file", str(decision_file))  # v2, against champion v1 on v2's test rows
    assert "gate: model 2 rejected: micro_f1" in capsys.readouterr().out
    rejected = json.loads(decision_file.read_text())
    assert (rejected["model_version"], rejected["stage"], rejected["promoted"]) == (2, "rejected", False)
    assert rejected["reason"].startswith("micro_f1 ")
    assert stages(spark, trained) == {1: "champion", 2: "rejected"}
    rejection = events(spark, trained, 2)[-1]
    assert (rejection["from_stage"], rejection["to_stage"]) == ("candidate", "rejected")
    assert rejection["compared"]["candidate.micro_f1"] < rejection["compared"]["champion.micro_f1"] - 0.005
    assert rejection["run_id"]

    run("score", trained, "--source", trained.table("questions_raw"))  # the champion, not the newest model
    assert {row["model_version"] for row in spark.table(trained.table("predictions")).collect()} == {1}

    run("registry", trained, "--promote", "2", "--reason", "to see it score")
    assert stages(spark, trained) == {1: "archived", 2: "champion"}
    run("registry", trained, "--rollback", "--reason", "it scored worse")
    assert stages(spark, trained) == {1: "champion", 2: "archived"}
    assert [(e["from_stage"], e["to_stage"], e["reason"]) for e in events(spark, trained, 1)] == [
        (None, "training", "reserved by a train"),
        ("training", "candidate", "saved"),
        ("candidate", "champion", "the first model"),
        ("champion", "archived", "promoted by hand: to see it score"),
        ("archived", "champion", "rollback: it scored worse"),
    ]
    runs = spark.table(trained.table("job_runs")).where(F.col("job").startswith("registry")).collect()
    assert sorted((r["job"], r["status"]) for r in runs) == [
        ("registry promote", "failed"),  # the refusals above, with their errors
        ("registry promote", "failed"),
        ("registry promote", "succeeded"),
        ("registry rollback", "failed"),
        ("registry rollback", "succeeded"),
    ]
    capsys.readouterr()
    run("registry", trained, "--list")
    listing = capsys.readouterr().out.splitlines()
    assert listing[1].split()[:2] == ["2", "archived"] and listing[2].split()[:2] == ["1", "champion"]
    champion_metrics = spark.table(trained.table("models")).where("version = 1").first()["metrics"]
    header, figures = listing[0].split()[-3:], [float(x) for x in listing[2].split()[-3:]]
    assert figures == [pytest.approx(champion_metrics[name], abs=5e-5) for name in header]

    # a run that changed a stage and stopped before recording it: the next change records it, late
    DeltaTable.forName(spark, trained.table("models")).update(F.col("version") == 2, {"stage": F.lit("rejected")})
    run("registry", trained, "--promote", "2", "--reason", "once more")
    late, promoted = events(spark, trained, 2)[-2:]
    assert (late["from_stage"], late["to_stage"]) == ("archived", "rejected") and late["reason"].startswith(
        "recorded late"
    )
    assert (promoted["from_stage"], promoted["to_stage"]) == ("rejected", "champion")
