"""Training: the tag model as one Spark ML PipelineModel and its thresholds, saved as a new version of the registry
(stacktags.registry: the models table and the versions' stages).

A saved model is PipelineModel([text preparation, predictor]): the first part turns raw Title and HTML Body into
tokens (the same definition the clean job applies), the second (QuestionHashingTF, IDF, Normalizer and the
multilabel classifier) turns tokens into tags. Scoring raw questions runs the whole model; training and evaluation,
which read questions_clean where the tokens already are, run the predictor alone.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stacktags.clean import SILVER_TABLE, in_split, require_engine
from stacktags.config import Config
from stacktags.errors import ModelMismatchError
from stacktags.features import feature_stages
from stacktags.monitoring.profile import PROFILES_TABLE, reference_profile, save_profile
from stacktags.multilabel import MultilabelLogisticModel, MultilabelLogisticRegression
from stacktags.packing import has_any_of
from stacktags.persistence import UnknownStageError, load_stage
from stacktags.registry import (
    CANDIDATE,
    MODELS_TABLE,
    TRAINING,
    NoModelError,
    Transition,
    change_stages,
    default_version,
    models,
    reserve_version,
)
from stacktags.tables import input_table, table_version
from stacktags.text import text_engine, text_preparation

log = logging.getLogger(__name__)

THRESHOLD_BUCKETS = 200


def predictor_pipeline(cfg: Config) -> Pipeline:
    """The feature stages and the classifier, with every setting from the [train] section of the conf file."""

    def setting(key: str, kind: type):
        return kind(cfg.require("train", key))

    solver = setting("classifier", str)

    return Pipeline(
        stages=[
            *feature_stages(
                num_features=setting("num_features", int),
                title_weight=setting("title_weight", int),
                with_bigrams=setting("bigrams", bool),
                distinct_terms=setting("distinct_terms", bool),
                min_doc_freq=setting("min_doc_freq", int),
            ),
            MultilabelLogisticRegression(
                solver=solver,
                numTags=setting("num_tags", int),
                maxIter=setting("mllib_max_iter" if solver == "mllib" else "max_iter", int),
                parallelism=setting("mllib_parallelism", int),
                regParam=reg_params(cfg)[0],
                warmStartRows=setting("warm_start_rows", int),
                warmStartIter=setting("warm_start_iter", int),
                tagsPerFit=setting("tags_per_fit", int),
                otherRowsRate=setting("other_rows_rate", float),
                maxTags=setting("max_tags", int),
                minTags=1,
            ),
        ]
    )


def reg_params(cfg: Config) -> list[float]:
    """[train] reg_param: one value, or a list of values that training chooses from on the validation split (the
    conf's checks have made them numbers >= 0)."""
    value = cfg.require("train", "reg_param")
    return [float(v) for v in (value if isinstance(value, list) else [value])]


def fit_predictors(cfg: Config, training: DataFrame) -> list[PipelineModel]:
    """One predictor per value of reg_params(cfg), in its order: what predictor_pipeline(cfg).fit(training) returns
    at each value, with IDF fitted in the classifier's packing pass and the rows packed once for all of them
    (MultilabelLogisticRegression.fitPathWithIDF)."""
    hashing_tf, idf, normalizer, classifier = predictor_pipeline(cfg).getStages()
    idf_model, classifiers = classifier.fitPathWithIDF(hashing_tf.transform(training), idf, normalizer, reg_params(cfg))
    return [PipelineModel(stages=[hashing_tf, idf_model, normalizer, fitted]) for fitted in classifiers]


@dataclass
class TunedPredictor:
    """The predictor training keeps: the one whose tuned thresholds gave the best validation micro-F1."""

    predictor: PipelineModel
    reg_param: float
    validation_micro_f1: dict[float, float]  # of each reg_param tried


def with_train_settings(cfg: Config, **settings: object) -> Config:
    """cfg with these [train] settings replaced."""
    return replace(cfg, data={**cfg.data, "train": {**cfg.section("train"), **settings}})


def fit_and_tune(cfg: Config, training: DataFrame, validation: DataFrame) -> TunedPredictor:
    """Fit a predictor per reg_param, tune each one's thresholds on the validation rows (those with one of its
    tags) and keep the one with the best micro-F1 there (the first on ties), its thresholds set.

    With more tags than one group (train.tags_per_fit), the value is chosen on the first group's tags, the most
    frequent, and every tag is then fitted at it: a path over every group would cost a whole fit per value."""
    regs = reg_params(cfg)
    group, num_tags = cfg.require("train", "tags_per_fit"), cfg.require("train", "num_tags")
    if len(regs) > 1 and 0 < group < num_tags:
        chosen = fit_and_tune(with_train_settings(cfg, num_tags=group), training, validation)
        final = fit_and_tune(with_train_settings(cfg, reg_param=chosen.reg_param), training, validation)
        return TunedPredictor(final.predictor, chosen.reg_param, chosen.validation_micro_f1)
    predictors = fit_predictors(cfg, training)
    tags = classifier_of(predictors[0]).getOrDefault("tags")
    rows = validation.where(has_any_of("tags", tags))
    tuned = []
    for reg, predictor in zip(regs, predictors):
        histograms = threshold_histograms(predictor, rows)
        thresholds = tuned_thresholds(*histograms)
        tuned.append((micro_f1_at(*histograms, thresholds), reg, predictor, thresholds))
        log.info("reg_param %g: validation micro-F1 %.4f at the tuned thresholds", reg, tuned[-1][0])
    best = max(tuned, key=lambda t: t[0])  # max keeps the first of equal scores
    _, reg, predictor, thresholds = best
    classifier_of(predictor).setThresholds(thresholds)
    return TunedPredictor(predictor, reg, {r: score for score, r, _, _ in tuned})


def classifier_of(model: PipelineModel) -> MultilabelLogisticModel:
    """The multilabel stage of a saved model (or of a predictor)."""
    predictor = model.stages[-1] if isinstance(model.stages[-1], PipelineModel) else model
    return predictor.stages[-1]


def predictor_of(model: PipelineModel) -> PipelineModel:
    return model.stages[-1]


def threshold_histograms(predictor: PipelineModel, validation: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per tag, the validation rows' probabilities in THRESHOLD_BUCKETS buckets, with and without the tag."""
    classifier = predictor.stages[-1]
    features = PipelineModel(predictor.stages[:-1]).transform(validation)
    return classifier.probabilityHistograms(features, "tags", THRESHOLD_BUCKETS)


def tune_thresholds(predictor: PipelineModel, validation: DataFrame) -> list[float]:
    """Per tag, a decision threshold tuned on the validation rows (see tuned_thresholds)."""
    return tuned_thresholds(*threshold_histograms(predictor, validation))


def micro_f1_at(positives: np.ndarray, negatives: np.ndarray, thresholds: list[float]) -> float:
    """positives/negatives: (tags, buckets) counts of probabilities. The micro-F1 of predicting each tag whose
    probability reaches its threshold (each question's tags taken one by one: no minimum or maximum per question)."""
    buckets = positives.shape[1]
    first = np.ceil(np.asarray(thresholds) * buckets - 1e-9).astype(int)  # the first bucket at or above
    at_or_above = np.arange(buckets)[None, :] >= first[:, None]
    tp, fp = (positives * at_or_above).sum(), (negatives * at_or_above).sum()
    fn = positives.sum() - tp
    return float(2 * tp / max(2 * tp + fp + fn, 1))


MIN_TUNING_POSITIVES = 5  # fewer validation positives than this give a threshold that is noise
THRESHOLD_FLOOR = 0.05  # never "always predict": a tag must earn some probability


def best_f1_buckets(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """positives/negatives: (rows, buckets) counts of probabilities. Predicting when the probability is at least
    bucket b / buckets gives TP = positives in buckets >= b; per row, the b with the best F1 (the higher on ties)."""
    buckets = positives.shape[1]
    tp = np.cumsum(positives[:, ::-1], axis=1)[:, ::-1]
    fp = np.cumsum(negatives[:, ::-1], axis=1)[:, ::-1]
    fn = positives.sum(axis=1, keepdims=True) - tp
    f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return buckets - 1 - np.argmax(f1[:, ::-1], axis=1)  # last maximum: the highest threshold among ties


def tuned_thresholds(positives: np.ndarray, negatives: np.ndarray) -> list[float]:
    """positives/negatives: (tags, buckets) counts of validation probabilities. Each tag's threshold is halfway
    between its own best-F1 threshold and the one shared threshold that is best for micro-F1 over all tags: a
    tag's own optimum overfits a small validation set, the shared one ignores that tags differ. A tag with fewer
    than MIN_TUNING_POSITIVES validation positives takes the shared threshold. None is below THRESHOLD_FLOOR."""
    buckets = positives.shape[1]
    shared = best_f1_buckets(positives.sum(axis=0, keepdims=True), negatives.sum(axis=0, keepdims=True))[0] / buckets
    own = best_f1_buckets(positives, negatives) / buckets
    tuned = np.where(positives.sum(axis=1) >= MIN_TUNING_POSITIVES, (own + shared) / 2, shared)
    return [float(t) for t in np.maximum(tuned, THRESHOLD_FLOOR)]


@dataclass
class TrainResult:
    version: int
    path: str
    data_version: int
    train_rows: int
    tags: int
    fit_seconds: float

    def summary(self) -> str:
        return (
            f"model {self.version}: {self.tags} tags from {self.train_rows} training questions "
            f"(questions_clean version {self.data_version}) in {self.fit_seconds:.0f} s -> {self.path}"
        )


def git_commit() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                cwd=Path(__file__).parent,
                timeout=10,
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def models_dir(cfg: Config) -> str:
    """Where the database's model versions go: [train] models_dir, or <warehouse>/models/<database> (databases that
    share a warehouse keep their versions apart)."""
    return (cfg.get("train", "models_dir") or f"{cfg.warehouse.rstrip('/')}/models").rstrip("/") + f"/{cfg.database}"


def train(spark: SparkSession, cfg: Config, run_id: str | None = None) -> TrainResult:
    """Fit on the train split of questions_clean, tune thresholds on validation, save a new model version: a
    candidate of the registry."""
    silver = cfg.table(SILVER_TABLE)
    input_table(spark, silver, made_by="clean")
    require_engine(spark, silver, text_engine(cfg))
    data_version = table_version(spark, silver)
    # the version number first: reserved in the models table (stage training), so that no other train takes it
    version = reserve_version(spark, cfg, lambda n: f"{models_dir(cfg)}/v{n}", silver, data_version, run_id)
    path = f"{models_dir(cfg)}/v{version}"
    data = spark.read.option("versionAsOf", data_version).table(silver)  # exactly the rows recorded below
    columns = ["Id", "title_tokens", "body_tokens", "code_tokens", "tags"]
    test_from = cfg.get("train", "test_from")  # a time-based split instead of the hash split; evaluate reads it back
    # Train and validation rows from one scan of the table, cached: each split is then a filter of the cache.
    is_train = in_split("train", test_from)
    rows = data.where(is_train | in_split("validation", test_from)).select(*columns, is_train.alias("_train")).cache()
    training = rows.where("_train").select(*columns)
    started = time.monotonic()
    chosen = fit_and_tune(cfg, training, rows.where(~F.col("_train")).select(*columns))
    predictor = chosen.predictor
    classifier = predictor.stages[-1]
    tags = classifier.getOrDefault(classifier.tags)
    thresholds = classifier.getOrDefault(classifier.thresholds)
    has_model_tag = has_any_of("tags", tags)
    fit_seconds = time.monotonic() - started
    log.info("fitted and tuned %d tags in %.0f s at reg_param %g", len(tags), fit_seconds, chosen.reg_param)
    train_rows = training.where(has_model_tag).count()
    # what the monitor compares scoring batches with: every validation row, as a batch holds questions without
    # any of the model's tags too
    profiled = time.monotonic()
    profile = reference_profile(
        version, predictor, rows.where(~F.col("_train")).select(*columns), training, tags, thresholds
    )
    log.info("reference profile of %d validation rows in %.1f s", profile.rows, time.monotonic() - profiled)
    rows.unpersist()

    model = PipelineModel(stages=[text_preparation(spark, text_engine(cfg)), predictor])
    log.info("saving model %d to %s", version, path)
    # overwrite: the version is this run's, so a folder there is what a train of an older stacktags (which numbered
    # versions without reserving them) left when it stopped before registering it
    model.write().overwrite().save(path)
    save_profile(spark, profile, path, cfg.table(PROFILES_TABLE))
    params = {key: str(value) for key, value in cfg.section("train").items()}
    params.update(
        {
            "git_commit": git_commit(),
            "train_rows": str(train_rows),
            "tags": str(len(tags)),
            "fit_seconds": f"{fit_seconds:.1f}",
            "reg_param_chosen": repr(chosen.reg_param),
            "validation_micro_f1": json.dumps({repr(r): round(f, 4) for r, f in chosen.validation_micro_f1.items()}),
        }
    )
    change_stages(spark, cfg, [Transition(version, TRAINING, CANDIDATE)], "saved", run_id, params=params)
    return TrainResult(version, path, data_version, train_rows, len(tags), fit_seconds)


def load_model(spark: SparkSession, cfg: Config, version: int | None, job: str) -> tuple[int, PipelineModel, dict]:
    """A model by version, or the one `job` uses by default (registry.default_version: the champion):
    (version, PipelineModel, its models-table row as a dict)."""
    if version is None:
        version = default_version(spark, cfg, job)
    row = models(spark, cfg).where(F.col("version") == version).first()
    if row is None:
        raise NoModelError(f"no model version {version} in {cfg.table(MODELS_TABLE)}")
    if row["stage"] == TRAINING:
        raise NoModelError(f"model {version} was never saved: its train stopped before the end")
    return row["version"], saved_model(spark, row["path"]), row.asDict()


def saved_model(spark: SparkSession, path: str) -> PipelineModel:
    """The saved PipelineModel at path (persistence.load_stage: PipelineModel.load's result, sooner), with a clear
    error for a model with a stage this stacktags does not have (one saved by an older version)."""
    try:
        return load_stage(spark, path)
    except UnknownStageError as error:
        raise ModelMismatchError(
            f"{path}: a model with a stage this version of stacktags does not have: {error}; train a new one"
        ) from error
