"""The distributed L-BFGS passes of the multilabel estimator, and its warm start inside tasks.

What it owns: one pass over the cached blocks (the coefficients broadcast, each partition's loss and gradient summed
and sent in bands of rows, added on the driver or first on the executors), the iterations over all rows
(fit_lockstep), and the warm start: the first iterations on a sample of the rows, run inside tasks, a chunk of tags
each, whose coefficients and L-BFGS memory come back to the driver once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import numpy as np
from pyspark.sql import SparkSession

from stacktags.logistic import LockstepLBFGS, loss_gradient, regularised, return_freed_memory, reuse_freed_memory
from stacktags.packing import Block, column_ranks, renumber_columns, rows_per_block, stacked

log = logging.getLogger(__name__)


def initial_theta(blocks, num_features: int, num_tags: int) -> tuple[np.ndarray, int]:
    """Zero coefficients and each tag's log-odds as intercept (the best model before reading any feature), and the
    number of rows."""
    positives, rows = blocks.map(lambda b: (np.asarray(b.Y.sum(axis=0)).ravel(), b.X.shape[0])).reduce(
        lambda a, b: (a[0] + b[0], a[1] + b[1])
    )
    rate = np.clip(positives / rows, 1e-6, 1 - 1e-6)
    theta = np.zeros((num_features + 1, num_tags))
    theta[-1] = np.log(rate / (1 - rate))
    return theta, rows


def partition_loss_gradient(blocks: Iterator[Block], theta: np.ndarray) -> list:
    """One partition's blocks -> one summed (loss, gradient, rows): a single result per partition to send, its
    gradient in theta's dtype (float32 on the wire: a (features x tags) gradient is 100 MB at 2^18 x 100 instead of
    200 MB)."""
    reuse_freed_memory()
    total = loss_gradient(blocks, theta)
    return [] if total is None else [total]


GRADIENT_BANDS = 32  # a pass's gradient travels in this many bands of rows: one result of 100+ MB costs Spark more
# to pass from the worker to the driver than 32 of a few MB (scripts/microbench gradients;
# docs/performance.md)
DRIVER_SUMS_AT_MOST = 4  # partitions whose gradients the driver receives and adds itself; with more, the executors
# add each band first (as treeReduce's intermediate level would), and the driver receives one


def gradient_bands(totals: list, bands: int) -> Iterator[tuple]:
    """partition_loss_gradient's result -> the pairs that a pass sends: (-1, (loss, rows)), then (b, band b of the
    gradient's rows) for each of `bands` bands."""
    for loss, gradient, rows in totals:
        yield -1, (loss, rows)
        yield from enumerate(np.array_split(gradient, bands))


def add_band(a, b):
    """Sums two values of one key of gradient_bands: (loss, rows) pairs, or bands (into a, a fresh array from a
    partition: no temporary)."""
    if isinstance(a, tuple):
        return a[0] + b[0], a[1] + b[1]
    return np.add(a, b, out=a)


def pass_sums(blocks, theta: np.ndarray, bands: int = GRADIENT_BANDS) -> tuple[np.ndarray, np.ndarray, float]:
    """One distributed pass: the loss, the float64 gradient and the weighted rows of all blocks at theta (float32,
    broadcast once). Each partition sums its blocks and sends gradient_bands; a band's partitions are added in
    float32, in partition order when the driver adds them, and copied into the float64 gradient."""
    sc = blocks.context
    shared = sc.broadcast(theta)
    try:
        pairs = blocks.mapPartitions(lambda part: gradient_bands(partition_loss_gradient(part, shared.value), bands))
        if pairs.getNumPartitions() > DRIVER_SUMS_AT_MOST:
            pairs = pairs.reduceByKey(add_band, numPartitions=min(bands, sc.defaultParallelism))
        sums = {}
        for key, value in pairs.collect():
            sums[key] = add_band(sums[key], value) if key in sums else value
    finally:
        shared.destroy()
    if -1 not in sums:
        raise ValueError("a pass over no rows: the blocks are empty")
    loss, rows = sums[-1]
    return loss, np.concatenate([sums[band] for band in range(bands)], dtype=np.float64), rows


def fit_lockstep(blocks, theta: np.ndarray, reg_param: float, max_iter: int, optimiser: LockstepLBFGS) -> np.ndarray:
    """At most max_iter L-BFGS iterations over the blocks from theta, one data pass each."""
    reuse_freed_memory()

    def evaluate(current: np.ndarray):
        started = time.monotonic()
        loss, gradient, rows = pass_sums(blocks, current.astype(np.float32))  # the products run in float32
        objective, grad = regularised(loss, gradient, rows, current, reg_param)
        log.info("pass over %d rows: mean objective %.6f, %.1f s", rows, objective.mean(), time.monotonic() - started)
        return objective, grad

    theta, objective, passes = optimiser.minimise(evaluate, theta, max_iter)
    log.info("%d passes: mean objective of the accepted steps %.6f", passes, objective.mean())
    return theta


