"""Micro-benchmarks behind BENCHMARKS.md's measurements by hand: one part of a job, timed in one Spark session.

    scripts/microbench gradients [--tags 250] [--features 131684] [--bands 32]   a pass's gradients, to the driver
    scripts/microbench thresholds --warehouse DIR [--model-version N]   threshold tuning of a saved model
    scripts/microbench optimiser [--tags 250] [--features 131684]   the driver's L-BFGS time per iteration

Each prints one line per repetition. They time parts of the code as it is (pass_sums, tune_thresholds,
LockstepLBFGS.minimise); nothing here is asserted, and the figures belong in BENCHMARKS.md with the command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from functools import partial

import numpy as np
import scipy.sparse as sp
from pyspark.sql import SparkSession

from stacktags import config
from stacktags.clean import SILVER_TABLE, in_split
from stacktags.logistic import LockstepLBFGS
from stacktags.model import classifier_of, load_model, predictor_of, tune_thresholds
from stacktags.packing import Block, has_any_of
from stacktags.passes import GRADIENT_BANDS, pass_sums
from stacktags.session import build_session

REPEATS = 7


def timed(label: str, run, repeats: int = REPEATS) -> None:
    seconds = []
    for _ in range(repeats):
        started = time.monotonic()
        run()
        seconds.append(time.monotonic() - started)
    print(f"{label}: median {statistics.median(seconds):.3f} s, min {min(seconds):.3f} s over {repeats}", flush=True)


def gradients(spark: SparkSession, args: argparse.Namespace) -> None:
    """pass_sums over one tiny block per core at (features x tags): what a pass costs besides its rows' products."""
    sc = spark.sparkContext
    labels = sp.csr_matrix(np.eye(10, args.tags, dtype=np.float32))
    blocks = (
        sc.parallelize(range(sc.defaultParallelism), sc.defaultParallelism)
        .map(
            lambda seed: Block(
                sp.random(10, args.features, density=0.01, format="csr", dtype=np.float32, random_state=seed), labels
            )
        )
        .cache()
    )
    blocks.count()
    theta = np.zeros((args.features + 1, args.tags), dtype=np.float32)
    megabytes = theta.nbytes / 2**20
    timed("an empty job", lambda: blocks.mapPartitions(lambda part: []).collect())
    for bands in args.bands:
        timed(
            f"pass_sums: {sc.defaultParallelism} partitions' {megabytes:.0f} MB gradients in {bands} bands",
            partial(pass_sums, blocks, theta, bands),
        )


def thresholds(spark: SparkSession, args: argparse.Namespace) -> None:
    """tune_thresholds of a saved model on its validation rows (of its own split, cached first), as the train job
    runs it; the thresholds' hash shows that two versions of the code agree."""
    cfg = config.from_arguments(args)
    version, model, info = load_model(spark, cfg, args.model_version, "score")
    predictor, classifier = predictor_of(model), classifier_of(model)
    tags = classifier.getOrDefault(classifier.tags)
    test_from = (info["params"] or {}).get("test_from")
    rows = (
        spark.table(cfg.table(SILVER_TABLE))
        .where(in_split("validation", test_from))
        .where(has_any_of("tags", tags))
        .cache()
    )
    print(f"model {version}: {len(tags)} tags, {rows.count()} validation rows", flush=True)
    for _ in range(3):
        started = time.monotonic()
        tuned = tune_thresholds(predictor, rows)
        digest = hashlib.sha256(json.dumps(tuned).encode()).hexdigest()[:16]
        print(f"tune_thresholds: {time.monotonic() - started:.1f} s, thresholds {digest}", flush=True)


def optimiser(spark: SparkSession, args: argparse.Namespace) -> None:
    """LockstepLBFGS.minimise at (features x tags) on a separable pseudo-Huber objective (sum of c (sqrt(1 + (theta -
    m)^2) - 1)) whose gradient arrives as a pass's does (float32 sums joined into float64): the optimiser's own time
    per iteration, which the driver spends between two passes (three runs of 11 iterations). Its curvature grows
    near the minimum, so some steps overshoot and fail, as they do in training."""
    rng = np.random.default_rng(0)
    shape = (args.features + 1, args.tags)
    weight = rng.uniform(0.001, 0.011, size=shape).astype(np.float32)
    minimum = (rng.normal(size=shape) * np.exp(rng.uniform(0, 4, size=shape[1]))).astype(np.float32)  # far or near
    evaluating = [0.0]

    def evaluate(theta: np.ndarray):
        started = time.monotonic()
        offset = theta.astype(np.float32) - minimum
        root = np.sqrt(1 + offset * offset)
        gradient = np.concatenate(np.array_split(weight * offset / root, GRADIENT_BANDS), dtype=np.float64)
        objective = np.einsum("dk,dk->k", weight, root - 1, dtype=np.float64)
        evaluating[0] += time.monotonic() - started
        return objective, gradient

    iterations = 11
    for _ in range(3):
        evaluating[0] = 0.0
        lbfgs = LockstepLBFGS(history=5, tol=1e-12)
        started = time.monotonic()
        theta, _, passes = lbfgs.minimise(evaluate, np.zeros(shape), iterations)
        own = time.monotonic() - started - evaluating[0]
        lbfgs.close()
        digest = hashlib.sha256(theta.tobytes()).hexdigest()[:16]
        print(
            f"optimiser at {shape[0]:,} x {shape[1]}: {own / (passes - 1):.3f} s an iteration over {passes - 1}, "
            f"theta {digest}",
            flush=True,
        )


BENCHMARKS = {"gradients": gradients, "thresholds": thresholds, "optimiser": optimiser}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/microbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    parser.add_argument("--tags", type=int, default=250, help="gradients, optimiser: tags (columns)")
    parser.add_argument(
        "--features",
        type=int,
        default=131_684,
        help="gradients, optimiser: feature rows (131,684 are used at 1.26M questions)",
    )
    parser.add_argument(
        "--bands",
        type=int,
        nargs="+",
        default=[GRADIENT_BANDS],
        help="gradients: bands of rows each gradient is sent in (several: one timing each)",
    )
    parser.add_argument("--model-version", type=int, help="thresholds: the model (default: the newest)")
    config.add_common_arguments(parser)
    args = parser.parse_args(argv)
    spark = build_session(config.from_arguments(args), f"stacktags-microbench-{args.benchmark}")
    BENCHMARKS[args.benchmark](spark, args)


if __name__ == "__main__":
    main()
