"""The multilabel estimator: its numeric core, agreement with MLlib, the decision rule and persistence."""

import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp
from conftest import ROOT
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import IDF, Normalizer
from pyspark.ml.linalg import DenseVector, SparseVector, VectorUDT
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, IntegerType, StringType, StructField, StructType
from scipy.optimize import minimize

from stacktags import multilabel, passes
from stacktags.classifier_io import nonzero_per_tag
from stacktags.errors import ModelMismatchError
from stacktags.logistic import (
    LockstepLBFGS,
    _add_products,
    _add_transposed_products,
    _column_dots,
    _settled_rows,
    _trial_rows,
    backtracking_factor,
    loss_gradient,
    regularised,
)
from stacktags.multilabel import MultilabelLogisticModel, MultilabelLogisticRegression
from stacktags.packing import (
    Block,
    by_frequency,
    column_ranks,
    group_rows,
    renumber_columns,
    stacked,
    tags_to_csr,
    tfidf_normalised,
    vectors_to_csr,
)
from stacktags.passes import fit_lockstep, partition_loss_gradient, pass_sums, warm_start
from stacktags.session import project_class

TAGS = ["java", "python", "sql"]
COLD = {"warmStartRows": 0, "warmStartIter": 0, "tagsPerFit": 0, "otherRowsRate": 1.0}


def cold_estimator(**params) -> MultilabelLogisticRegression:
    """The lockstep estimator without a warm start, tag groups or sampled rows, unless `params` ask for them."""
    return MultilabelLogisticRegression(**{**COLD, **params})


def synthetic(seed=0, rows=300, features=12):
    """Sparse rows and 3 tags drawn from known logistic models, so each tag has signal and noise."""
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(rows, features)) * (rng.random((rows, features)) < 0.4)
    truth = rng.normal(size=(features, len(TAGS))) * 1.5
    labels = rng.random((rows, len(TAGS))) < 1 / (1 + np.exp(-(dense @ truth - 0.5)))
    return dense, labels


def test_gradient_matches_finite_differences():
    dense, labels = synthetic(rows=40, features=5)
    X, Y = sp.csr_matrix(dense), sp.csr_matrix(labels.astype(float))
    theta = np.random.default_rng(1).normal(size=(6, 3)) * 0.3

    def objective(t):
        loss, grad, total = loss_gradient([(X, Y, 1.0)], t)
        return regularised(loss, grad, total, t, 0.1)

    value, grad = objective(theta)
    for d, k in [(0, 0), (3, 1), (5, 2)]:  # a coefficient of each tag and an intercept
        step = np.zeros_like(theta)
        step[d, k] = 1e-6
        numeric = (objective(theta + step)[0][k] - objective(theta - step)[0][k]) / 2e-6
        assert numeric == pytest.approx(grad[d, k], rel=1e-5, abs=1e-8)


def test_float32_products_agree_with_float64():
    """Training broadcasts float32 coefficients; the sums must stay float64-accurate enough for the line search."""
    dense, labels = synthetic(rows=400, features=12)
    X, Y = sp.csr_matrix(dense), sp.csr_matrix(labels.astype(float))
    theta = np.random.default_rng(2).normal(size=(13, 3)) * 0.3
    loss64, grad64, rows = loss_gradient([(X, Y, 1.0)], theta)
    loss32, grad32, _ = loss_gradient([(X.astype(np.float32), Y.astype(np.float32), 1.0)], theta.astype(np.float32))
    assert rows == 400 and loss32.dtype == np.float64 and grad32.dtype == np.float32
    np.testing.assert_allclose(loss32, loss64, rtol=1e-5)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_products_give_scipys_sums_to_the_bit(dtype):
    rng = np.random.default_rng(3)
    emptied = np.ones(60, dtype)
    emptied[7] = 0  # an empty row
    X = sp.csr_matrix(sp.diags(emptied) @ sp.random(60, 40, density=0.3, format="csr", dtype=dtype, random_state=4))
    X.eliminate_zeros()
    assert X.indptr[7] == X.indptr[8]
    X.indptr = X.indptr.astype(np.int64)  # scipy's index type for large matrices
    coefficients = rng.normal(size=(40, 9)).astype(dtype)
    dense = rng.normal(size=(60, 9)).astype(dtype)
    margins, products = np.zeros((60, 9), dtype), np.zeros((40, 9), dtype)
    _add_products(X.indptr, X.indices, X.data, coefficients, margins)
    _add_transposed_products(X.indptr, X.indices, X.data, dense, products)
    np.testing.assert_array_equal(margins, X @ coefficients)
    np.testing.assert_array_equal(products, X.T @ dense)
    _add_products(X.indptr, X.indices, X.data, coefficients, margins)  # they add to what is there
    np.testing.assert_allclose(margins, 2 * (X @ coefficients), rtol=1e-5, atol=1e-5)
    assert np.all(margins[7] == 0)


def test_column_dots_sum_in_float64_whatever_the_arrays_types():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(1001, 7)), rng.normal(size=(1001, 7)).astype(np.float32)
    expected = np.einsum("dk,dk->k", a, b.astype(np.float64))
    np.testing.assert_allclose(_column_dots(a, b, 0, 1001), expected, rtol=1e-12)
    np.testing.assert_allclose(_column_dots(a, b, 0, 500) + _column_dots(a, b, 500, 1001), expected, rtol=1e-12)
    assert _column_dots(a.astype(np.float32), b, 0, 1001).dtype == np.float64


def test_the_fused_trial_steps_give_numpys_results_to_the_bit():
    """minimise's element-wise steps around a pass, fused into two compiled passes (_trial_rows before it,
    _settled_rows after), give what numpy's separate steps give: the scaled step and candidate, then the failed
    problems' trials undone, the gradient change in float32 and its column dots (as _column_dots sums them)."""
    rng = np.random.default_rng(6)
    theta, grad, trial_grad = (rng.normal(size=(1001, 7)) for _ in range(3))
    direction = rng.normal(size=(1001, 7)).astype(np.float32)
    factor = np.where(np.arange(7) == 3, 0.0, rng.random(7) * 3)
    failed = np.isin(np.arange(7), [1, 5])

    expected_step = direction.copy()
    expected_step *= factor
    expected_candidate = theta + expected_step
    candidate = np.empty_like(theta)
    _trial_rows(direction, factor, theta, candidate, 0, 600)
    _trial_rows(direction, factor, theta, candidate, 600, 1001)
    np.testing.assert_array_equal(direction, expected_step)
    np.testing.assert_array_equal(candidate, expected_candidate)

    np.copyto(expected_step, 0.0, where=failed)
    np.copyto(expected_candidate, theta, where=failed)
    expected_trial_grad = np.where(failed, grad, trial_grad)
    expected_change = np.subtract(expected_trial_grad, grad, out=np.empty(grad.shape, np.float32))
    change = np.empty(grad.shape, np.float32)
    sums = [
        _settled_rows(direction, candidate, theta, trial_grad, grad, failed, change, start, stop)
        for start, stop in [(0, 600), (600, 1001)]
    ]
    for actual, expected in [
        (direction, expected_step),
        (candidate, expected_candidate),
        (trial_grad, expected_trial_grad),
        (change, expected_change),
    ]:
        np.testing.assert_array_equal(actual, expected)
    assert not change[:, failed].any() and change[:, ~failed].all()
    for column_sums, (a, b) in zip(zip(*sums), [(expected_step, expected_change), (expected_change, expected_change)]):
        np.testing.assert_array_equal(sum(column_sums), _column_dots(a, b, 0, 600) + _column_dots(a, b, 600, 1001))


