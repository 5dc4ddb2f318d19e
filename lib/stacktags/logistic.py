"""Many binary logistic regressions at once: the numeric core of the multilabel estimator (numpy and scipy only).

Each tag k has its own model (w_k, b_k) and minimises MLlib's objective for LogisticRegression with
elasticNetParam=0 and standardization=False:

    f_k = (1 / sum(v)) * sum_i v_i * [log(1 + exp(m_ik)) - y_ik * m_ik] + (regParam / 2) * ||w_k||^2,  m_ik = x_i.w_k + b_k

with sample weights v (1 unless negatives are subsampled). The tags are independent, but one pass over a block of
rows computes every tag's loss and gradient (two sparse-dense matrix products), so a distributed caller sums the
blocks' results (as MLlib does per tag) and runs one L-BFGS per tag in lockstep: one pass per iteration for all tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


def block_loss_gradient(X: sp.csr_matrix, Y: sp.csr_matrix, weights: np.ndarray, theta: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, float]:
    """Unregularised, unnormalised loss (K,) and gradient ((D+1, K); last row: intercepts) of one block of rows,
    plus the block's weight sum. X: (n, D) features; Y: (n, K) 0/1 labels; theta: (D+1, K) coefficients."""
    margins = X @ theta[:-1] + theta[-1]  # (n, K) dense
    labels = Y.toarray()
    losses = np.logaddexp(0.0, margins) - labels * margins
    residual = (1.0 / (1.0 + np.exp(-margins)) - labels) * weights[:, None]
    gradient = np.empty_like(theta)
    gradient[:-1] = X.T @ residual
    gradient[-1] = residual.sum(axis=0)
    return weights @ losses, gradient, float(weights.sum())


def regularised(loss: np.ndarray, gradient: np.ndarray, weight_sum: float, theta: np.ndarray, reg_param: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Summed block results -> MLlib's objective: mean loss plus L2 on the coefficients (not the intercept)."""
    coefficients = theta[:-1]
    objective = loss / weight_sum + 0.5 * reg_param * np.einsum("dk,dk->k", coefficients, coefficients)
    grad = gradient / weight_sum
    grad[:-1] += reg_param * coefficients
    return objective, grad


MIN_ITERATIONS = 5


@dataclass
class LockstepLBFGS:
    """L-BFGS for K independent problems of one size, advanced together: one objective evaluation (one data pass)
    serves all of them. Each problem has its own history, step length (Armijo backtracking) and convergence."""

    history: int = 5
    tol: float = 1e-6
    armijo: float = 1e-4
    s: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    rho: list[np.ndarray] = field(default_factory=list)

    def direction(self, grad: np.ndarray) -> np.ndarray:
        """The two-loop recursion, vectorised over the K columns."""
        q = grad.copy()
        alphas = []
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(self.rho)):
            alpha = rho * np.einsum("dk,dk->k", s, q)
            q -= alpha * y
            alphas.append(alpha)
        if self.s:
            sy = np.einsum("dk,dk->k", self.s[-1], self.y[-1])
            yy = np.einsum("dk,dk->k", self.y[-1], self.y[-1])
            q *= np.where(yy > 0, sy / np.where(yy > 0, yy, 1.0), 1.0)
        for s, y, rho, alpha in zip(self.s, self.y, self.rho, reversed(alphas)):
            beta = rho * np.einsum("dk,dk->k", y, q)
            q += s * (alpha - beta)
        return -q

    def remember(self, step: np.ndarray, grad_change: np.ndarray) -> None:
        sy = np.einsum("dk,dk->k", step, grad_change)
        usable = sy > 1e-12  # keep the curvature pair only where it is positive
        self.s.append(np.where(usable, step, 0.0))
        self.y.append(np.where(usable, grad_change, 0.0))
        self.rho.append(np.where(usable, 1.0 / np.where(usable, sy, 1.0), 0.0))
        if len(self.s) > self.history:
            self.s.pop(0), self.y.pop(0), self.rho.pop(0)

    def minimise(self, evaluate, theta: np.ndarray, max_iter: int, max_halvings: int = 4
                 ) -> tuple[np.ndarray, np.ndarray, int]:
        """evaluate(theta) -> (objective (K,), gradient (D+1, K)). Returns theta, the final objective and the number
        of evaluations (data passes). Every evaluation is a pass over the data for all problems, so a problem whose
        step keeps failing may halve it only `max_halvings` times per iteration; it then waits for the next one."""
        objective, grad = evaluate(theta)
        passes = 1
        active = np.ones(theta.shape[1], dtype=bool)
        for iteration in range(max_iter):
            direction = self.direction(grad)
            slope = np.einsum("dk,dk->k", grad, direction)
            if not self.s:  # no curvature known yet: a unit-length gradient step (then L-BFGS scales itself)
                step = 1.0 / np.maximum(np.sqrt(np.einsum("dk,dk->k", grad, grad)), 1e-12)
            else:
                step = np.ones_like(objective)
            searching = active & (slope < 0)  # a tag without a descent direction does not move this time
            new_theta, new_objective, new_grad = theta.copy(), objective.copy(), grad.copy()
            for _ in range(max_halvings):
                if not searching.any():
                    break
                candidate = theta + direction * np.where(searching, step, 0.0)
                trial_objective, trial_grad = evaluate(candidate)
                passes += 1
                accepted = searching & (trial_objective <= objective + self.armijo * step * slope)
                new_theta = np.where(accepted, candidate, new_theta)
                new_objective = np.where(accepted, trial_objective, new_objective)
                new_grad = np.where(accepted, trial_grad, new_grad)
                searching &= ~accepted
                step = np.where(searching, step * 0.5, step)
            self.remember(new_theta - theta, new_grad - grad)
            decrease = objective - new_objective
            if iteration >= MIN_ITERATIONS:  # early steps are short by design: judge convergence after a few
                active &= decrease > self.tol * np.maximum(np.abs(objective), 1.0)
            theta, objective, grad = new_theta, new_objective, new_grad
            if not active.any():
                break
        return theta, objective, passes
