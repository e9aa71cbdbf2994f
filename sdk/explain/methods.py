"""The attribution methods, each as a mask matrix (rows x units: 1 keeps a unit, 0 removes it) and an estimator
over the explained scalar of those rows. Row 0 keeps every unit (the value), row 1 removes every unit (the base
value); rows ``[:first]`` alone already give a usable estimate (what a deadline leaves).

- occlusion: each unit removed once; its attribution is value - f(without it). Exact for a model additive in its
  units, n + 2 rows.
- kernel_shap: ``sdk.explain.kernel_shap``; the attributions sum to value - base_value.
- rise (images): random coarse masks (a grid of cells kept with probability 1/2, bilinearly upsampled with a random
  shift, as in Petsiuk et al. 2018); a unit's attribution is the mean scalar of the masks weighted by how much they
  keep it, minus the mean weighted by how much they remove it (the original's weighted sum, normalized per unit so it
  is in the scalar's units and 0 for a unit that changes nothing).
"""

from __future__ import annotations

import math

import numpy as np

from sdk._record import record
from sdk.explain import kernel_shap

RISE_MIN_MASKS = 16
RISE_KEEP = 0.5


@record(frozen=False)
class Plan:
    masks: np.ndarray  # [rows, units], float64 in [0, 1]
    first: int  # rows of the first stage
    active: np.ndarray  # [units] bool: the units whose removal changes the input (the others are left out)
    weights: np.ndarray | None = None  # kernel_shap's coalition weights (rows 2..)


def minimum(method: str, n: int) -> int:
    """The fewest rows a method needs for ``n`` units (the input and the empty input included)."""
    if method == "rise":
        return 2 + RISE_MIN_MASKS
    return n + 2


def plan(method: str, rows: int, seed: int, grid: tuple[int, int] | None, active: np.ndarray) -> Plan:
    """The mask rows of ``method`` within ``rows`` (>= ``minimum``), drawn with ``default_rng(seed)``. Units that
    are not ``active`` (already at their removed value: a black pixel of a digit) cannot change the scalar: their
    attribution is 0 and occlusion and kernel_shap spend no rows on them (a digit's ~30 ink pixels, not 64 units)."""
    n = len(active)
    k = int(active.sum())
    ends = np.stack([np.ones(n), np.zeros(n)])

    def widen(sub: np.ndarray) -> np.ndarray:
        out = np.ones((len(sub), n))
        out[:, active] = sub
        return out

    if method == "occlusion":
        return Plan(np.concatenate([ends, widen(1.0 - np.eye(k))]), k + 2, active)
    if method == "kernel_shap":
        masks, weights = kernel_shap.seeded(k, rows - 2, seed)
        first = 2 + max(min(len(masks), k), (len(masks) + 1) // 2)
        return Plan(np.concatenate([ends, widen(masks)]), first, active, weights)
    if method == "rise":
        assert grid is not None
        count = rows - 2
        masks = rise_masks(grid, count, np.random.default_rng(seed))
        return Plan(np.concatenate([ends, masks]), 2 + max(RISE_MIN_MASKS, count // 2), active)
    raise ValueError(f"unknown method {method!r}")


def estimate(method: str, plan: Plan, values: np.ndarray) -> np.ndarray:
    """Attributions from the scalar of the first ``len(values)`` rows of ``plan``."""
    value, base = float(values[0]), float(values[1])
    active = plan.active
    masks = plan.masks[2 : len(values)]
    out = np.zeros(len(active))
    if not active.any():  # nothing to remove: the input is its own baseline
        return out
    if method == "occlusion":
        out[active] = value - np.asarray(values[2 : 2 + int(active.sum())], dtype=np.float64)
    elif method == "kernel_shap":
        assert plan.weights is not None
        out[active] = kernel_shap.solve(masks[:, active], plan.weights[: len(masks)], values[2:], value, base)
    else:
        out[active] = _rise(masks, np.asarray(values[2:], dtype=np.float64))[active]
    return out


def _rise(masks: np.ndarray, values: np.ndarray) -> np.ndarray:
    kept = masks.sum(axis=0)
    removed = (1.0 - masks).sum(axis=0)
    tiny = np.finfo(np.float64).tiny
    on = (masks * values[:, None]).sum(axis=0) / np.maximum(kept, tiny)
    off = ((1.0 - masks) * values[:, None]).sum(axis=0) / np.maximum(removed, tiny)
    out: np.ndarray = np.where((kept > 0) & (removed > 0), on - off, 0.0)
    return out


def _upsample(cells: int, size: int) -> np.ndarray:
    """[size, cells] linear interpolation weights: ``cells`` values spread evenly over ``size`` positions."""
    centers = (np.arange(size) + 0.5) * cells / size - 0.5
    low = np.clip(np.floor(centers).astype(int), 0, cells - 1)
    high = np.clip(low + 1, 0, cells - 1)
    frac = np.clip(centers - low, 0.0, 1.0)
    out = np.zeros((size, cells))
    out[np.arange(size), low] += 1.0 - frac
    out[np.arange(size), high] += frac
    return out


def rise_masks(grid: tuple[int, int], count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` soft masks over a (rows, cols) grid of units, flattened row-major: [count, rows * cols]."""
    rows, cols = grid
    cells = max(2, math.ceil(max(rows, cols) / 2))  # cells of about 2x2 units
    cell_h, cell_w = math.ceil(rows / cells), math.ceil(cols / cells)
    up_h, up_w = (cells + 1) * cell_h, (cells + 1) * cell_w  # one cell more, so a shifted crop stays covered
    grids = (rng.random((count, cells + 1, cells + 1)) < RISE_KEEP).astype(np.float64)
    big = _upsample(cells + 1, up_h) @ grids @ _upsample(cells + 1, up_w).T  # [count, up_h, up_w]
    dy = rng.integers(0, cell_h, count)
    dx = rng.integers(0, cell_w, count)
    r = dy[:, None, None] + np.arange(rows)[None, :, None]
    c = dx[:, None, None] + np.arange(cols)[None, None, :]
    crops = big[np.arange(count)[:, None, None], r, c]
    out: np.ndarray = crops.reshape(count, rows * cols)
    return out
