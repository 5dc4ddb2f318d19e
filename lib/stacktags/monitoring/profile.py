"""The reference profile a model is monitored against, made by the train job from the model's validation split (rows
it did not learn from, scored the way the score job scores) and saved inside the model folder and in the
`model_profiles` table.

What the monitor compares a scoring batch with: the distributions of the questions' title, body and code lengths in
tokens and of the top score (decile bins), the share of a question's terms the model gives no weight (its
out-of-vocabulary share: the IDF stage, which holds each hashed feature's document frequency, weighs a feature seen in
fewer than min_doc_freq training questions 0), the share of questions with no term at all, each tag's predicted rate,
the share of questions whose only tag is the forced top one (no tag reached its threshold), the mean top score, and
the training questions' tag rates.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from pyspark.ml import PipelineModel
from pyspark.ml.feature import IDFModel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

from stacktags.files import path_exists, read_text, write_text
from stacktags.jvmcolumns import java_column
from stacktags.session import project_class
from stacktags.tables import append

PROFILE_FILE = "reference_profile.json"  # in the model folder
PROFILES_TABLE = "model_profiles"
PROFILES_SCHEMA = StructType(
    [
        StructField("model_version", IntegerType(), False),
        StructField("statistic", StringType(), False),  # e.g. body_length_share, predicted_rate, forced_tag_share
        StructField("key", StringType(), True),  # the tag, or the bin's number; null for a single figure
        StructField("value", DoubleType(), False),
    ]
)
UNWEIGHTED_TERMS_CLASS = "stacktags.UnweightedTerms"  # in stacktags.jar (lib/stacktags/jvm)
TEXT_STATS = "text_stats"  # the predictions table's column of per-question input figures
LENGTHS = ("title_length", "body_length", "code_length")
BINNED = (*LENGTHS, "top_score")
QUANTILES = [q / 10 for q in range(1, 10)]  # deciles: the bins' upper edges


def text_stats(scored: DataFrame, weighted_col: str) -> Column:
    """Per question of a model's output (its token columns and `weighted_col`, the IDF-weighted term vector): the
    lengths of title, body and code in tokens and the share of its terms the model gives no weight (null when it has
    no term). The score job stores it with each prediction; the profile holds the same figures for validation."""
    unweighted = project_class(scored.sparkSession, UNWEIGHTED_TERMS_CLASS).share(java_column(weighted_col))
    return F.struct(
        F.size("title_tokens").alias("title_length"),
        F.size("body_tokens").alias("body_length"),
        F.size("code_tokens").alias("code_length"),
        Column(unweighted).alias("unweighted_share"),
    )


def weighted_terms_col(predictor: PipelineModel) -> str:
    """The column of a predictor's IDF-weighted term vector (its IDF stage's output)."""
    return next(stage for stage in predictor.stages if isinstance(stage, IDFModel)).getOutputCol()


def forced_top_tag(tags_col: str, scores_col: str, tags: list[str], thresholds: list[float]) -> Column:
    """Whether a prediction's only tag is the forced top one: one tag, whose probability is below its threshold."""
    threshold_of = F.create_map(*[x for tag, t in zip(tags, thresholds) for x in (F.lit(tag), F.lit(float(t)))])
    top = F.col(scores_col)[0]
    return (F.size(tags_col) == 1) & (top["probability"] < F.element_at(threshold_of, top["tag"]))


def batch_figures(rows: DataFrame, tags: list[str], thresholds: list[float]) -> DataFrame:
    """Scored rows (text_stats, predicted tags `tags`, `scores`) -> the columns the profile and the monitor
    aggregate: the four binned figures, unweighted_share, empty (no term) and forced (only the forced top tag)."""
    stats = F.col(TEXT_STATS)
    return rows.select(
        *[stats[name].alias(name) for name in LENGTHS],
        F.col("scores")[0]["probability"].cast("double").alias("top_score"),
        stats["unweighted_share"].alias("unweighted_share"),
        (stats["title_length"] + stats["body_length"] + stats["code_length"] == 0).alias("empty"),
        forced_top_tag("tags", "scores", tags, thresholds).alias("forced"),
        "tags",
    )


def bin_of(value: Column, edges: list[float]) -> Column:
    """The bin of value among bins (-inf, e1], (e1, e2], ..., (ek, inf): how many edges it exceeds."""
    return sum((value > float(edge)).cast("int") for edge in edges) if edges else F.lit(0)


def binned_shares(figures: DataFrame, edges: dict[str, list[float]]) -> tuple[int, dict[str, list[float]]]:
    """(rows, {figure: share of its non-null values in each bin}) in one aggregation. A figure with no value (rows
    scored before text_stats were recorded) has no shares: []."""
    counts = [F.count(name).alias(f"{name}#n") for name in BINNED] + [
        F.count_if(bin_of(F.col(name), edges[name]) == b).alias(f"{name}#{b}")
        for name in BINNED
        for b in range(len(edges[name]) + 1)
    ]
    row = figures.agg(F.count(F.lit(1)).alias("rows"), *counts).first().asDict()
    shares = {
        name: [row[f"{name}#{b}"] / row[f"{name}#n"] for b in range(len(edges[name]) + 1)] if row[f"{name}#n"] else []
        for name in BINNED
    }
    return row["rows"], shares


