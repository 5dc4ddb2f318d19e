"""The mllib solver of MultilabelLogisticRegression: one pyspark.ml LogisticRegression per tag, the reference path.

Each tag's model minimises the same objective as the lockstep solver's (regParam as L2, elasticNetParam 0, no
standardization, the rows with none of the tags left out) with MLlib's own L-BFGS, one Spark job per iteration and
tag. The rows are cached once; `parallelism` tags are fitted at a time from a thread pool, as MLlib's OneVsRest does
with its classes. Simpler than the lockstep solver and slower: each tag pays its own passes over the data.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from pyspark.ml.classification import LogisticRegression
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from stacktags.packing import has_any_of

log = logging.getLogger(__name__)

LABEL = "_label"
SURE = 1 - 1e-6  # a tag on every fitted row (or none) gets MLlib's infinite intercept: kept finite, as the
# lockstep solver's initial intercepts are


def fit_per_tag(
    dataset: DataFrame,
    features_col: str,
    labels_col: str,
    tags: list[str],
    reg_param: float,
    max_iter: int,
    tol: float,
    parallelism: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients (features x tags) float32, intercepts (tags,) float32): one binary LogisticRegression per tag,
    fitted on the rows that carry at least one of the tags."""
    rows = dataset.select(features_col, labels_col).where(has_any_of(labels_col, tags)).cache()

    def fit(tag: str) -> tuple[np.ndarray, float]:
        started = time.monotonic()
        labelled = rows.select(features_col, F.array_contains(labels_col, tag).cast("double").alias(LABEL))
        model = LogisticRegression(
            featuresCol=features_col,
            labelCol=LABEL,
            family="binomial",
            regParam=reg_param,
            elasticNetParam=0.0,
            standardization=False,
            maxIter=max_iter,
            tol=tol,
            aggregationDepth=2,
        ).fit(labelled)
        log.info(
            "mllib: tag %s in %d iterations, %.1f s", tag, model.summary.totalIterations, time.monotonic() - started
        )
        return model.coefficients.toArray(), model.intercept

    try:
        log.info("mllib: %d rows; %d tags, %d at a time", rows.count(), len(tags), parallelism)
        with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="stacktags-mllib") as pool:
            fitted = list(pool.map(fit, tags))
    finally:
        rows.unpersist()
    coefficients = np.stack([weights for weights, _ in fitted], axis=1).astype(np.float32)
    bound = np.log(SURE / (1 - SURE))
    intercepts = np.clip([intercept for _, intercept in fitted], -bound, bound).astype(np.float32)
    return coefficients, intercepts
