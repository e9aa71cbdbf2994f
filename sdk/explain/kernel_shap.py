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

import functools
import itertools
import math

import numpy as np


@functools.lru_cache(maxsize=128)
def seeded(n: int, budget: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``coalitions`` drawn with ``default_rng(seed)``, cached (read-only): a pure function of its arguments, and an
    explanation's largest cost after the runtime (0.2-0.3 ms of a digit's ~2 ms here), which a server explaining
    inputs with the same number of active units pays once."""
    masks, weights = coalitions(n, budget, np.random.default_rng(seed))
    masks.flags.writeable = False
    weights.flags.writeable = False
    return masks, weights


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
    if full < sizes and left > 0:
        share = weight.copy()
        share[:paired] /= 2  # two rows are drawn per paired size
        share = share[full:] / share[full:].sum()
        sampled, counts = _sample(n, left, full, paired, share, rng)
        if len(sampled):
            blocks.append(sampled)
            weights += list(counts * (weight[full:].sum() / counts.sum()))
    if not blocks:
        return np.zeros((0, n)), np.zeros(0)
    return np.concatenate(blocks), np.asarray(weights)


def _sample(
    n: int, left: int, full: int, paired: int, share: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``left`` distinct coalitions drawn by size from ``share`` (sizes full+1..), each followed by its
    complement when its size is paired, and how often each was drawn before the last one was found (a repeat adds
    weight). Vectorized: candidates are drawn ``left`` at a time (at most 4 rounds, as a budget larger than the
    coalitions left would otherwise spin), duplicates found by their packed bits."""
    pool = np.zeros((0, n), dtype=bool)
    for _ in range(4):
        drawn = rng.choice(len(share), left, p=share) + full + 1
        scores = rng.random((left, n))
        kth = np.sort(scores, axis=1)[np.arange(left), drawn - 1]
        masks = scores <= kth[:, None]  # a random coalition of each drawn size
        rows = np.stack([masks, ~masks], axis=1).reshape(-1, n)
        rows = rows[np.repeat(drawn <= paired, 2) | (np.arange(2 * left) % 2 == 0)]
        pool = np.concatenate([pool, rows])
        packed = np.ascontiguousarray(np.packbits(pool, axis=1))
        keys = packed.view(np.dtype((np.void, packed.shape[1]))).reshape(-1)  # one comparable key per row
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        if len(first) >= left:
            break
    order = np.sort(first)[:left]  # the distinct rows in the order they were first drawn
    cutoff = order[-1] if len(order) else -1
    rank = np.full(len(first), -1)
    rank[np.argsort(first)[: len(order)]] = np.arange(len(order))
    hits = rank[inverse.reshape(-1)[: cutoff + 1]]
    counts = np.bincount(hits[hits >= 0], minlength=len(order)).astype(np.float64)
    return pool[order].astype(np.float64), counts


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
