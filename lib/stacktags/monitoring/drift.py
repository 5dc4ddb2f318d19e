"""The figures of one scoring batch against its model's reference profile, computed in Spark (only aggregates
reach the driver): input drift (PSI of the length and top-score distributions, the share of terms the model gives
no weight, the share of questions with no term), prediction drift (Jensen-Shannon divergence of the predicted tag
distribution and what sampling alone gives at the batch's size, each tag's predicted rate, the share of forced top
tags, the mean top score) and, where the truth has arrived, live quality (micro-F1, macro-F1, P@1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from stacktags.metrics import evaluate_predictions
from stacktags.monitoring.profile import (
    BINNED,
    ReferenceProfile,
    batch_figures,
    binned_shares,
    summary_figures,
    tag_rates,
)

SHARE_FLOOR = 1e-4  # an empty bin counts as this share in PSI and Jensen-Shannon (log 0 otherwise)
SAMPLING_QUANTILE = 0.99  # the sampling allowance: exceeded by 1 batch in 100 that did not drift
SAMPLING_DRAWS = 1000
SAMPLING_SEED = 0
LIVE_METRICS = ("micro_f1", "macro_f1", "p_at_1")


@dataclass(frozen=True)
class Figure:
    """One row of the drift_metrics table: a metric of the batch (for a tag, or overall), and its reference."""

    metric: str
    value: float
    reference: float | None = None
    tag: str | None = None


def psi(reference: list[float], actual: list[float]) -> float:
    """Population stability index of two distributions over the same bins: sum (a - r) ln(a / r)."""
    pairs = [(max(r, SHARE_FLOOR), max(a, SHARE_FLOOR)) for r, a in zip(reference, actual)]
    return sum((a - r) * math.log(a / r) for r, a in pairs)


def divergences(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (base 2) of each row of p and q (weights over the same items, no row all zero)."""
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > 0, a * np.log2(a / m), 0.0).sum(axis=-1)

    return np.maximum(0.0, (kl(p) + kl(q)) / 2)


def jensen_shannon(p: list[float], q: list[float]) -> float:
    """Jensen-Shannon divergence (base 2: 0 for equal distributions, 1 for disjoint ones) of two weight vectors
    over the same items, each normalised to sum 1."""
    p_total, q_total = sum(p), sum(q)
    if not p_total or not q_total:
        return 0.0 if p_total == q_total else 1.0
    return float(divergences(np.asarray(p, dtype=float), np.asarray(q, dtype=float)))


def sampling_js(reference_labels: int, batch_labels: int, rates: list[float]) -> float:
    """The Jensen-Shannon divergence that two samples of `reference_labels` and `batch_labels` predicted tags, both
    drawn from one distribution (`rates`, the pooled predicted rates), exceed once in a hundred: what sampling alone
    gives. Simulated (multinomial draws with a fixed seed): the chi-square approximation, (k - 1) (1/n1 + 1/n2) /
    (8 ln 2) on average, falls short by a fifth when many tags expect fewer than one count in the reference."""
    if reference_labels < 1 or batch_labels < 1 or not sum(rates):
        return 0.0
    p = np.asarray(rates, dtype=float) / sum(rates)
    rng = np.random.default_rng(SAMPLING_SEED)
    reference = rng.multinomial(reference_labels, p, size=SAMPLING_DRAWS)
    batch = rng.multinomial(batch_labels, p, size=SAMPLING_DRAWS)
    return float(np.quantile(divergences(reference, batch), SAMPLING_QUANTILE))


def drift_figures(rows: DataFrame, profile: ReferenceProfile) -> tuple[int, list[Figure]]:
    """(rows, figures) of a batch of predictions rows (tags, scores, text_stats) of the profile's model."""
    figures = batch_figures(rows, profile.tags, profile.thresholds)
    count, shares = binned_shares(figures, profile.edges)
    if not count:
        return 0, []
    means = summary_figures(figures)
    rates = tag_rates(figures, "tags", profile.tags, count)
    out = [Figure("rows", float(count), float(profile.rows))]
    out += [Figure(f"{name}_psi", psi(profile.shares[name], shares[name])) for name in BINNED if shares[name]]
    out += [Figure(name, value, profile.means.get(name)) for name, value in means.items() if value is not None]
    out.append(Figure("predicted_tags_js", jensen_shannon(profile.predicted_rates, rates)))
    pooled = [(profile.rows * ref + count * rate) for ref, rate in zip(profile.predicted_rates, rates)]
    allowance = sampling_js(round(profile.rows * sum(profile.predicted_rates)), round(count * sum(rates)), pooled)
    out.append(Figure("predicted_tags_js_sampling", allowance))
    out += [
        Figure("predicted_rate", rate, ref, tag) for tag, rate, ref in zip(profile.tags, rates, profile.predicted_rates)
    ]
    return count, out


def moved_most(figures: list[Figure], n: int = 5) -> list[Figure]:
    """The n tags whose predicted rate moved most from the reference."""
    rates = [f for f in figures if f.metric == "predicted_rate"]
    return sorted(rates, key=lambda f: -abs(f.value - (f.reference or 0.0)))[:n]


def live_quality(predictions: DataFrame, truth: DataFrame, tags: list[str], reference: dict) -> list[Figure]:
    """predictions (Id, tags, scores) of the batch, truth (Id, tags) of the questions whose tags are known and that
    the model did not learn from: micro-F1, macro-F1 and P@1 over the model's tags (as evaluate measures them, with
    its figures as the reference). live_rows alone when no scored question has its truth yet."""
    known = F.array(*map(F.lit, tags))
    rows = (
        predictions.select(
            "Id",
            F.col("tags").alias("predicted"),
            F.transform("scores", lambda s: s["tag"]).alias("ranked"),
        )
        .join(truth.select("Id", F.array_intersect("tags", known).alias("truth")), "Id")
        .where(F.size("truth") > 0)
        .cache()
    )
    try:
        count = rows.count()
        figures = [Figure("live_rows", float(count))]
        if count:
            overall = evaluate_predictions(rows, tags).overall
            figures += [Figure(f"live_{name}", overall[name], reference.get(name)) for name in LIVE_METRICS]
        return figures
    finally:
        rows.unpersist()
