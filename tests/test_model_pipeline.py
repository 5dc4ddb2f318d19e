"""Train, evaluate and score end to end on the bundled sample, through the job entry points."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from chispa import assert_df_equality
from conftest import LINE, ROOT, SAMPLE, SAMPLE_MODEL_SETTINGS, copy_of_sample_model, job_arguments, load_job
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from stacktags import config
from stacktags.errors import ModelMismatchError
from stacktags.evaluate import reports_dir
from stacktags.lines import CONF_FOLDERS, conf_dir
from stacktags.model import classifier_of, load_model, models_dir, saved_model
from stacktags.persistence import load_stage
from stacktags.registry import NoModelError

JOBS = {name: load_job(name) for name in ("train", "evaluate", "score")}
TRAIN_SETTINGS = SAMPLE_MODEL_SETTINGS  # with the conf's reg_param list: the default's choice is recorded here
DEFAULT_REG_PARAM = config.load(ROOT / "conf" / "local.toml").require("train", "reg_param")


def run(job, cfg, *args):
    JOBS[job].main([*job_arguments(cfg, *TRAIN_SETTINGS), *args])


@pytest.fixture(scope="module")
def trained(spark, sample_model):
    return copy_of_sample_model(spark, sample_model, "model_e2e", *TRAIN_SETTINGS)


def test_train_registers_a_versioned_model_with_its_data_version(spark, trained):
    model = spark.table(trained.table("models")).first()
    assert model["version"] == 1 and model["stage"] == "candidate"
    assert model["data_table"] == trained.table("questions_clean")
    history = spark.sql(f"DESCRIBE HISTORY {trained.table('questions_clean')}").select("version").collect()
    assert model["data_version"] in {r["version"] for r in history}
    assert model["params"]["num_tags"] == "20" and model["params"]["git_commit"]
    assert Path(model["path"], "metadata").is_dir()
    # the conf's reg_param is a list: train chose one on the validation split and says how each did there
    tried = json.loads(model["params"]["validation_micro_f1"])
    assert len(tried) == len(DEFAULT_REG_PARAM) > 1 and float(model["params"]["reg_param_chosen"]) in map(float, tried)
    assert tried[model["params"]["reg_param_chosen"]] == max(tried.values())


QUESTION = (
    1,
    "How do I read a file line by line in Java?",
    "<p>I use <code>BufferedReader</code> in Java.</p><pre><code>new FileReader(f)</code></pre>",
)


def test_saved_model_scores_a_raw_question_in_a_new_process_on_the_other_runtime_line(spark, trained):
    """The model saved on the tests' line loads in a plain PySpark of the other line (its stacktags.jar only) and
    scores as it does here: with the other line's tests, a model moves between Spark 4.1 and 3.5 both ways
    (docs/architecture.md, "Runtime lines"). On its own line, PipelineModel.load is compared with the jobs' loader
    in this process (test_the_driver_side_loader_gives_what_pipelinemodel_load_gives)."""
    (line,) = set(CONF_FOLDERS) - {LINE}
    path = spark.table(trained.table("models")).first()["path"]
    local = config.load(conf_dir(ROOT, line) / "local.toml")
    python, jar = local.get("submit", "python"), local.require("jars", "project")
    if not Path(python).exists():
        pytest.skip(f"the {line} line is not set up here (scripts/setup.sh --spark {line}; scripts/test.sh does it)")
    program = f"""
from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
         .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")  # a short run: conftest.SHORT_JVM
         .config("spark.jars", {jar!r}).getOrCreate())  # the text scanners
