"""Many binary logistic regressions at once: the numeric core of the multilabel estimator (numpy, scipy, numba).

Each tag k has its own model (w_k, b_k) and minimises MLlib's objective for LogisticRegression with
elasticNetParam=0 and standardization=False:

    f_k = (1 / n) * sum_i [log(1 + exp(m_ik)) - y_ik * m_ik] + (regParam / 2) * ||w_k||^2,  m_ik = x_i.w_k + b_k

The tags are independent, but one pass over a block of rows computes every tag's loss and gradient (two sparse-dense
matrix products), so a distributed caller sums the blocks' results (as MLlib does per tag) and runs one L-BFGS per tag
in lockstep: one pass per iteration for all tags.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache, partial

import numba
import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas

log = logging.getLogger(__name__)


GLIBC_M_TRIM_THRESHOLD, GLIBC_M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's malloc.h


@cache
def _glibc():
    """The C library, when it is glibc (None elsewhere: macOS, musl)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@cache
def reuse_freed_memory() -> None:
    """Let this process reuse the memory of freed large arrays instead of faulting in fresh pages for each one.

    glibc serves every allocation over 32 MB with its own mmap and unmaps it on free, so each (features x tags)
    temporary of a training step (about 100 MB at full scale) page-faults anew. Raising both thresholds keeps such
    blocks in the heap for the next array (docs/performance.md). No-op off glibc."""
    libc = _glibc()
    if libc is not None:  # elsewhere the allocator's own behaviour stands
        libc.mallopt(GLIBC_M_MMAP_THRESHOLD, 1 << 30)
        libc.mallopt(GLIBC_M_TRIM_THRESHOLD, 1 << 31)


def return_freed_memory() -> None:
    """Give the free memory this process holds back to the system (glibc's malloc_trim), as after a task whose
    large arrays the next tasks of this worker will not need. No-op off glibc."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


# The two sparse-dense products of a pass, compiled for this CPU: scipy's are built for any x86-64 and do not use its
# wider vector units (docs/performance.md). The same operations in the same order as scipy's (no fused multiply-add
# either), so the sums are the same to the bit: rounding-level changes alone move so-dev's micro-F1 by a few
# thousandths. Compiled in each process on first use; not cached on disk, which installed packages may not allow.
@numba.njit(nogil=True)
def _add_products(indptr, indices, data, coefficients, out):
    """out[i] += X[i] @ coefficients for every row i of the csr matrix X (indptr, indices, data)."""
    for i in range(out.shape[0]):
        row = out[i]
        for p in range(indptr[i], indptr[i + 1]):
            x, weights = data[p], coefficients[indices[p]]
            for k in range(row.shape[0]):
                row[k] += x * weights[k]


@numba.njit(nogil=True)
def _add_transposed_products(indptr, indices, data, dense, out):
    """out += X.T @ dense for the csr matrix X (indptr, indices, data): row i of dense goes to X[i]'s columns."""
    for i in range(dense.shape[0]):
        values = dense[i]
        for p in range(indptr[i], indptr[i + 1]):
            x, target = data[p], out[indices[p]]
            for k in range(values.shape[0]):
                target[k] += x * values[k]


@numba.njit(nogil=True)
def _column_dots(a, b, start, stop):
    """Per column k: the sum over the rows start..stop of a[d, k] * b[d, k], in float64 whatever the arrays' types."""
    sums = np.zeros(a.shape[1])
    for d in range(start, stop):
        for k in range(a.shape[1]):
            sums[k] += np.float64(a[d, k]) * np.float64(b[d, k])
    return sums


@numba.njit(nogil=True)
def _scaled_sum_rows(out, base, v, factor, sign, start, stop):
    """out[d] = sign * (base[d] + v[d] * factor) for the rows start..stop (out may be base), computed in float64
    (the product, then the sum; sign is 1 or -1, exact) and stored in out's type, in one pass over the arrays."""
    for d in range(start, stop):
        for k in range(out.shape[1]):
            out[d, k] = sign * (np.float64(base[d, k]) + np.float64(v[d, k]) * factor[k])


@numba.njit(nogil=True)
def _trial_rows(direction, factor, theta, candidate, start, stop):
    """For the rows start..stop: direction[d] *= factor (in float64, stored in direction's type), then candidate[d]
    = theta[d] + direction[d] (in float64), in one pass over the arrays."""
    for d in range(start, stop):
        for k in range(direction.shape[1]):
            direction[d, k] = np.float64(direction[d, k]) * factor[k]
            candidate[d, k] = theta[d, k] + np.float64(direction[d, k])