def test_the_compiled_two_loop_recursion_gives_numpys_steps_in_float32_to_the_bit():
    """LockstepLBFGS.direction runs the recursion's updates as compiled passes over float32 pairs into a float32
    direction: the same bits as numpy's steps computed in float64 and rounded into float32 once each."""
    rng = np.random.default_rng(5)
    optimiser = LockstepLBFGS(history=3)
    grad = rng.normal(size=(1001, 7))
    first = optimiser.direction(grad)
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, -grad.astype(np.float32))  # no pairs yet: the gradient's opposite
    for _ in range(3):
        optimiser.s.append(rng.normal(size=grad.shape).astype(np.float32))
        optimiser.y.append(rng.normal(size=grad.shape).astype(np.float32))
        optimiser.rho.append(rng.random(7))
    optimiser.gamma = np.where(np.arange(7) == 2, np.nan, rng.random(7))
    bands = optimiser.bands(len(grad))

    def dot(a, b):  # as direction() sums: per band of rows, then the bands
        return sum(_column_dots(a, b, band.start, band.stop) for band in bands)

    def rounded(values):
        return values.astype(np.float32).astype(np.float64)

    q, alphas = grad.copy(), []
    for s, y, rho in zip(reversed(optimiser.s), reversed(optimiser.y), reversed(optimiser.rho)):
        alphas.append(rho * dot(s, rounded(q) if alphas else q))
        q = rounded(q + y.astype(np.float64) * -alphas[-1])
    q = rounded(q * np.where(np.isnan(optimiser.gamma), 1.0, optimiser.gamma))
    for s, y, rho, alpha in zip(optimiser.s, optimiser.y, optimiser.rho, reversed(alphas)):
        q = rounded(q + s.astype(np.float64) * (alpha - rho * dot(y, q.astype(np.float32))))
    np.testing.assert_array_equal(optimiser.direction(grad), -q.astype(np.float32))
    optimiser.close()


def test_lockstep_lbfgs_finds_each_tags_optimum():
    dense, labels = synthetic()
    X, Y = sp.csr_matrix(dense), sp.csr_matrix(labels.astype(float))

    def evaluate(t):
        loss, grad, total = loss_gradient([(X, Y, 1.0)], t)
        return regularised(loss, grad, total, t, 0.01)

    theta, _, passes = LockstepLBFGS(history=5, tol=1e-12).minimise(evaluate, np.zeros((13, 3)), max_iter=200)
    _, grad = evaluate(theta)
    assert np.abs(grad).max() < 1e-5 and passes < 200


def test_a_failed_step_shrinks_to_the_interpolated_minimum_within_a_tenth_and_a_half():
    """Along the direction: objective 1, slope -1, a trial at step 1. The quadratic through them has its minimum at
    1 / (2 c) for the trial's objective c: tried next when within [0.1, 0.5] of the step."""
    objective, slope, step = np.ones(6), -np.ones(6), np.ones(6)
    trial = np.array([2.5, 1.5, 1.0, 100.0, np.inf, np.nan])
    np.testing.assert_allclose(backtracking_factor(objective, trial, slope, step), [0.2, 1 / 3, 0.5, 0.1, 0.1, 0.1])
    # the same trials along a direction a quarter as long, at a step of 4: the same shares
    np.testing.assert_allclose(
        backtracking_factor(objective, trial, slope / 4, 4 * step), [0.2, 1 / 3, 0.5, 0.1, 0.1, 0.1]
    )


def test_a_step_that_overshoots_by_far_is_retried_at_a_tenth():
    """f(t) = 50 (t - 0.03)^2 from 0: the first step (unit length) lands at 1, far past the minimum; the next trial
    is at 0.1, not at half of the step, and the one after that at the quadratic's minimum, 0.3 of that step."""
    tried = []

    def evaluate(theta):
        tried.append(theta[0, 0])
        return 50 * (theta[0] - 0.03) ** 2, 100 * (theta - 0.03)

    LockstepLBFGS(history=5).minimise(evaluate, np.zeros((1, 1)), max_iter=3)
    np.testing.assert_allclose(tried[:4], [0.0, 1.0, 0.1, 0.03])


def test_each_iteration_is_one_data_pass_whatever_the_line_search_does():
    """A tag whose step fails waits for the next iteration; it must not cost the other tags extra passes."""
    dense, labels = synthetic()
    X, Y = sp.csr_matrix(dense * 50), sp.csr_matrix(labels.astype(float))  # steep: first trial steps fail often
    calls = []

    def evaluate(t):
        calls.append(1)
        loss, grad, total = loss_gradient([(X, Y, 1.0)], t)
        return regularised(loss, grad, total, t, 1e-4)

    _, objective, passes = LockstepLBFGS(history=5, tol=1e-12).minimise(evaluate, np.zeros((13, 3)), max_iter=8)
    start, _ = evaluate(np.zeros((13, 3)))
    assert passes == len(calls) - 1 <= 9  # the initial evaluation plus one per iteration
    assert (objective < start).all()


def test_a_rare_tag_with_tiny_gradients_still_learns():
    """A tag on 2% of rows starts with a tiny gradient; it must not be declared converged before it has learned."""
    rng = np.random.default_rng(5)
    dense = rng.normal(size=(2000, 8)) / 300  # tiny features: tiny gradients, as rare tags get on TF-IDF
    rare = (dense[:, 0] > np.quantile(dense[:, 0], 0.98)).astype(float)
    X, Y = sp.csr_matrix(dense), sp.csr_matrix(np.column_stack([rare, dense[:, 1] > 0]).astype(float))

    def evaluate(t):
        loss, grad, total = loss_gradient([(X, Y, 1.0)], t)
        return regularised(loss, grad, total, t, 1e-4)

    start = np.zeros((9, 2))
    start[-1] = np.log([0.02 / 0.98, 1.0])
    theta, _, _ = LockstepLBFGS(history=5, tol=1e-6).minimise(evaluate, start, max_iter=300)  # the default tol

    def rare_tag_alone(t):
        full = np.column_stack([t, start[:, 1]])
        value, grad = evaluate(full)
        return value[0], grad[:, 0]

    reference = minimize(
        rare_tag_alone,
        start[:, 0],
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10},
    ).x
    assert np.allclose(theta[:, 0], reference, rtol=1e-2, atol=1e-2 * np.abs(reference).max())


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or not sys.platform.startswith("linux"),
    reason="the allocator settings are glibc's, the memory figures Linux's",
)
def test_freed_arrays_stay_for_reuse_until_returned_to_the_system():
    """A worker keeps freed (features x tags) arrays for the next ones (reuse_freed_memory) until it is told it will
    not need them (return_freed_memory), as after a warm start. Run in a new process: the settings are global."""
    script = textwrap.dedent("""
        import os
        import numpy as np
        from stacktags.logistic import return_freed_memory, reuse_freed_memory
        def resident():
            return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
        reuse_freed_memory()
        before = resident()
        array = np.ones(50_000_000)  # 381 MB
        del array
        held = resident()
        return_freed_memory()
        print(held - before, held - resident())
    """)
    output = subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "lib")},
    ).stdout
    held, returned = map(int, output.split())
    assert held > 300 and returned > 300


