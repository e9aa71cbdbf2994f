"""Faithfulness of attributions: deletion and insertion curves (Petsiuk et al., RISE, 2018), normalized.

Definition. Rank the n units by attribution in the direction the input moved the scalar: largest first when
value >= base_value, most negative first when value < base_value (ties keep unit order). At the steps
k = round(j * n / (POINTS - 1)), j = 0..POINTS-1 (repeats dropped; every step when n < POINTS - 1):

- deletion: the explained scalar with the top k units removed, D(0) = value, D(n) = base_value;
- insertion: the scalar with only the top k units kept, I(0) = base_value, I(n) = value.

Each curve is normalized by the model's own range on the item, ``(f - base_value) / (value - base_value)``, so that
it runs from 1 to 0 (deletion) or 0 to 1 (insertion), and integrated with the trapezoid rule over the fraction k / n.
``deletion_auc`` is near 0 for a perfect ranking (the value falls at once), ``insertion_auc`` near 1; for a model
additive in its units a random ranking gives 0.5 for both in expectation (each curve is then a straight line). The
curves are not clipped: a non-monotone model can go below 0 or above 1. When value == base_value the range is 0 and
the scores are undefined: ``score`` returns {}.

Only the interior steps need the model (the end points are the value and the base value it already has): 2 * (POINTS
- 2) rows per item for n >= POINTS - 1, 2 * (n - 1) below.
"""

from __future__ import annotations

import numpy as np

POINTS = 11  # 0%, 10%, ..., 100% of the units


def steps(n: int) -> np.ndarray:
    """The numbers of units removed (deletion) or kept (insertion) along the curves, 0 and n included."""
    return np.unique(np.round(np.linspace(0, n, POINTS)).astype(np.int64))


def rows_needed(n: int) -> int:
    """Model rows the two curves of an item with ``n`` units need."""
    return 2 * (len(steps(n)) - 2)


def ranking(attributions: np.ndarray, direction: float = 1.0) -> np.ndarray:
    """Units from the largest attribution down (``direction`` < 0: from the most negative up); stable for ties."""
    sign = -1.0 if direction < 0 else 1.0
    return np.argsort(-sign * np.asarray(attributions, dtype=np.float64), kind="stable")


def curve_masks(attributions: np.ndarray, direction: float = 1.0) -> np.ndarray:
    """The rows to run: [deletion interior steps..., insertion interior steps...] as keep-masks over the units,
    ranked along ``direction`` (the sign of value - base_value)."""
    attributions = np.asarray(attributions, dtype=np.float64)
    n = len(attributions)
    order = ranking(attributions, direction)
    interior = steps(n)[1:-1]
    top = np.zeros((len(interior), n), dtype=bool)
    for row, k in enumerate(interior):
        top[row, order[:k]] = True
    return np.concatenate([~top, top]).astype(np.float64)


def score(values: np.ndarray, value: float, base_value: float, n: int) -> dict[str, float]:
    """``deletion_auc`` and ``insertion_auc`` from the scalar of ``curve_masks``'s rows (in its order)."""
    values = np.asarray(values, dtype=np.float64)
    span = value - base_value
    if not np.isfinite(span) or abs(span) <= 1e-12 * max(1.0, abs(value), abs(base_value)):
        return {}
    x = steps(n) / n
    half = len(values) // 2
    deletion = np.concatenate([[value], values[:half], [base_value]])
    insertion = np.concatenate([[base_value], values[half:], [value]])
    return {
        "deletion_auc": float(_trapezoid((deletion - base_value) / span, x)),
        "insertion_auc": float(_trapezoid((insertion - base_value) / span, x)),
    }


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)