def summary_figures(figures: DataFrame) -> dict[str, float | None]:
    """The batch's mean figures: unweighted_share (over questions with terms), empty_text_share, forced_tag_share,
    mean_top_score; None where no row has the figure."""
    row = figures.agg(
        F.avg("unweighted_share").alias("unweighted_share"),
        F.avg(F.col("empty").cast("double")).alias("empty_text_share"),
        F.avg(F.col("forced").cast("double")).alias("forced_tag_share"),
        F.avg("top_score").alias("mean_top_score"),
    ).first()
    return row.asDict()


def tag_rates(rows: DataFrame, tags_col: str, tags: list[str], total: int) -> list[float]:
    """Per tag of `tags`, the share of the `total` rows whose `tags_col` holds it."""
    counts = {
        r["tag"]: r["count"] for r in rows.select(F.explode(tags_col).alias("tag")).groupBy("tag").count().collect()
    }
    return [counts.get(tag, 0) / total if total else 0.0 for tag in tags]


@dataclass
class ReferenceProfile:
    model_version: int
    rows: int  # validation questions profiled
    train_rows: int
    edges: dict[str, list[float]]  # per binned figure: its bins' upper edges (the last bin is open)
    shares: dict[str, list[float]]  # per binned figure: the validation rows' share in each bin
    means: dict[str, float | None]  # unweighted_share, empty_text_share, forced_tag_share, mean_top_score
    tags: list[str]
    thresholds: list[float]
    predicted_rates: list[float]  # per tag: the share of validation questions it was predicted for
    tag_rates: list[float]  # per tag: the share of training questions that carry it

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        document = json.loads(text)
        return cls(**{f.name: document[f.name] for f in fields(cls)})

    def rows_for_table(self) -> list[tuple]:
        v = self.model_version
        rows = [(v, "rows", None, float(self.rows)), (v, "train_rows", None, float(self.train_rows))]
        rows += [(v, name, None, float(value)) for name, value in self.means.items() if value is not None]
        for name in BINNED:
            rows += [(v, f"{name}_edge", str(b), float(e)) for b, e in enumerate(self.edges[name])]
            rows += [(v, f"{name}_share", str(b), float(s)) for b, s in enumerate(self.shares[name])]
        for statistic, values in (
            ("threshold", self.thresholds),
            ("predicted_rate", self.predicted_rates),
            ("tag_rate", self.tag_rates),
        ):
            rows += [(v, statistic, tag, float(x)) for tag, x in zip(self.tags, values)]
        return rows


def reference_profile(
    version: int,
    predictor: PipelineModel,
    validation: DataFrame,
    training: DataFrame,
    tags: list[str],
    thresholds: list[float],
) -> ReferenceProfile:
    """The profile of a fitted predictor (its thresholds set) from its validation rows (all of them, as a scoring
    batch holds questions with and without the model's tags) and its training rows (for the tag rates)."""
    scored = predictor.transform(validation)
    stats = text_stats(scored, weighted_terms_col(predictor)).alias(TEXT_STATS)
    figures = batch_figures(scored.select(stats, F.col("predicted_tags").alias("tags"), "scores"), tags, thresholds)
    figures = figures.cache()
    try:
        quantiles = figures.agg(*[F.percentile_approx(name, QUANTILES, 10000).alias(name) for name in BINNED]).first()
        edges = {name: sorted(set(map(float, quantiles[name] or []))) for name in BINNED}
        rows, shares = binned_shares(figures, edges)
        means = summary_figures(figures)
        predicted_rates = tag_rates(figures, "tags", tags, rows)
    finally:
        figures.unpersist()
    train_rows = training.count()
    return ReferenceProfile(
        model_version=version,
        rows=rows,
        train_rows=train_rows,
        edges=edges,
        shares=shares,
        means=means,
        tags=list(tags),
        thresholds=[float(t) for t in thresholds],
        predicted_rates=predicted_rates,
        tag_rates=tag_rates(training, "tags", tags, train_rows),
    )


def save_profile(spark: SparkSession, profile: ReferenceProfile, model_path: str, table: str) -> None:
    """Into the model folder (it travels with the model) and the model_profiles table (for SQL)."""
    write_text(spark, profile.to_json(), f"{model_path.rstrip('/')}/{PROFILE_FILE}")
    append(spark.createDataFrame(profile.rows_for_table(), PROFILES_SCHEMA), table)


def load_profile(spark: SparkSession, model_path: str) -> ReferenceProfile | None:
    """The profile saved in a model folder; None for a model trained before profiles were made."""
    path = f"{model_path.rstrip('/')}/{PROFILE_FILE}"
    return ReferenceProfile.from_json(read_text(spark, path)) if path_exists(spark, path) else None