def test_memories_side_by_side_steer_as_each_did_alone():
    """Two optimisers' problems, joined column-wise: the joined memory gives each problem the direction its own
    optimiser gives (up to the float32 of the pairs), also when one ran fewer iterations (padded pairs)."""
    dense, labels = synthetic()
    X = sp.csr_matrix(dense)

    def run(columns: list[int], iterations: int):
        Y = sp.csr_matrix(labels[:, columns].astype(float))

        def evaluate(t):
            loss, grad, total = loss_gradient([(X, Y, 1.0)], t)
            return regularised(loss, grad, total, t, 0.01)

        optimiser = LockstepLBFGS(history=5, tol=1e-12)
        theta, _, _ = optimiser.minimise(evaluate, np.zeros((13, len(columns))), max_iter=iterations)
        return optimiser, theta, evaluate(theta)[1]

    first, theta_a, grad_a = run([0, 1], 8)
    second, theta_b, grad_b = run([2], 2)
    assert len(second.s) < len(first.s) == 5
    everything = 1 << 30
    joined = LockstepLBFGS.side_by_side(
        [first.memory(theta_a, everything), second.memory(theta_b, everything)], history=5, tol=1e-12
    )
    direction = joined.direction(np.column_stack([grad_a, grad_b]))
    np.testing.assert_allclose(direction[:, :2], first.direction(grad_a.copy()), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(direction[:, 2:], second.direction(grad_b.copy()), rtol=1e-4, atol=1e-7)
    assert np.abs(direction).max() > 0
    with pytest.raises(ValueError, match="cannot stand for"):
        first.memory(theta_a, everything).within(np.arange(12), 20)
    with pytest.raises(ValueError, match="memories of problems of different sizes: \\[5, 13\\] parameters"):
        LockstepLBFGS.side_by_side([first.memory(theta_a, everything), second.memory(theta_b[:5], everything)], 5, 0)
    newest_two = first.memory(theta_a, max_bytes=2 * 2 * 4 * theta_a.size)
    assert len(newest_two.s) == len(newest_two.rho) == 2
    np.testing.assert_array_equal(newest_two.y[-1], first.y[-1].astype(np.float32))
    assert len(first.memory(theta_a, max_bytes=1).s) == 1  # at least the newest pair


@pytest.mark.parametrize("features", [100, 12])  # 101 gradient rows in 32 bands; 13, so that most bands are empty
def test_a_pass_adds_the_partitions_gradients_band_by_band(spark, monkeypatch, features):
    """pass_sums: with few partitions the driver adds their bands in partition order, the float32 sums a reduce
    over the partitions' whole gradients gives, to the bit; with many the executors add each band first."""
    dense, labels = synthetic(rows=400, features=features)
    parts = [
        Block(sp.csr_matrix(dense[rows], dtype=np.float32), sp.csr_matrix(labels[rows].astype(np.float32)))
        for rows in (slice(0, 100), slice(100, 250), slice(250, 400))
    ]
    theta = np.random.default_rng(2).normal(size=(features + 1, 3)).astype(np.float32)
    totals = [partition_loss_gradient(iter([part]), theta)[0] for part in parts]
    expected_loss = totals[0][0] + totals[1][0] + totals[2][0]
    expected_gradient = (totals[0][1] + totals[1][1] + totals[2][1]).astype(np.float64)
    blocks = spark.sparkContext.parallelize(parts, 3)

    loss, gradient, rows = pass_sums(blocks, theta)
    assert rows == 400 and gradient.dtype == np.float64 and gradient.shape == (features + 1, 3)
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(gradient, expected_gradient)

    monkeypatch.setattr(passes, "DRIVER_SUMS_AT_MOST", 2)  # 3 partitions: the executors add the bands
    loss, gradient, rows = pass_sums(blocks, theta)
    assert rows == 400
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="a pass over no rows"):
        pass_sums(spark.sparkContext.parallelize([], 1), theta)


def test_the_warm_start_in_tasks_follows_the_distributed_iterations(spark, monkeypatch, caplog):
    """The warm start runs one task per chunk of tags, each on all the sample's rows: the same iterations as the
    passes over the distributed blocks (fit_lockstep), up to float32 sums in another order (which the float32
    directions carry on). A task optimises only the rows it can move: a feature column no sample row uses keeps
    its zero coefficients, and its rows of the memory are zero; one with a coefficient shrinks under L2."""
    monkeypatch.setattr(passes, "MIN_WARM_START_TAGS", 1)  # 3 tags: three chunks on local[2]
    dense, labels = synthetic(rows=400)
    dense[:, [3, 7]] = 0  # feature columns no row uses
    halves = [slice(0, 200), slice(200, 400)]
    blocks = spark.sparkContext.parallelize(
        [Block(sp.csr_matrix(dense[h], dtype=np.float32), sp.csr_matrix(labels[h].astype(np.float32))) for h in halves],
        2,
    )
    start = np.zeros((13, 3))
    start[-1] = -1.0
    start[7, 1] = 0.5
    with caplog.at_level("INFO", logger="stacktags.multilabel"):
        in_tasks, optimiser = warm_start(spark, blocks, start, reg_param=0.01, max_iter=10, history=5, tol=1e-12)
    assert "for 3 tags in 3 tasks" in caplog.text
    assert optimiser.gamma.shape == (3,) and len(optimiser.s) == 5 and optimiser.s[0].shape == (13, 3)
    distributed = fit_lockstep(blocks, start, 0.01, 10, LockstepLBFGS(history=5, tol=1e-12))
    assert np.abs(in_tasks - start).max() > 0.1  # it moved
    np.testing.assert_allclose(in_tasks, distributed, atol=2e-4)
    monkeypatch.setattr(passes, "movable_rows", lambda blocks, theta: np.arange(len(theta)))
    every_row, unrestricted = warm_start(spark, blocks, start, reg_param=0.01, max_iter=10, history=5, tol=1e-12)
    np.testing.assert_allclose(in_tasks, every_row, rtol=1e-6, atol=1e-9)
    for ours, theirs in zip(optimiser.s + optimiser.y, unrestricted.s + unrestricted.y):  # each row in its place
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-9)
    assert not in_tasks[3].any() and not in_tasks[7, [0, 2]].any()
    assert not any(pair[3].any() or pair[7, [0, 2]].any() for pair in optimiser.s + optimiser.y)
    assert abs(in_tasks[7, 1]) < 0.05  # from 0.5


@pytest.fixture(scope="module")
def training_rows(spark):
    dense, labels = synthetic()
    rows = [
        (SparseVector(len(x), np.flatnonzero(x).tolist(), x[x != 0].tolist()), [t for t, on in zip(TAGS, y) if on])
        for x, y in zip(dense, labels)
    ]
    schema = StructType([StructField("features", VectorUDT()), StructField("tags", ArrayType(StringType()))])
    return spark.createDataFrame(rows, schema)


def test_agrees_with_mllib_logistic_regression_per_tag(spark, training_rows):
    """Same objective (regParam, no standardization): same coefficients and probabilities, tag by tag."""
    model = cold_estimator(numTags=3, regParam=0.01, maxIter=200, tol=1e-12).fit(training_rows)
    ours = (
        model.transform(training_rows.withColumn("row", F.monotonically_increasing_id()))
        .select("row", "tags")
        .orderBy("row")
    )
    assert model.getOrDefault(model.tags) == sorted(
        TAGS, key=lambda t: (-sum(t in r["tags"] for r in training_rows.collect()), t)
    )
    fitted_rows = training_rows.where(F.size("tags") > 0)  # rows with none of the tags take no part in fitting
    for k, tag in enumerate(model.getOrDefault(model.tags)):
        data = fitted_rows.withColumn("label", F.array_contains("tags", tag).cast("double"))
        mllib = LogisticRegression(
            regParam=0.01, elasticNetParam=0.0, standardization=False, maxIter=500, tol=1e-12
        ).fit(data)
        assert np.allclose(model.coefficients[:, k], mllib.coefficients.toArray(), atol=2e-4), tag
        assert model.intercepts[k] == pytest.approx(mllib.intercept, abs=2e-4)
    assert ours.count() == training_rows.count()


