"""KernelSHAP over coalitions of units, on a fixed budget of model rows.

The sampling follows shap's ``KernelExplainer`` (shap/explainers/_kernel.py): coalition sizes in order 1, n-1, 2,
n-2, ... are enumerated whole while the budget covers a size's share of the Shapley kernel weight, the rest is
sampled by size from the remaining weight, each coalition with its complement (paired sampling), repeats adding
weight; every coalition is enumerated (the exact Shapley values) when 2^n - 2 fit in the budget. The attributions
are the constrained weighted least squares fit: sum_i phi_i = value - base_value exactly, solved through its KKT
system with ``lstsq`` (the minimum-norm solution when the sample leaves it underdetermined: no ridge is added).

Written here, not called from shap: KernelExplainer runs the model once per explained item through a background
data set (its masker replaces a unit by background rows, multiplying the rows), so it can make no promise on calls or
rows per explanation and cannot share calls between items; and the edge extra does not carry shap: it pulls numba,
llvmlite, pandas, scikit-learn and scipy, 460 MB installed here (llvmlite 173, scipy 113, pandas 84, scikit-learn 51,
numba 35, shap 4), six times the onnxruntime (78 MB) the edge extra exists for.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def coalitions(n: int, budget: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """At most ``budget`` coalitions of ``n`` units (rows of 0/1, never all or none) and their kernel weights."""
    if n < 2 or budget < 1:
        return np.zeros((0, n)), np.zeros(0)
    if n < 60 and 2**n - 2 <= budget:
        return _all(n)
    sizes = math.ceil((n - 1) / 2)
    paired = (n - 1) // 2
    weight = np.array([(n - 1.0) / (s * (n - s)) for s in range(1, sizes + 1)])
    weight[:paired] *= 2
    weight /= weight.sum()
    blocks: list[np.ndarray] = []
    weights: list[float] = []
    left = budget
    remaining = weight.copy()
    full = 0
    for size in range(1, sizes + 1):
        count = math.comb(n, size) * (2 if size <= paired else 1)
        if left * remaining[size - 1] / count < 1.0 - 1e-8:
            break
        full += 1
        left -= count
        if remaining[size - 1] < 1.0:
            remaining /= 1.0 - remaining[size - 1]
        chosen = np.array(list(itertools.combinations(range(n), size)))
        block = np.zeros((len(chosen), n))
        block[np.arange(len(chosen))[:, None], chosen] = 1.0
        if size <= paired:  # each coalition followed by its complement
            block = np.stack([block, 1.0 - block], axis=1).reshape(-1, n)
        blocks.append(block)
        weights += [weight[size - 1] / math.comb(n, size) / (2.0 if size <= paired else 1.0)] * len(block)
    fixed = len(weights)
    if full < sizes and left > 0:
        share = weight.copy()
        share[:paired] /= 2  # two rows are drawn per paired size
        share = share[full:] / share[full:].sum()
        drawn = rng.choice(len(share), 4 * left, p=share) + full + 1
        ranks = np.argsort(np.argsort(rng.random((len(drawn), n)), axis=1), axis=1)
        candidates = ranks < drawn[:, None]  # a random coalition of each drawn size
        rows: list[np.ndarray] = []
        seen: dict[bytes, int] = {}
        for mask, size in zip(candidates, drawn):
            if left <= 0:
                break
            for row in (mask, ~mask) if size <= paired else (mask,):
                key = row.tobytes()
                if key in seen:
                    weights[seen[key]] += 1.0
                elif left > 0:
                    seen[key] = len(weights)
                    rows.append(row)
                    weights.append(1.0)
                    left -= 1
        if rows:
            blocks.append(np.asarray(rows, dtype=np.float64))
            sampled = np.asarray(weights[fixed:])
            weights[fixed:] = list(sampled * (weight[full:].sum() / sampled.sum()))
    if not blocks:
        return np.zeros((0, n)), np.zeros(0)
    return np.concatenate(blocks), np.asarray(weights)


def _all(n: int) -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(1, 2**n - 1)
    masks = ((codes[:, None] >> np.arange(n)[None, :]) & 1).astype(np.float64)
    sizes = masks.sum(axis=1).astype(int)
    combs = np.array([math.comb(n, int(s)) for s in sizes], dtype=np.float64)
    return masks, (n - 1.0) / (combs * sizes * (n - sizes))


def solve(masks: np.ndarray, weights: np.ndarray, values: np.ndarray, value: float, base: float) -> np.ndarray:
    """phi minimizing sum_k w_k (values_k - base - masks_k . phi)^2 subject to sum(phi) = value - base."""
    n = masks.shape[1]
    delta = value - base
    if n <= 1:
        return np.full(n, delta)
    if len(masks) == 0:
        return np.full(n, delta / n)
    z = np.asarray(masks, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64) - base
    w = w * (len(w) / w.sum())  # weights of mean 1: the system's scale does not depend on how they were normalized
    gram = 2.0 * (z.T * w) @ z
    scale = max(float(np.mean(np.diag(gram))), 1e-12)  # the constraint row on the same scale as the normal equations
    kkt = np.zeros((n + 1, n + 1))
    kkt[:n, :n] = gram
    kkt[:n, n] = kkt[n, :n] = scale
    rhs = np.concatenate([2.0 * (z.T * w) @ y, [scale * delta]])
    try:  # LU when the sample determines the fit (the usual case), the minimum-norm solution when it does not
        if len(z) < n - 1:
            raise np.linalg.LinAlgError("underdetermined")
        solution = np.linalg.solve(kkt, rhs)
    except np.linalg.LinAlgError:
        solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    phi: np.ndarray = solution[:n]
    return phi
