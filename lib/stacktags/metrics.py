"""Multilabel metrics, computed in Spark: micro/macro precision, recall and F1, P@k, R@5, sample Jaccard, Hamming
loss, subset accuracy, and per-tag precision, recall, F1 and support.

Input rows carry `truth` (the true tags, restricted to the model's tags), `predicted` (the decided tags) and `ranked`
(the model's tags, most probable first, at least 5 of them). Only aggregates reach the driver. Macro averages are over
the tags that occur in the rows' truth.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

K_VALUES = (1, 3, 5)


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _f1(p: float, r: float) -> float:
    return _safe_div(2 * p * r, p + r)


@dataclass
class Metrics:
    overall: dict[str, float]
    per_tag: list[dict]  # tag, precision, recall, f1, support, predicted

    def headline(self) -> str:
        o = self.overall
        return (
            f"micro-F1 {o['micro_f1']:.3f}  macro-F1 {o['macro_f1']:.3f}  P@1 {o['p_at_1']:.3f}  "
            f"P@3 {o['p_at_3']:.3f}  R@5 {o['r_at_5']:.3f}  Jaccard {o['jaccard']:.3f}  "
            f"Hamming {o['hamming_loss']:.4f}  subset acc. {o['subset_accuracy']:.3f}  ({int(o['rows'])} questions)"
        )


def evaluate_predictions(rows: DataFrame, tags: list[str]) -> Metrics:
    """rows: truth, predicted, ranked (array<string>). tags: the label space (for Hamming loss and macro averages)."""
    hits = F.size(F.array_intersect("truth", "predicted"))
    per_row = rows.select(
        hits.alias("hits"),
        F.size("truth").alias("n_true"),
        F.size("predicted").alias("n_pred"),
        F.size(F.array_union("truth", "predicted")).alias("n_union"),
        (F.size(F.array_union("truth", "predicted")) - hits).alias("n_diff"),
        (F.array_sort("truth") == F.array_sort("predicted")).cast("int").alias("exact"),
        *[F.size(F.array_intersect("truth", F.slice("ranked", 1, k))).alias(f"top{k}") for k in K_VALUES],
    )
    sums = (
        per_row.agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum("hits").alias("hits"),
            F.sum("n_true").alias("n_true"),
            F.sum("n_pred").alias("n_pred"),
            F.avg(F.when(F.col("n_union") > 0, F.col("hits") / F.col("n_union")).otherwise(1.0)).alias("jaccard"),
            F.avg(F.col("n_diff") / len(tags)).alias("hamming_loss"),
            F.avg("exact").alias("subset_accuracy"),
            *[F.avg(F.col(f"top{k}") / k).alias(f"p_at_{k}") for k in K_VALUES],
            F.avg(F.when(F.col("n_true") > 0, F.col("top5") / F.col("n_true")).otherwise(0.0)).alias("r_at_5"),
        )
        .first()
        .asDict()
    )

    truth_counts = rows.select(F.explode("truth").alias("tag")).groupBy("tag").count()
    predicted_counts = rows.select(F.explode("predicted").alias("tag")).groupBy("tag").count()
    true_positive_counts = (
        rows.select(F.explode(F.array_intersect("truth", "predicted")).alias("tag")).groupBy("tag").count()
    )
    counts = {tag: {"support": 0, "predicted": 0, "tp": 0} for tag in tags}
    for frame, key in ((truth_counts, "support"), (predicted_counts, "predicted"), (true_positive_counts, "tp")):
        for row in frame.collect():
            if row["tag"] in counts:
                counts[row["tag"]][key] = row["count"]
    per_tag = []
    for tag in tags:
        c = counts[tag]
        precision, recall = _safe_div(c["tp"], c["predicted"]), _safe_div(c["tp"], c["support"])
        per_tag.append(
            {
                "tag": tag,
                "precision": precision,
                "recall": recall,
                "f1": _f1(precision, recall),
                "support": c["support"],
                "predicted": c["predicted"],
            }
        )

    present = [t for t in per_tag if t["support"] > 0]  # macro averages over the tags the rows actually carry
    micro_p, micro_r = _safe_div(sums["hits"], sums["n_pred"]), _safe_div(sums["hits"], sums["n_true"])
    overall = {
        "rows": float(sums["rows"]),
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": _f1(micro_p, micro_r),
        "macro_precision": _mean(t["precision"] for t in present),
        "macro_recall": _mean(t["recall"] for t in present),
        "macro_f1": _mean(t["f1"] for t in present),
        **{f"p_at_{k}": float(sums[f"p_at_{k}"]) for k in K_VALUES},
        "r_at_5": float(sums["r_at_5"]),
        "jaccard": float(sums["jaccard"]),
        "hamming_loss": float(sums["hamming_loss"]),
        "subset_accuracy": float(sums["subset_accuracy"]),
    }
    return Metrics(overall, per_tag)