def test_the_mllib_solver_reaches_the_lockstep_solvers_optimum(spark, training_rows):
    """solver="mllib" fits pyspark.ml's LogisticRegression per tag into the same model class: with both run to
    convergence, the same tags, coefficients and intercepts to 2e-4, and the same predictions."""
    lockstep = cold_estimator(numTags=3, regParam=0.01, maxIter=200, tol=1e-12).fit(training_rows)
    mllib = MultilabelLogisticRegression(
        solver="mllib", numTags=3, regParam=0.01, maxIter=500, tol=1e-12, parallelism=2
    ).fit(training_rows)
    assert type(mllib) is MultilabelLogisticModel
    assert mllib.getOrDefault(mllib.tags) == lockstep.getOrDefault(lockstep.tags)
    assert np.allclose(mllib.coefficients, lockstep.coefficients, atol=2e-4)
    assert np.allclose(mllib.intercepts, lockstep.intercepts, atol=2e-4)
    assert np.abs(mllib.coefficients).max() > 0.1  # learnt something
    predicted = [model.transform(training_rows).select("predicted_tags").collect() for model in (mllib, lockstep)]
    assert predicted[0] == predicted[1]


def test_the_mllib_solver_keeps_a_tag_on_every_row_finite(spark, training_rows):
    """A tag that every fitted row carries gets MLlib's infinite intercept; the model keeps it finite and certain."""
    everywhere = training_rows.withColumn("tags", F.array_union("tags", F.array(F.lit("always"))))
    model = MultilabelLogisticRegression(solver="mllib", numTags=1, maxIter=20).fit(everywhere)
    assert model.getOrDefault(model.tags) == ["always"] and np.isfinite(model.intercepts).all()
    assert model.intercepts[0] > 13


def test_an_unknown_solver_is_refused(training_rows):
    with pytest.raises(ValueError, match="solver must be one of lockstep, mllib, not 'newton'"):
        MultilabelLogisticRegression(solver="newton").fit(training_rows)


def test_warm_start_on_a_share_of_the_rows_gets_closer_to_the_optimum_in_as_many_full_passes(spark, training_rows):
    dense, labels = synthetic()
    fitted = labels.any(axis=1)  # rows with none of the tags take no part in fitting
    X = sp.csr_matrix(dense[fitted])

    def objective(tag, t):  # the tag's objective on the driver, in float64
        Y = sp.csr_matrix(labels[fitted][:, [TAGS.index(tag)]].astype(float))
        t = np.asarray(t, dtype=np.float64).reshape(-1, 1)
        loss, grad, total = loss_gradient([(X, Y, 1.0)], t)
        value, g = regularised(loss, grad, total, t, 0.01)
        return value[0], g.ravel()

    def optimum(tag):  # the tag's exact optimum (scipy), for reference
        return minimize(
            lambda t: objective(tag, t),
            np.zeros(dense.shape[1] + 1),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10},
        ).fun

    def excess(**warm):
        """How far above its optimum the worst tag's objective ends. (Not the distance of the coefficients: along
        the objective's flat directions that swings with float32 rounding.)"""
        model = cold_estimator(numTags=3, regParam=0.01, maxIter=5, tol=1e-12, **warm).fit(training_rows)
        return max(
            objective(tag, np.append(model.coefficients[:, k], model.intercepts[k]))[0] - optimum(tag)
            for k, tag in enumerate(model.getOrDefault(model.tags))
        )

    cold, warm = excess(), excess(warmStartRows=75, warmStartIter=15)
    assert warm < cold / 2, (warm, cold)


@pytest.mark.parametrize("warm", [{}, {"warmStartRows": 75, "warmStartIter": 10}])
def test_tags_learnt_in_groups_equal_tags_learnt_together(spark, training_rows, warm, monkeypatch):
    """Each tag's problem is its own: learning 3 tags in groups of 2 (then 1) gives the model of all 3 at once. Not
    bit for bit: the L-BFGS history window is shared, and an iteration where some tags have no usable curvature pair
    still takes a slot, so the tags' paths differ slightly (by 5e-5 here)."""

    def fit(**groups):
        return cold_estimator(numTags=3, regParam=0.01, maxIter=8, tol=1e-12, **warm, **groups).fit(training_rows)

    together = fit()
    groups = []
    fit_group = MultilabelLogisticRegression._fit_group

    def recorded(self, spark, blocks, every, theta, path):
        groups.append((blocks.map(lambda b: b.Y.shape[1]).distinct().collect(), theta.shape[1]))
        return fit_group(self, spark, blocks, every, theta, path)

    monkeypatch.setattr(MultilabelLogisticRegression, "_fit_group", recorded)
    grouped = fit(tagsPerFit=2)
    assert groups == [([2], 2), ([1], 1)]  # really fitted in two groups, each on its own label columns
    assert grouped.getOrDefault(grouped.tags) == together.getOrDefault(together.tags)
    assert np.allclose(grouped.coefficients, together.coefficients, atol=1e-3)
    assert np.allclose(grouped.intercepts, together.intercepts, atol=1e-3)
    assert np.abs(together.coefficients).max() > 0.1  # both learnt something


def vector_rows(spark, vectors):
    """(i, features) rows, i numbering the vectors."""
    schema = StructType([StructField("i", IntegerType()), StructField("features", VectorUDT())])
    return spark.createDataFrame(list(enumerate(vectors)), schema)