spark.sparkContext.pythonExec = {python!r}
model = PipelineModel.load({path!r})
question = spark.createDataFrame([{QUESTION!r}], "Id long, Title string, Body string")
print("SCORES", [(s["tag"], round(s["probability"], 5)) for s in model.transform(question).first()["scores"]])
"""
    result = subprocess.run([python, "-c", program], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    scores = next(line for line in result.stdout.splitlines() if line.startswith("SCORES"))
    question = spark.createDataFrame([QUESTION], "Id long, Title string, Body string")
    here = [
        (s["tag"], round(s["probability"], 5)) for s in saved_model(spark, path).transform(question).first()["scores"]
    ]
    assert scores == f"SCORES {here}" and here[0][0] == "java"


def test_evaluate_uses_only_the_test_split(spark, trained):
    model = spark.table(trained.table("models")).first()
    run("evaluate", trained)
    metrics = {
        r["metric"]: r["value"]
        for r in spark.table(trained.table("model_metrics")).where(F.col("tag").isNull()).collect()
    }
    clean = spark.table(trained.table("questions_clean"))
    _, saved, _ = load_model(spark, trained, 1, "score")
    tags = classifier_of(saved).getOrDefault(classifier_of(saved).tags)
    test_rows = clean.where((F.col("split") == "test") & F.arrays_overlap("tags", F.array(*map(F.lit, tags)))).count()
    assert metrics["rows"] == test_rows
    for name in ("micro_f1", "macro_f1", "p_at_1", "p_at_3", "p_at_5", "r_at_5", "jaccard", "subset_accuracy"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["p_at_1"] > 0.5  # far above chance with 20 tags
    assert not model["metrics"]  # read before evaluate ran: training records no metrics
    refreshed = spark.table(trained.table("models")).first()["metrics"]
    assert refreshed["micro_f1"] == pytest.approx(metrics["micro_f1"])
    report = Path(reports_dir(trained)) / "v1"
    document = json.loads((report / "metrics.json").read_text())
    assert len(document["per_tag"]) == 20 and document["overall"]["rows"] == test_rows
    page = (report / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "Per tag" in page


def test_score_is_incremental_and_idempotent(spark, trained):
    table = trained.table("predictions")
    run("score", trained, "--source", trained.table("questions_raw"), "--model-version", "1")
    predictions = spark.table(table)
    assert predictions.count() == 2000
    assert predictions.where((F.size("tags") < 1) | (F.size("tags") > 5)).count() == 0
    assert predictions.where(F.col("model_version") != 1).count() == 0
    first = predictions.first()
    assert len(first["scores"]) == 5 and first["scores"][0]["probability"] >= first["scores"][1]["probability"]
    version = spark.sql(f"DESCRIBE HISTORY {table} LIMIT 1").first()["version"]
    run("score", trained, "--source", trained.table("questions_raw"), "--model-version", "1")
    run("score", trained, "--source", str(SAMPLE), "--model-version", "1")  # the same questions from the CSV folder
    assert spark.sql(f"DESCRIBE HISTORY {table} LIMIT 1").first()["version"] == version
    assert spark.table(table).count() == 2000
    runs = spark.sql(
        f"SELECT rows_in, rows_out FROM {trained.table('job_runs')} WHERE job = 'score' ORDER BY started_at"
    ).collect()
    assert [(r["rows_in"], r["rows_out"]) for r in runs] == [(2000, 2000), (0, 0), (0, 0)]


def test_a_source_that_is_not_there_is_a_clear_error(spark, trained, tmp_path):
    with pytest.raises(ValueError, match="not a table, a Delta folder, or a folder with Questions.csv"):
        run("score", trained, "--source", str(tmp_path / "nothing-here"), "--model-version", "1")


def test_unknown_model_version_is_a_clear_error(spark, trained):
    with pytest.raises(NoModelError, match="no model version 99"):
        run("score", trained, "--source", trained.table("questions_raw"), "--model-version", "99")


def test_a_model_saved_with_a_stage_this_code_lacks_is_a_clear_error(spark, trained, tmp_path):
    saved = Path(spark.table(trained.table("models")).first()["path"])
    old = tmp_path / "old-model"
    shutil.copytree(saved, old)
    # as a model saved before QuestionHashingTF replaced TermMixer and HashingTF names its first predictor stage
    metadata = next(old.glob("stages/1_*/stages/0_*/metadata/part-*"))
    fields = json.loads(metadata.read_text())
    metadata.write_text(json.dumps({**fields, "class": "stacktags.features.TermMixer"}))
    metadata.with_name(f".{metadata.name}.crc").unlink()  # the local file system would find the edit
    with pytest.raises(
        ModelMismatchError, match="does not have: no class stacktags.features.TermMixer .*train a new one"
    ):
        saved_model(spark, str(old))
    assert saved_model(spark, str(saved)).stages  # the model itself loads


def flattened(model) -> list:
    return [
        leaf for stage in model.stages for leaf in (flattened(stage) if isinstance(stage, PipelineModel) else [stage])
    ]


def test_the_driver_side_loader_gives_what_pipelinemodel_load_gives(spark, trained):
    path = spark.table(trained.table("models")).first()["path"]
    ours, pysparks = load_stage(spark, path), PipelineModel.load(path)
    assert ours.uid == pysparks.uid and [s.uid for s in ours.stages] == [s.uid for s in pysparks.stages]
    pairs = list(zip(flattened(ours), flattened(pysparks), strict=True))
    assert len(pairs) == 8  # 4 of text preparation; hashing, IDF, normaliser, classifier
    for mine, theirs in pairs:
        assert type(mine) is type(theirs) and mine.uid == theirs.uid
        assert {p.name: v for p, v in mine.extractParamMap().items()} == {
            p.name: v for p, v in theirs.extractParamMap().items()
        }
    questions = spark.table(trained.table("questions_raw")).limit(50)
    assert_df_equality(ours.transform(questions), pysparks.transform(questions), ignore_row_order=True)


def test_a_folder_without_metadata_is_not_a_model(spark, tmp_path):
    (tmp_path / "metadata").mkdir()
    with pytest.raises(FileNotFoundError, match="no metadata file; not a saved Spark ML stage"):
        load_stage(spark, str(tmp_path))


def test_time_based_split_trains_before_the_date_and_evaluates_from_it(spark, trained):
    run("train", trained, "--set", "train.test_from=2012-01-01")
    run("evaluate", trained, "--model-version", "2")
    _, saved, info = load_model(spark, trained, 2, "score")
    assert info["params"]["test_from"] == "2012-01-01"
    tags = classifier_of(saved).getOrDefault(classifier_of(saved).tags)
    newer = (
        spark.table(trained.table("questions_clean"))
        .where((F.col("creation_date") >= "2012-01-01") & F.arrays_overlap("tags", F.array(*map(F.lit, tags))))
        .count()
    )
    document = json.loads((Path(reports_dir(trained)) / "v2" / "metrics.json").read_text())
    assert document["test_from"] == "2012-01-01" and document["overall"]["rows"] == newer > 0


def test_the_mllib_classifier_trains_evaluates_and_scores_the_sample_as_the_lockstep_one_does(spark, trained):
    """train.classifier=mllib through the jobs: the same tags, metrics within a few points of the lockstep model's on
    the same test rows (both are per-tag logistic regressions of the same objective, fitted to a different depth),
    and scoring writes the same kind of predictions. The lockstep model: the module's first, of the same split."""
    cfg = trained
    run("train", cfg, "--set", "train.classifier=mllib", "--set", "train.mllib_max_iter=20")
    mllib = spark.table(cfg.table("models")).count()
    metrics = {}
    for version in (1, mllib):
        run("evaluate", cfg, "--model-version", str(version))
        report = json.loads((Path(reports_dir(cfg)) / f"v{version}" / "metrics.json").read_text())
        metrics[version] = report["overall"]
        tags = classifier_of(load_model(spark, cfg, version, "score")[1])
        metrics[version]["tags"] = tags.getOrDefault(tags.tags)
    run("score", cfg, "--source", cfg.table("questions_raw"), "--model-version", str(mllib))
    assert metrics[1]["tags"] == metrics[mllib]["tags"]
    assert metrics[1]["rows"] == metrics[mllib]["rows"]
    for name in ("micro_f1", "p_at_1"):
        assert abs(metrics[1][name] - metrics[mllib][name]) < 0.03, name
    assert abs(metrics[1]["macro_f1"] - metrics[mllib]["macro_f1"]) < 0.06
    predictions = spark.table(cfg.table("predictions")).where(f"model_version = {mllib}")
    assert predictions.count() == 2000 and predictions.where(F.size("tags") == 0).count() == 0