@numba.njit(nogil=True)
def _settled_rows(step, candidate, theta, trial_grad, grad, failed, grad_change, start, stop):
    """After a trial, for the rows start..stop: a failed problem's (column's) trial is undone (its step 0, its
    candidate theta, its trial gradient its gradient), then grad_change = trial_grad - grad (in float64, stored in
    grad_change's type), in one pass over the arrays. Returns per column the float64 sums over these rows of step *
    grad_change and of grad_change squared, in _column_dots' order."""
    sy, yy = np.zeros(step.shape[1]), np.zeros(step.shape[1])
    for d in range(start, stop):
        for k in range(step.shape[1]):
            undone = failed[k]  # selects, not branches, which the compiler can vectorise
            step[d, k] = 0.0 if undone else step[d, k]
            candidate[d, k] = theta[d, k] if undone else candidate[d, k]
            trial_grad[d, k] = grad[d, k] if undone else trial_grad[d, k]
            grad_change[d, k] = trial_grad[d, k] - grad[d, k]
            change = np.float64(grad_change[d, k])
            sy[k] += np.float64(step[d, k]) * change
            yy[k] += change * change
    return sy, yy


def loss_gradient(
    blocks: Iterable[tuple[sp.csr_matrix, sp.csr_matrix, float]], theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Unregularised, unnormalised loss (K,) and gradient ((D+1, K); last row: intercepts) of (X, Y, weight) blocks
    of rows, each row counting `weight` times, plus their weighted row count (None for no blocks). X: (n, D)
    features; Y: (n, K) 0/1 labels; theta: (D+1, K) coefficients. The dense (n, K) work runs in theta's dtype
    (float32 halves its memory traffic), and so does the gradient, which every block adds its products to: one
    (features x tags) array for all blocks (an array per block cost more in memory traffic than its products). The
    loss and the intercepts' gradient are float64 sums."""
    gradient = losses = intercepts = None
    rows = 0.0
    for X, Y, weight in blocks:
        if gradient is None:
            gradient = np.zeros(theta.shape, dtype=theta.dtype)
            losses, intercepts = np.zeros(theta.shape[1]), np.zeros(theta.shape[1])
        X = X.tocsr()  # the products read its arrays (a csr matrix is returned as it is)
        margins = np.zeros((X.shape[0], theta.shape[1]), dtype=theta.dtype)
        _add_products(X.indptr, X.indices, X.data, theta[:-1], margins)
        margins += theta[-1]
        positive_rows, positive_tags = Y.nonzero()
        # log(1 + e^m) = max(m, 0) + log(1 + e^-|m|), stable both ways; the sum of max(m, 0) is (sum m + sum |m|) / 2.
        # In-place steps over the dense (rows x tags) arrays: temporaries would add to their memory traffic.
        work = np.abs(margins)
        loss = 0.5 * (margins.sum(axis=0, dtype=np.float64) + work.sum(axis=0, dtype=np.float64))
        np.negative(work, out=work)
        np.exp(work, out=work)
        work += 1  # 1 + e^-|m|, in (1, 2]
        residual = np.log(work)
        loss += residual.sum(axis=0, dtype=np.float64)
        # the label term y * m only touches the few positive entries
        loss -= np.bincount(positive_tags, weights=margins[positive_rows, positive_tags], minlength=theta.shape[1])
        np.reciprocal(work, out=residual)  # sigmoid(|m|); sigmoid(m) = 1/2 + sign(m) (sigmoid(|m|) - 1/2)
        residual -= 0.5
        np.copysign(residual, margins, out=residual)
        residual += 0.5
        residual[positive_rows, positive_tags] -= 1
        losses += weight * loss
        intercepts += weight * residual.sum(axis=0, dtype=np.float64)
        if weight != 1:
            residual *= weight
        _add_transposed_products(X.indptr, X.indices, X.data, residual, gradient[:-1])
        rows += weight * X.shape[0]
    if gradient is None:
        return None
    gradient[-1] = intercepts
    return losses, gradient, rows


def regularised(
    loss: np.ndarray, gradient: np.ndarray, rows: int, theta: np.ndarray, reg_param: float
) -> tuple[np.ndarray, np.ndarray]:
    """Summed block results -> MLlib's objective: mean loss plus L2 on the coefficients (not the intercept).
    The gradient (C-ordered float64) is updated in place and returned: at (features x tags) a temporary array costs
    more than the arithmetic."""
    if gradient.dtype != np.float64 or not gradient.flags.c_contiguous:
        raise ValueError("regularised() updates the gradient in place: it must be a C-ordered float64 array")
    coefficients = np.ascontiguousarray(theta[:-1], dtype=np.float64)
    objective = loss / rows + 0.5 * reg_param * np.einsum("dk,dk->k", coefficients, coefficients)
    gradient /= rows
    blas.daxpy(coefficients.reshape(-1), gradient[:-1].reshape(-1), a=reg_param)  # += reg_param * coefficients
    return objective, gradient


@dataclass
class Memory:
    """An L-BFGS memory to send elsewhere: curvature pairs (oldest first) of a problem of `shape` (parameters x
    problems) in float32 (as LockstepLBFGS keeps them), their rho, and gamma (nan: no scale known yet). With `rows`,
    the pairs hold those parameter rows only (in order), and are zero in the others."""

    shape: tuple[int, int]
    s: list[np.ndarray]
    y: list[np.ndarray]
    rho: list[np.ndarray]
    gamma: np.ndarray
    rows: np.ndarray | None = None

    def within(self, rows: np.ndarray, parameters: int) -> Memory:
        """This memory, of a problem over the parameter rows `rows` of one with `parameters` rows, as a memory of
        that one (its pairs zero in the other rows)."""
        if self.rows is not None or len(rows) != self.shape[0]:
            raise ValueError(f"a memory of {self.shape[0]} parameters cannot stand for {len(rows)} rows")
        return replace(self, shape=(parameters, self.shape[1]), rows=rows)


def backtracking_factor(
    objective: np.ndarray, trial_objective: np.ndarray, slope: np.ndarray, step: np.ndarray
) -> np.ndarray:
    """Per problem whose trial step failed: the share of that step to try next, the minimum of the quadratic through
    the objective, its slope along the direction and the trial's objective, kept within [0.1, 0.5] (Nocedal and
    Wright's safeguarded interpolation). A step that overshoots by far (the first steps after a warm start on a
    sample can) shrinks tenfold in one pass instead of halving for several."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        factor = -slope * step / (2 * (trial_objective - objective - slope * step))
    return np.where(np.isfinite(factor), np.clip(factor, 0.1, 0.5), 0.1)  # inf or nan: the step overflowed


MIN_ITERATIONS = 5
MIN_STEP = 2.0**-20  # a problem whose trial steps keep failing down to this is as converged as it will get


@dataclass
class LockstepLBFGS:
    """L-BFGS for K independent problems of one size, advanced together: one objective evaluation (one data pass)
    per iteration serves all of them. Each problem has its own history, scaling, step length and convergence.

    Every evaluation is a pass over the data for all problems, so there is no line search within an iteration: each
    problem tries one step. A problem whose step fails the Armijo test stays where it is and tries a shorter one
    in the next iteration (backtracking_factor); the others move on. (With a backtracking search per iteration,
    the slowest of 100 problems would set the number of passes.)

    The curvature pairs and the directions are float32 arrays (the parameters, gradients and dot products stay
    float64): they only shape the steps, and at (features x tags) their memory traffic is most of an iteration's
    cost: in float32 the pairs take half the memory and an iteration less time (docs/performance.md)."""

    history: int = 5
    tol: float = 1e-6
    armijo: float = 1e-4
    s: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    rho: list[np.ndarray] = field(default_factory=list)
    gamma: np.ndarray | None = None  # per problem: the inverse-Hessian scale of its newest usable pair (nan: none yet)
    spare: list[np.ndarray] = field(default_factory=list)  # (D+1, K) arrays no longer used, for the next ones
    pool: ThreadPoolExecutor | None = None

    MAX_SPARE = 4

    def buffer(self, like: np.ndarray, dtype: type | None = None) -> np.ndarray:
        """An uninitialised array shaped like `like` (of its dtype, or `dtype`), a spare one when there is one: a
        fresh (features x tags) array of 100 MB costs more in page faults than the arithmetic done in it."""
        dtype = np.dtype(dtype or like.dtype)
        for i, spare in enumerate(self.spare):
            if spare.shape == like.shape and spare.dtype == dtype:
                return self.spare.pop(i)
        return np.empty(like.shape, dtype=dtype)

    def release(self, *arrays: np.ndarray) -> None:
        """Arrays the caller no longer uses (nor anyone else) become spare buffers."""
        self.spare = (self.spare + list(arrays))[-self.MAX_SPARE :]

    def bands(self, rows: int) -> list[slice]:
        """The rows cut into one band per thread."""
        return [
            slice(band[0], band[-1] + 1) for band in np.array_split(np.arange(rows), os.cpu_count() or 1) if len(band)
        ]

    def in_bands(self, kernel, rows: int) -> list:
        """kernel(start, stop) for each band of the rows, on threads; the results in band order."""
        return list(self.threads().map(lambda band: kernel(band.start, band.stop), self.bands(rows)))

    def dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per column: the sum over the rows of a * b, in float64, in bands of rows on threads."""
        return sum(self.in_bands(lambda start, stop: _column_dots(a, b, start, stop), len(a)))

    def direction(self, grad: np.ndarray) -> np.ndarray:
        """The two-loop recursion, vectorised over the K columns, into a new float32 array. The (D, K) arrays are
        large, and each of its steps reads them from memory: each dot product and each update is one compiled pass
        (the first update also copies grad, the last negates), in bands of rows on threads (the driver's cores are
        otherwise idle while it computes the next step)."""
        q = self.buffer(grad, np.float32)

        def update(base: np.ndarray, v: np.ndarray, factor: np.ndarray, sign: float = 1.0) -> None:
            """q = sign * (base + v * factor)"""
            self.in_bands(lambda start, stop: _scaled_sum_rows(q, base, v, factor, sign, start, stop), len(q))

        pairs = list(zip(self.s, self.y, self.rho))
        if not pairs:
            return np.negative(grad, out=q)
        alphas = []
        for s, y, rho in reversed(pairs):
            source = grad if not alphas else q
            alpha = rho * self.dot(s, source)
            update(source, y, -alpha)
            alphas.append(alpha)
        if self.gamma is not None:
            q *= np.where(np.isnan(self.gamma), 1.0, self.gamma)
        for i, ((s, y, rho), alpha) in enumerate(zip(pairs, reversed(alphas))):
            beta = rho * self.dot(y, q)
            update(q, s, alpha - beta, -1.0 if i == len(pairs) - 1 else 1.0)  # the last one negates: -H grad
        return q

    def threads(self) -> ThreadPoolExecutor:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="lbfgs")
        return self.pool

    def close(self) -> None:
        """Stop the threads and drop the spare buffers (the history stays, for a caller that inspects it)."""
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
        self.spare = []

    def remember(
        self, step: np.ndarray, grad_change: np.ndarray, sy: np.ndarray, yy: np.ndarray, zero: np.ndarray
    ) -> None:
        """Keep (step, grad_change) as a curvature pair, for the columns where it is positive, given their column
        dots sy (step . grad_change) and yy (grad_change . grad_change). The arrays are taken over and zeroed in the
        other columns, but for those known to be `zero`."""
        usable = sy > 1e-12  # keep the curvature pair only where it is positive
        if not usable.any():
            self.release(step, grad_change)
            return
        known = np.full(len(sy), np.nan) if self.gamma is None else self.gamma
        self.gamma = np.where(usable, sy / np.where(usable, yy, 1.0), known)
        if not (usable | zero).all():  # column masks broadcast over the rows: one vectorised pass each
            np.copyto(step, 0.0, where=~usable)
            np.copyto(grad_change, 0.0, where=~usable)
        self.s.append(step)
        self.y.append(grad_change)
        self.rho.append(np.where(usable, 1.0 / np.where(usable, sy, 1.0), 0.0))
        if len(self.s) > self.history:
            self.release(self.s.pop(0), self.y.pop(0))
            self.rho.pop(0)

    def memory(self, theta: np.ndarray, max_bytes: int) -> Memory:
        """What another optimiser needs to go on from where this one stopped, for the problems of theta's columns:
        the newest curvature pairs that fit in max_bytes (at least one), and the scale."""
        gamma = np.full(theta.shape[1], np.nan) if self.gamma is None else self.gamma
        kept = -max(1, max_bytes // (2 * 4 * theta.size))  # s and y of one pair, in float32
        return Memory(theta.shape, self.s[kept:], self.y[kept:], self.rho[kept:], gamma)

    @classmethod
    def side_by_side(cls, memories: list[Memory], history: int, tol: float) -> LockstepLBFGS:
        """One optimiser for the problems of several, in order: the k-th memory's problems become the next columns.
        The problems are independent, so each keeps its own history. A memory with fewer pairs than the others gets
        empty ones (rho 0: they change no direction) before its oldest; one of some parameter rows only gets zeros
        in the others."""
        parameters = {m.shape[0] for m in memories}
        if len(parameters) != 1:
            raise ValueError(f"memories of problems of different sizes: {sorted(parameters)} parameters")
        count = max(len(m.s) for m in memories)
        columns = np.cumsum([0] + [m.shape[1] for m in memories])
        shape = (parameters.pop(), columns[-1])

        def aligned(items: list[np.ndarray], i: int) -> np.ndarray | None:  # newest last, as in all; None: empty
            missing = count - len(items)
            return items[i - missing] if i >= missing else None

        def joined(pairs: list[np.ndarray | None]) -> np.ndarray:  # the memories' i-th s (or y), side by side
            result = np.zeros(shape, np.float32)
            for m, pair, first, stop in zip(memories, pairs, columns, columns[1:]):
                if pair is not None:
                    result[slice(None) if m.rows is None else m.rows, first:stop] = pair
            return result

        optimiser = cls(history=history, tol=tol)
        for i in range(count):
            optimiser.s.append(joined([aligned(m.s, i) for m in memories]))
            optimiser.y.append(joined([aligned(m.y, i) for m in memories]))
            rho = [aligned(m.rho, i) for m in memories]
            optimiser.rho.append(
                np.concatenate([np.zeros(m.shape[1]) if r is None else r for m, r in zip(memories, rho)])
            )
        optimiser.gamma = np.concatenate([m.gamma for m in memories])
        return optimiser

    def minimise(self, evaluate, theta: np.ndarray, max_iter: int) -> tuple[np.ndarray, np.ndarray, int]:
        """evaluate(theta) -> (objective (K,), gradient (D+1, K)); the gradient must be a new array, which the
        optimiser then owns and recycles. Runs at most max_iter iterations, one evaluation (one data pass) each.
        Returns theta, the final objective and the number of evaluations. The theta passed in is left as it was."""
        start = theta
        objective, grad = evaluate(theta)
        passes = 1
        active = np.ones(theta.shape[1], dtype=bool)
        shrink = np.ones(theta.shape[1])  # the share of its step a problem whose last trial failed tries next
        for iteration in range(max_iter):
            direction = self.direction(grad)
            slope = self.dot(grad, direction)
            step = shrink.copy()
            uncurved = np.ones(len(step), dtype=bool) if self.gamma is None else np.isnan(self.gamma)
            # no curvature known yet: a unit-length gradient step (after that, L-BFGS scales itself)
            if uncurved.any():  # a pass over the gradient: not once every problem has curvature
                step[uncurved] /= np.maximum(np.sqrt(self.dot(grad, grad)), 1e-12)[uncurved]
            moving = active & (slope < 0)  # a problem without a descent direction does not move
            if not moving.any():
                break
            # The (parameters x problems) arrays' element-wise steps run fused, in bands of rows on threads: they are
            # the driver's time between passes (scripts/microbench optimiser; docs/performance.md).
            factor = np.where(moving, step, 0.0)
            candidate = self.buffer(theta)
            self.in_bands(
                partial(_trial_rows, direction, factor, theta, candidate), len(theta)
            )  # direction is now the trial step of each problem
            trial_objective, trial_grad = evaluate(candidate)
            passes += 1
            accepted = moving & (trial_objective <= objective + self.armijo * step * slope)
            # A failed problem stays where it was. One that did not move was evaluated where it stands: its trial
            # gradient is its gradient.
            failed = moving & ~accepted
            grad_change = self.buffer(grad, np.float32)
            sums = self.in_bands(
                partial(_settled_rows, direction, candidate, theta, trial_grad, grad, failed, grad_change), len(grad)
            )
            new_objective = np.where(accepted, trial_objective, objective)
            log.info(
                "iteration %d: mean objective %.6f, %d of %d problems moved, %d steps failed",
                iteration + 1,
                new_objective.mean(),
                accepted.sum(),
                len(accepted),
                failed.sum(),
            )
            self.remember(direction, grad_change, sum(sy for sy, _ in sums), sum(yy for _, yy in sums), failed)
            shrink = np.where(failed, shrink * backtracking_factor(objective, trial_objective, slope, step), 1.0)
            if iteration >= MIN_ITERATIONS:  # early steps are short by design: judge convergence after a few
                converged = accepted & (objective - new_objective <= self.tol * np.maximum(np.abs(objective), 1.0))
                active &= ~converged & (shrink >= MIN_STEP)
            self.release(grad, *([theta] if theta is not start else []))
            theta, objective, grad = candidate, new_objective, trial_grad
        return theta, objective, passes