def predict(spark, probabilities, thresholds, min_tags, max_tags, top):
    """(predicted tags, top (tag, probability) pairs) per row, from a model made to give these probabilities: row i
    has feature i alone, with weight 1, and feature i's coefficients are the logits of row i's probabilities."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    rows = len(probabilities)
    model = MultilabelLogisticModel(
        tags=TAGS,
        coefficients=np.log(probabilities / (1 - probabilities)).astype(np.float32),
        intercepts=np.zeros(len(TAGS), dtype=np.float32),
        thresholds=thresholds,
    )
    model._set(minTags=min_tags, maxTags=max_tags, topScores=top)
    features = vector_rows(spark, [SparseVector(rows, [i], [1.0]) for i in range(rows)])
    result = model.transform(features).orderBy("i").collect()
    return (
        [r["predicted_tags"] for r in result],
        [[(s["tag"], s["probability"]) for s in r["scores"]] for r in result],
    )


def test_decision_rule_thresholds_at_least_one_at_most_k(spark):
    probabilities = [
        [0.9, 0.6, 0.2],  # java and python pass their thresholds
        [0.1, 0.2, 0.3],  # none passes: the most probable is given anyway
        [0.95, 0.9, 0.85],
    ]  # all pass: at most 2
    predicted, scores = predict(spark, probabilities, [0.5, 0.5, 0.9], 1, 2, top=2)
    assert predicted == [["java", "python"], ["sql"], ["java", "python"]]
    assert scores[1] == [("sql", pytest.approx(0.3)), ("python", pytest.approx(0.2))]


def test_decision_rule_prefers_a_passing_tag_over_a_more_probable_one_that_fails(spark):
    probabilities = [[0.45, 0.3, 0.1]]  # java is most probable but under 0.5; python passes at 0.2
    predicted, _ = predict(spark, probabilities, [0.5, 0.2, 0.9], 1, 3, top=3)
    assert predicted == [["python"]]


def test_decision_rule_fills_up_to_min_tags_and_breaks_ties_by_tag_order(spark):
    probabilities = [
        [0.3, 0.6, 0.3],  # python passes; two more wanted: java and sql tie, java is listed first
        [0.4, 0.4, 0.4],
    ]  # none passes, all tie: the list order decides
    predicted, scores = predict(spark, probabilities, [0.5, 0.5, 0.5], 3, 3, top=2)
    assert predicted == [["python", "java", "sql"], ["java", "python", "sql"]]
    assert [tag for tag, _ in scores[1]] == ["java", "python"]


def test_prediction_in_the_jvm_equals_the_rule_computed_with_numpy(spark):
    """TagScorer against a direct numpy statement of the model and the decision rule, on random sparse and dense
    rows of a random 20-tag model with random thresholds; the model has no coefficient for some of the rows'
    features, nor for the first and the last."""
    rng = np.random.default_rng(7)
    rows, width, tags = 200, 50, [f"t{k}" for k in range(20)]
    dense = rng.normal(size=(rows, width)) * (rng.random((rows, width)) < 0.2)
    coefficients = rng.normal(size=(width, len(tags))).astype(np.float32)
    coefficients[[0, 3, 17, 18, 49]] = 0
    intercepts = rng.normal(size=len(tags)).astype(np.float32)
    thresholds = rng.uniform(0.2, 0.8, size=len(tags))
    model = MultilabelLogisticModel(
        tags=tags, coefficients=coefficients, intercepts=intercepts, thresholds=list(thresholds)
    )
    model._set(minTags=2, maxTags=4, topScores=3, probabilitiesCol="p")
    vectors = [
        DenseVector(r) if i % 2 else SparseVector(width, {j: v for j, v in enumerate(r) if v})
        for i, r in enumerate(dense)
    ]
    result = model.transform(vector_rows(spark, vectors)).orderBy("i").collect()

    probabilities = 1 / (1 + np.exp(-(dense @ coefficients.astype(np.float64) + intercepts)))
    assert np.allclose([r["p"] for r in result], probabilities, atol=1e-6)
    for row, p in zip(result, probabilities):
        ranked = sorted(range(len(tags)), key=lambda k: -p[k])
        passing = [k for k in ranked if p[k] >= thresholds[k]]
        chosen = (passing + [k for k in ranked if p[k] < thresholds[k]])[: min(max(len(passing), 2), 4)]
        assert row["predicted_tags"] == [tags[k] for k in chosen]
        assert [s["tag"] for s in row["scores"]] == [tags[k] for k in ranked[:3]]


def test_probability_histograms_count_each_tag_with_and_without_it(spark):
    """Row i has feature i alone, whose coefficients are row i's margins; a margin of 30 rounds to probability 1 in
    float32, which falls in the last bucket."""
    logit = lambda p: float(np.log(p / (1 - p)))  # noqa: E731
    margins = [
        [logit(0.999), -30.0, logit(0.4225)],  # java, sql (listed twice): buckets 199, 84
        [0.0, 30.0, -30.0],  # rust is not a model tag: negatives at 100, 199 and 0
        [-30.0, -30.0, -30.0],
    ]
    model = MultilabelLogisticModel(
        tags=TAGS,
        coefficients=np.array(margins, dtype=np.float32),
        intercepts=np.zeros(3, dtype=np.float32),
        thresholds=[0.5] * 3,
    )
    schema = StructType([StructField("features", VectorUDT()), StructField("truth", ArrayType(StringType()))])
    rows = spark.createDataFrame(
        [
            (SparseVector(3, [0], [1.0]), ["java", "sql", "sql"]),
            (SparseVector(3, [1], [1.0]), ["rust"]),
            (SparseVector(3, [2], [1.0]), []),
            (SparseVector(3, [2], [1.0]), None),  # no tags: negative for each
            (None, ["java"]),
        ],
        schema,
    )  # no features, no prediction: counted nowhere
    positives, negatives = model.probabilityHistograms(rows, "truth", 200)
    assert positives.shape == negatives.shape == (3, 200)
    assert positives.sum() == 2 and positives[0, 199] == 1 and positives[2, 84] == 1
    assert negatives.sum() == 10 and negatives[0, 100] == 1 and negatives[1, 199] == 1
    assert negatives[0, 0] == 2 and negatives[1, 0] == 3 and negatives[2, 0] == 3


def test_probability_histograms_equal_the_bucketed_probabilities_of_the_prediction(spark):
    rng = np.random.default_rng(3)
    rows, width, tags = 300, 40, [f"t{k}" for k in range(12)]
    dense = rng.normal(size=(rows, width)) * (rng.random((rows, width)) < 0.3)
    model = MultilabelLogisticModel(
        tags=tags,
        coefficients=rng.normal(size=(width, len(tags))).astype(np.float32),
        intercepts=rng.normal(size=len(tags)).astype(np.float32),
        thresholds=[0.5] * len(tags),
    )
    model._set(probabilitiesCol="p")
    truth = [[tags[k] for k in np.flatnonzero(rng.random(len(tags)) < 0.2)] for _ in range(rows)]
    schema = StructType([StructField("features", VectorUDT()), StructField("truth", ArrayType(StringType()))])
    data = spark.createDataFrame(
        [(SparseVector(width, {j: v for j, v in enumerate(r) if v}), t) for r, t in zip(dense, truth)], schema
    )
    positives, negatives = model.probabilityHistograms(data, "truth", 50)

    probabilities = np.array([r["p"] for r in model.transform(data).collect()], dtype=np.float64)
    buckets = np.minimum(probabilities * 50, 49).astype(int)
    labelled = np.array([[tag in t for tag in tags] for t in truth])
    expected = np.zeros((2, len(tags), 50))
    for k in range(len(tags)):
        expected[0, k] = np.bincount(buckets[labelled[:, k], k], minlength=50)
        expected[1, k] = np.bincount(buckets[~labelled[:, k], k], minlength=50)
    assert positives.tolist() == expected[0].tolist() and negatives.tolist() == expected[1].tolist()


def test_the_coefficients_are_broadcast_once_per_model_and_again_when_replaced(spark):
    model = MultilabelLogisticModel(
        tags=TAGS,
        coefficients=np.diag([4.0, 4.0, 4.0]).astype(np.float32),
        intercepts=np.zeros(3, dtype=np.float32),
        thresholds=[0.6] * 3,
    )
    rows = vector_rows(spark, [SparseVector(3, [0], [1.0])])  # probability 0.98 for one tag, 0.5 for the others
    assert model.transform(rows).first()["predicted_tags"] == ["java"]
    broadcast = model._broadcast_weights(spark)
    assert model.transform(rows).first()["predicted_tags"] == ["java"]
    assert model._broadcast_weights(spark).id() == broadcast.id()  # the second transform reused it
    model.coefficients = np.fliplr(np.diag([4.0, 4.0, 4.0])).astype(np.float32)  # new weights, e.g. a reload
    assert model.transform(rows).first()["predicted_tags"] == ["sql"]
    assert model._broadcast_weights(spark).id() != broadcast.id()


@pytest.mark.parametrize(
    "features, coefficient_rows, message",
    [
        ([3, 2], 2, "feature ids not ascending within \\[0, 10\\) at position 1"),
        ([3, 10], 2, "feature ids not ascending within \\[0, 10\\) at position 1"),
        ([2, 3], 3, "bytes, not the 4 x 2 x 3 of the coefficients"),
    ],
)
def test_the_scorer_refuses_weights_files_that_disagree(spark, tmp_path, features, coefficient_rows, message):
    """TagScorer.broadcast reads the ids of the features with a coefficient and their rows from two files: ids out
    of order or range, or rows that do not match them, are refused, never scored against the wrong features."""
    np.array(features, dtype="<i4").tofile(tmp_path / "features.i32")
    np.ones((coefficient_rows, 3), dtype="<f4").tofile(tmp_path / "coefficients.f32")
    with pytest.raises(Exception, match=message):
        project_class(spark, multilabel.SCORER_CLASS).broadcast(
            spark._jsparkSession, str(tmp_path / "features.i32"), str(tmp_path / "coefficients.f32"), 10, [0.0] * 3
        )


def test_a_vector_of_another_width_than_the_model_is_an_error(spark):
    model = MultilabelLogisticModel(
        tags=TAGS,
        coefficients=np.zeros((4, 3), dtype=np.float32),
        intercepts=np.zeros(3, dtype=np.float32),
        thresholds=[0.5] * 3,
    )
    features = vector_rows(spark, [SparseVector(5, [4], [1.0])])
    with pytest.raises(Exception, match="a feature vector of size 5, the model has 4 features"):
        model.transform(features).collect()


def test_vectors_from_arrow_sparse_and_dense_rows_in_a_sliced_batch(spark):
    vectors = [
        SparseVector(4, [1, 3], [0.5, 2.0]),
        DenseVector([1.0, 0.0, 3.0, 4.0]),
        SparseVector(4, [], []),
        SparseVector(4, [0], [7.0]),
    ]
    df = spark.createDataFrame([(v,) for v in vectors], StructType([StructField("v", VectorUDT())]))
    # DataFrame.toArrow is Spark 4's; the private method it calls is on both lines
    table = pa.Table.from_batches(df._collect_as_arrow())
    batch = table.column("v").combine_chunks().slice(1)  # a slice: Arrow offsets that do not start at 0
    assert np.array_equal(vectors_to_csr(batch).toarray(), [[1, 0, 3, 4], [0, 0, 0, 0], [7, 0, 0, 0]])
    assert np.array_equal(vectors_to_csr(batch.slice(1)).toarray(), [[0, 0, 0, 0], [7, 0, 0, 0]])


def test_columns_renumbered_most_frequent_first():
    counts = np.array([0, 5, 2, 0, 9, 2])
    columns = by_frequency(counts)
    assert columns.tolist() == [4, 1, 2, 5]  # unused columns dropped, ties by id
    block = sp.csr_matrix(np.array([[0, 1.0, 0, 0, 2.0, 0], [0, 0, 3.0, 0, 0, 4.0]]))
    renumbered = renumber_columns(block, column_ranks(columns, len(counts)), len(columns))
    assert renumbered.has_sorted_indices
    assert np.array_equal(renumbered.toarray(), [[2.0, 1.0, 0, 0], [0, 0, 3.0, 4.0]])


def test_stacked_joins_consecutive_blocks_up_to_the_row_limit():
    dense, labels = synthetic(rows=10)
    cuts = [0, 3, 5, 9, 10]  # blocks of 3, 2, 4 and 1 rows
    blocks = [
        Block(sp.csr_matrix(dense[a:b]), sp.csr_matrix(labels[a:b].astype(float))) for a, b in zip(cuts, cuts[1:])
    ]
    joined = stacked(blocks, max_rows=5)
    assert [b.X.shape[0] for b in joined] == [5, 5]  # 3 + 2, then 4 + 1
    assert all(sp.isspmatrix_csr(b.X) and sp.isspmatrix_csr(b.Y) and b.weight == 1 for b in joined)
    np.testing.assert_array_equal(sp.vstack([b.X for b in joined]).toarray(), dense)
    np.testing.assert_array_equal(sp.vstack([b.Y for b in joined]).toarray(), labels)
    assert [b.X.shape[0] for b in stacked(blocks, max_rows=3)] == [3, 2, 4, 1]  # a block over the limit stays whole
    weighed = blocks[:2] + [blocks[2]._replace(weight=4.0), blocks[3]._replace(weight=4.0)]
    assert [(b.X.shape[0], b.weight) for b in stacked(weighed, max_rows=10)] == [(5, 1.0), (5, 4.0)]  # never mixed


def test_a_block_weighing_two_counts_as_its_rows_twice():
    dense, labels = synthetic(rows=50)
    X, Y = sp.csr_matrix(dense, dtype=np.float32), sp.csr_matrix(labels.astype(np.float32))
    theta = (np.random.default_rng(2).normal(size=(13, 3)) * 0.3).astype(np.float32)
    plain = Block(X[:20], Y[:20])
    (weighed,) = partition_loss_gradient(iter([plain, Block(X[20:], Y[20:], 2.0)]), theta)
    (twice,) = partition_loss_gradient(iter([plain, Block(X[20:], Y[20:]), Block(X[20:], Y[20:])]), theta)
    np.testing.assert_allclose(weighed[0], twice[0], rtol=1e-12)
    np.testing.assert_allclose(weighed[1], twice[1], rtol=1e-5, atol=1e-6)
    assert weighed[2] == twice[2] == 80


def test_a_group_reads_its_tagged_rows_and_a_weighed_share_of_the_others(spark):
    dense, labels = synthetic(rows=2000)
    halves = [slice(0, 1000), slice(1000, 2000)]
    blocks = spark.sparkContext.parallelize(
        [Block(sp.csr_matrix(dense[h], dtype=np.float32), sp.csr_matrix(labels[h].astype(np.float32))) for h in halves],
        2,
    )
    group = slice(1, 3)  # python and sql
    tagged = labels[:, group].any(axis=1)

    def row_set(read):  # each row's features and group labels
        return {tuple(r) for b in read for r in np.column_stack([b.X.toarray(), b.Y.toarray()])}

    read = group_rows(blocks, group, 0.25, seed=7).collect()
    with_tag = [b for b in read if b.weight == 1.0]
    others = [b for b in read if b.weight == 4.0]
    assert len(with_tag) + len(others) == len(read)
    assert all(b.Y.shape[1] == 2 for b in read)
    # every row with one of the group's tags, with its labels for the group's tags
    truth = np.column_stack([dense, labels[:, group]]).astype(np.float32)
    assert row_set(with_tag) == {tuple(r) for r in truth[tagged]}
    # about a quarter of the others, none with a tag of the group
    drawn = sum(b.X.shape[0] for b in others)
    assert 0.2 * (~tagged).sum() < drawn < 0.3 * (~tagged).sum()
    assert all(b.Y.nnz == 0 for b in others)
    assert row_set(group_rows(blocks, group, 0.25, seed=7).collect()) == row_set(read)  # the same rows for a seed
    assert row_set(group_rows(blocks, group, 0.25, seed=8).collect()) != row_set(read)
    every_row = group_rows(blocks, group, 1.0, seed=7).collect()
    assert [(b.X.shape[0], b.weight) for b in every_row] == [(1000, 1.0), (1000, 1.0)]


def test_a_group_of_rare_tags_learnt_from_a_share_of_the_other_rows_nears_the_model_from_all(spark):
    """Rows drawn at a rate and weighed by its inverse: the same objective in expectation, so about the same
    model; and the same model again for the same seed."""
    dense, labels = synthetic(rows=3000)
    labels[:, 2] &= dense[:, 0] > 0.5  # a rarer third tag: most rows have none of its group's tags
    rows = [
        (SparseVector(len(x), np.flatnonzero(x).tolist(), x[x != 0].tolist()), [t for t, on in zip(TAGS, y) if on])
        for x, y in zip(dense, labels)
    ]
    schema = StructType([StructField("features", VectorUDT()), StructField("tags", ArrayType(StringType()))])
    frame = spark.createDataFrame(rows, schema)

    def fit(rate, seed=42):
        return cold_estimator(
            numTags=3, regParam=0.01, maxIter=100, tol=1e-10, tagsPerFit=1, otherRowsRate=rate, seed=seed
        ).fit(frame)

    every_row, share, again = fit(1.0), fit(0.3), fit(0.3)
    assert np.abs(every_row.coefficients).max() > 0.5
    assert not np.array_equal(share.coefficients, every_row.coefficients)  # the draw changed the rows
    np.testing.assert_allclose(share.coefficients, every_row.coefficients, atol=0.25)
    np.testing.assert_allclose(share.intercepts, every_row.intercepts, atol=0.25)
    np.testing.assert_array_equal(share.coefficients, again.coefficients)
    with pytest.raises(ValueError, match="otherRowsRate must be in"):
        fit(0.0)


def test_tags_to_csr_keeps_known_tags_once_each():
    lists = pa.array(
        [["sql", "rust", "java", "java"], [], None, ["python"], ["rust"], ["sql", "python"]], pa.list_(pa.string())
    )
    labels = tags_to_csr(lists, TAGS)  # TAGS: java, python, sql
    assert labels.dtype == np.float32 and labels.has_canonical_format
    np.testing.assert_array_equal(labels.toarray(), [[1, 0, 1], [0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0], [0, 1, 1]])
    np.testing.assert_array_equal(tags_to_csr(lists.slice(3), TAGS).toarray(), [[0, 1, 0], [0, 0, 0], [0, 1, 1]])


def test_tfidf_normalised_weights_drops_and_scales_rows():
    counts = sp.csr_matrix(np.array([[2.0, 1.0, 0, 1.0], [0, 0, 0, 0], [0, 3.0, 0, 0]], dtype=np.float32))
    weights = np.array([0.5, 0.0, 1.0, 2.0])  # column 1: zeroed by IDF (below minDocFreq)
    out = tfidf_normalised(counts, weights)
    assert out.dtype == np.float32 and out.nnz == 2  # the zeroed entries are gone, the empty row stays empty
    np.testing.assert_allclose(out.toarray(), [[1 / np.sqrt(5), 0, 0, 2 / np.sqrt(5)], [0] * 4, [0] * 4], rtol=1e-6)


@pytest.fixture(scope="module")
def term_count_rows(spark):
    """Term counts (integers) over 12 columns: IDF has columns to weigh and to zero (minDocFreq); some rows have
    none of the tags (IDF counts them, the classifier does not learn from them)."""
    dense, labels = synthetic(seed=3, rows=300)
    counts = np.round(np.abs(dense) * 2)
    counts[:, 11] = 0
    counts[:2, 11] = 1  # a column in two rows only: below minDocFreq=3
    assert 20 < (~labels.any(axis=1)).sum() < 280
    rows = [
        (SparseVector(12, np.flatnonzero(x).tolist(), x[x != 0].tolist()), [t for t, on in zip(TAGS, y) if on])
        for x, y in zip(counts, labels)
    ]
    schema = StructType([StructField("tf", VectorUDT()), StructField("tags", ArrayType(StringType()))])
    return spark.createDataFrame(rows, schema)


def test_fit_with_idf_equals_idf_then_normalizer_then_the_estimator(spark, term_count_rows, tmp_path):
    idf = IDF(inputCol="tf", outputCol="tfidf", minDocFreq=3)
    normalizer = Normalizer(inputCol="tfidf", outputCol="features", p=2.0)
    estimator = cold_estimator(numTags=3, regParam=0.01, maxIter=100, tol=1e-10)
    separate = Pipeline(stages=[idf, normalizer, estimator]).fit(term_count_rows)
    idf_model, classifier = estimator.fitWithIDF(term_count_rows, idf, normalizer)
    assert idf_model.numDocs == separate.stages[0].numDocs == term_count_rows.count()
    assert idf_model.docFreq == separate.stages[0].docFreq
    np.testing.assert_allclose(idf_model.idf.toArray(), separate.stages[0].idf.toArray(), rtol=1e-12)
    assert idf_model.idf[11] == 0.0 and idf_model.getMinDocFreq() == 3 and idf_model.getOutputCol() == "tfidf"
    np.testing.assert_allclose(classifier.coefficients, separate.stages[-1].coefficients, atol=1e-4)
    np.testing.assert_allclose(classifier.intercepts, separate.stages[-1].intercepts, atol=1e-4)
    fused = PipelineModel(stages=[idf_model, normalizer, classifier])
    fused.write().save(str(tmp_path / "fused"))  # the IDFModel made from its frequencies persists as one IDF.fit made
    loaded = PipelineModel.load(str(tmp_path / "fused"))
    expected = [r[0] for r in separate.transform(term_count_rows).select("predicted_tags").collect()]
    assert [r[0] for r in loaded.transform(term_count_rows).select("predicted_tags").collect()] == expected


def test_fit_with_idf_with_the_mllib_solver_runs_mllibs_stages_in_turn(spark, term_count_rows):
    idf = IDF(inputCol="tf", outputCol="tfidf", minDocFreq=3)
    normalizer = Normalizer(inputCol="tfidf", outputCol="features", p=2.0)
    lockstep = cold_estimator(numTags=3, regParam=0.01, maxIter=200, tol=1e-12)
    mllib = MultilabelLogisticRegression(solver="mllib", numTags=3, regParam=0.01, maxIter=500, tol=1e-12)
    (lockstep_idf, lockstep_model), (mllib_idf, mllib_model) = (
        estimator.fitWithIDF(term_count_rows, idf, normalizer) for estimator in (lockstep, mllib)
    )
    np.testing.assert_allclose(mllib_idf.idf.toArray(), lockstep_idf.idf.toArray(), rtol=1e-12)
    np.testing.assert_allclose(mllib_model.coefficients, lockstep_model.coefficients, atol=2e-4)
    np.testing.assert_allclose(mllib_model.intercepts, lockstep_model.intercepts, atol=2e-4)


def test_a_regularisation_path_reaches_each_values_own_optimum(spark, term_count_rows):
    """fitPathWithIDF packs once and fits each value from the one before (strongest first): run to convergence, each
    model is the one fitWithIDF makes at that value alone, in the order asked; the mllib solver fits each alone."""
    idf = IDF(inputCol="tf", outputCol="tfidf", minDocFreq=3)
    normalizer = Normalizer(inputCol="tfidf", outputCol="features", p=2.0)
    regs = [0.001, 0.1, 0.01]
    _, path = cold_estimator(numTags=3, maxIter=200, tol=1e-12).fitPathWithIDF(term_count_rows, idf, normalizer, regs)
    assert len(path) == 3
    for reg, fitted in zip(regs, path):
        _, alone = cold_estimator(numTags=3, regParam=reg, maxIter=200, tol=1e-12).fitWithIDF(
            term_count_rows, idf, normalizer
        )
        # to 1e-3: at the weakest value both fits stop at maxIter a few 1e-4 short of the optimum, on other paths
        np.testing.assert_allclose(fitted.coefficients, alone.coefficients, atol=1e-3)
        np.testing.assert_allclose(fitted.intercepts, alone.intercepts, atol=1e-3)
    norms = [np.abs(fitted.coefficients).sum() for fitted in path]
    assert norms[1] < norms[2] < norms[0]  # the stronger the regularisation, the smaller the coefficients
    with pytest.raises(ValueError, match="one or more values"):
        cold_estimator(numTags=3).fitPathWithIDF(term_count_rows, idf, normalizer, [])


def test_fit_with_idf_needs_an_l2_normalizer_into_the_features(term_count_rows):
    idf = IDF(inputCol="tf", outputCol="tfidf")
    with pytest.raises(ValueError, match="L2 Normalizer"):
        MultilabelLogisticRegression().fitWithIDF(
            term_count_rows, idf, Normalizer(inputCol="tfidf", outputCol="features", p=1.0)
        )


def test_saves_and_loads_inside_a_pipeline(spark, training_rows, tmp_path):
    pipeline = Pipeline(stages=[cold_estimator(numTags=3, regParam=0.01, maxIter=30, probabilitiesCol="probabilities")])
    fitted = pipeline.fit(training_rows)
    fitted.stages[-1].setThresholds([0.3, 0.4, 0.6])
    fitted.write().save(str(tmp_path / "model"))
    loaded = PipelineModel.load(str(tmp_path / "model"))
    stage = loaded.stages[-1]
    assert stage.getOrDefault(stage.thresholds) == pytest.approx([0.3, 0.4, 0.6])
    assert stage.getOrDefault(stage.tags) == fitted.stages[-1].getOrDefault(fitted.stages[-1].tags)
    before = fitted.transform(training_rows).select("predicted_tags", "probabilities").collect()
    after = loaded.transform(training_rows).select("predicted_tags", "probabilities").collect()
    assert [r[0] for r in before] == [r[0] for r in after]
    assert np.allclose([r[1] for r in before], [r[1] for r in after], atol=1e-6)
    assert all(1 <= len(r[0]) <= 5 for r in after)


def test_a_model_whose_parts_disagree_does_not_load(spark, training_rows, tmp_path):
    model = cold_estimator(numTags=3, maxIter=5).fit(training_rows)
    model.write().save(str(tmp_path / "m"))
    metadata_file = next((tmp_path / "m" / "metadata").glob("part-*"))
    metadata = json.loads(metadata_file.read_text())
    metadata["paramMap"]["tags"] = list(reversed(metadata["paramMap"]["tags"]))  # shifted labels, as in the seed
    metadata_file.write_text(json.dumps(metadata))
    for checksum in metadata_file.parent.glob(".*.crc"):  # Hadoop would refuse the edited file
        checksum.unlink()
    with pytest.raises(ModelMismatchError, match="coefficient rows are for tags"):
        MultilabelLogisticModel.load(str(tmp_path / "m"))
    with pytest.raises(ModelMismatchError, match="model parts disagree"):
        MultilabelLogisticModel(tags=TAGS, coefficients=np.zeros((4, 2)), intercepts=np.zeros(2), thresholds=[0.5] * 3)


def test_saved_coefficients_are_sparse_and_must_fit_the_feature_width(spark, tmp_path):
    coefficients = np.zeros((6, 2), dtype=np.float32)
    coefficients[1, 0], coefficients[4, 1] = 0.5, -2.0
    MultilabelLogisticModel(
        tags=["a", "b"], coefficients=coefficients, intercepts=np.array([0.25, -0.5]), thresholds=[0.5, 0.5]
    ).write().save(str(tmp_path / "m"))
    rows = spark.read.parquet(str(tmp_path / "m" / "data")).orderBy("position").collect()
    assert [(r.tag, r.indices, r.values) for r in rows] == [("a", [1], [0.5]), ("b", [4], [-2.0])]
    loaded = MultilabelLogisticModel.load(str(tmp_path / "m"))
    assert np.array_equal(loaded.coefficients, coefficients)
    assert loaded.intercepts.tolist() == [0.25, -0.5]

    metadata_file = next((tmp_path / "m" / "metadata").glob("part-*"))
    metadata = json.loads(metadata_file.read_text())
    metadata["numFeatures"] = 4  # a column index (4) beyond it: the coefficients belong to another feature space
    metadata_file.write_text(json.dumps(metadata))
    for checksum in metadata_file.parent.glob(".*.crc"):
        checksum.unlink()
    with pytest.raises(ModelMismatchError, match="beyond its 4 feature columns"):
        MultilabelLogisticModel.load(str(tmp_path / "m"))


def test_each_tags_nonzero_coefficients_are_scipys_csc_columns():
    rng = np.random.default_rng(6)
    # unused rows, over more than one of the blocks nonzero_per_tag copies
    coefficients = rng.normal(size=(5000, 4)).astype(np.float32) * (rng.random((5000, 1)) < 0.5)
    coefficients[rng.random((5000, 4)) < 0.1] = 0.0  # and zeros within used rows
    coefficients[:, 3] = 0.0  # a tag without any
    indptr, indices, values = nonzero_per_tag(coefficients)
    expected = sp.csc_matrix(coefficients)
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_array_equal(values, expected.data)
    assert nonzero_per_tag(np.zeros((5, 2), np.float32))[0].tolist() == [0, 0, 0]


def test_coefficients_written_by_spark_in_several_files_load(spark, tmp_path):
    """Models saved before the coefficients were written by pyarrow hold Spark's part files (and _SUCCESS, .crc)."""
    coefficients = np.arange(12, dtype=np.float32).reshape(6, 2)
    model = MultilabelLogisticModel(
        tags=["a", "b"], coefficients=coefficients, intercepts=np.array([0.25, -0.5]), thresholds=[0.5, 0.5]
    )
    model.write().save(str(tmp_path / "m"))
    spark.read.parquet(str(tmp_path / "m" / "data")).repartition(2).write.parquet(str(tmp_path / "by_spark"))
    assert len(list((tmp_path / "by_spark").glob("part-*.parquet"))) == 2
    shutil.rmtree(tmp_path / "m" / "data")
    (tmp_path / "by_spark").rename(tmp_path / "m" / "data")
    loaded = MultilabelLogisticModel.load(str(tmp_path / "m"))
    assert np.array_equal(loaded.coefficients, coefficients)
    assert loaded.intercepts.tolist() == [0.25, -0.5]
    assert loaded.getOrDefault(loaded.tags) == ["a", "b"]


def test_a_model_without_its_coefficients_does_not_load(spark, tmp_path):
    model = MultilabelLogisticModel(
        tags=["a"], coefficients=np.ones((3, 1), dtype=np.float32), intercepts=np.zeros(1), thresholds=[0.5]
    )
    model.write().save(str(tmp_path / "m"))
    for data_file in (tmp_path / "m" / "data").glob("*.parquet"):
        data_file.unlink()
    with pytest.raises(ModelMismatchError, match="no Parquet files"):
        MultilabelLogisticModel.load(str(tmp_path / "m"))