def test_a_train_that_stopped_before_registering_leaves_a_folder_the_next_train_replaces(spark, trained):
    version = spark.table(trained.table("models")).count() + 1
    leftover = Path(models_dir(trained)) / f"v{version}"
    (leftover / "stages").mkdir(parents=True)
    (leftover / "stages" / "half-written").write_text("a crash's remains")
    run("train", trained)
    _, model, info = load_model(spark, trained, version, "score")
    assert info["path"] == str(leftover) and not (leftover / "stages" / "half-written").exists()
    assert classifier_of(model).getOrDefault(classifier_of(model).tags)


def test_with_more_tags_than_one_group_the_regularisation_is_chosen_on_the_first_group(spark, trained):
    """num_tags 20 in groups of 8: the list's values are tried on the 8 most frequent tags, then all 20 are fitted
    at the chosen value alone (a path over all three groups would cost three whole fits)."""
    run("train", trained, "--set", "train.tags_per_fit=8", "--set", "train.reg_param=[1e-4,1e-2]")
    model = spark.table(trained.table("models")).orderBy(F.desc("version")).first()
    assert set(json.loads(model["params"]["validation_micro_f1"])) == {"0.0001", "0.01"}
    assert model["params"]["reg_param_chosen"] in {"0.0001", "0.01"}
    classifier = classifier_of(load_model(spark, trained, model["version"], "score")[1])
    assert len(classifier.getOrDefault(classifier.tags)) == 20