MIN_WARM_START_TAGS = 25  # fewest tags per warm-start task (but one task): each task receives a copy of the sample
WARM_START_TASKS_PER_CORE = 2  # a task runs until the slowest of its tags converges: with two per core, a core whose
# task ends early takes the next one instead of idling
WARM_START_MEMORY_BYTES = 256 << 20  # per core: the L-BFGS pairs its warm-start tasks send back, each its newest
# ones within its share (all 5 for 25 tags of 2^17 features, 2 for 62): the
# driver receives every task's at once


def warm_start(
    spark: SparkSession, sample, theta: np.ndarray, reg_param: float, max_iter: int, history: int, tol: float
) -> tuple[np.ndarray, LockstepLBFGS]:
    """At most max_iter L-BFGS iterations over the sample's blocks from theta, run inside tasks: the tags are cut
    into WARM_START_TASKS_PER_CORE chunks per core (of at least MIN_WARM_START_TAGS), and each chunk's task gets
    every sample row and iterates on its own. Each tag's iterations are its own; the chunks change only the memory a
    tag ends with, as its chunk may iterate on after it converged and push empty pairs into its history. A pass
    over a sample is short: sending (features x tags) coefficients out and gradients back at each iteration costs
    more than the pass. This sends them once. Returns theta and an optimiser holding the chunks' memories."""
    sc = spark.sparkContext
    tasks = max(1, min(sc.defaultParallelism * WARM_START_TASKS_PER_CORE, theta.shape[1] // MIN_WARM_START_TAGS))
    chunks = np.array_split(np.arange(theta.shape[1]), tasks)
    memory_bytes = WARM_START_MEMORY_BYTES * sc.defaultParallelism // tasks
    shared = sc.broadcast(theta)

    def chunk_rows(block: Block) -> list:
        return [(k, Block(block.X, block.Y[:, columns], block.weight)) for k, columns in enumerate(chunks)]

    def fit_chunk(items: Iterator[tuple]) -> list:
        items = list(items)
        if not items:
            return []
        result = fit(items[0][0], [block for _, block in items])
        # The optimiser's (features x tags) arrays (3 GB a task at top-1000) are free now, but the heap keeps them
        # (reuse_freed_memory); the passes over all rows that this worker runs next need about half as much.
        return_freed_memory()
        return result

    def fit(k: int, slices: list[tuple]) -> list:
        # the sample's rows arrive in slices of the packed blocks: joined (those of one weight), a chunk's
        # evaluation has fewer blocks
        blocks = stacked(sorted(slices, key=lambda b: b.weight), rows_per_block(len(chunks[k])))
        # A sample of rare tags' rows uses two thirds of the feature columns: the optimiser's own (parameters x
        # tags) work, most of such a task's time, shrinks with the rows of the others, which stay as they are.
        start = shared.value[:, chunks[k]]
        movable = movable_rows(blocks, start)
        ranks = column_ranks(movable[:-1], start.shape[0] - 1)
        blocks = [Block(renumber_columns(b.X, ranks, len(movable) - 1), b.Y, b.weight) for b in blocks]
        optimiser = LockstepLBFGS(history=history, tol=tol)

        def evaluate(current: np.ndarray):  # the sums of a distributed pass (fit_lockstep's), in one task
            (total,) = partition_loss_gradient(iter(blocks), current.astype(np.float32))
            loss, gradient, rows = total
            return regularised(loss, gradient.astype(np.float64), rows, current, reg_param)

        try:
            fitted, _, _ = optimiser.minimise(evaluate, np.ascontiguousarray(start[movable]), max_iter)
            return [(k, movable, fitted, optimiser.memory(fitted, memory_bytes).within(movable, start.shape[0]))]
        finally:
            optimiser.close()

    started = time.monotonic()
    try:
        fitted = sorted(
            sample.flatMap(chunk_rows).partitionBy(len(chunks), lambda k: k).mapPartitions(fit_chunk).collect(),
            key=lambda result: result[0],
        )
    finally:
        shared.destroy()
    log.info(
        "warm start: %d iterations on the sample for %d tags in %d tasks, %.1f s",
        max_iter,
        theta.shape[1],
        len(chunks),
        time.monotonic() - started,
    )
    theta = theta.copy()
    for k, movable, chunk_theta, _ in fitted:
        theta[np.ix_(movable, chunks[k])] = chunk_theta
    return theta, LockstepLBFGS.side_by_side([memory for _, _, _, memory in fitted], history, tol)


def movable_rows(blocks: list[Block], theta: np.ndarray) -> np.ndarray:
    """The rows of theta ((features + 1) x tags, the intercepts last) that iterations over the blocks can move: the
    feature columns their rows use, those where theta holds a coefficient (the L2 term pulls it), and the
    intercepts. The others' gradient is zero: they stay as they are."""
    movable = theta.any(axis=1)
    for block in blocks:
        movable[block.X.indices] = True
    movable[-1] = True
    return np.flatnonzero(movable)
