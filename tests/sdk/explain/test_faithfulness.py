"""The faithfulness metric's definition on hand-made curves: clipped to [0, 1], fewer points for text, the curve rows
ranked as the attributions say; and the cached KernelSHAP coalitions are the seeded draw itself."""

from __future__ import annotations

import numpy as np
import pytest

from sdk.explain import faithfulness as faith
from sdk.explain.kernel_shap import coalitions, seeded


def test_a_curve_that_overshoots_the_base_value_is_clipped_to_the_unit_range() -> None:
    # n = 10 units, 11 points: deletion falls below the base value at once, insertion shoots above the value.
    deletion = np.full(9, -0.5)  # normalized: -0.5, clipped to 0
    insertion = np.full(9, 1.5)
    scores = faith.score(np.concatenate([deletion, insertion]), value=1.0, base_value=0.0, n=10)
    # Deletion: 1 at 0%, then 0 everywhere: one trapezoid of 0.1 * (1 + 0) / 2. Insertion: the mirror image.
    assert scores["deletion_auc"] == pytest.approx(0.05)
    assert scores["insertion_auc"] == pytest.approx(0.95)


def test_scores_stay_within_the_unit_range_whatever_the_model_does() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        got = faith.score(rng.normal(0.0, 5.0, size=18), value=0.3, base_value=0.29, n=64)
        assert 0.0 <= got["deletion_auc"] <= 1.0 and 0.0 <= got["insertion_auc"] <= 1.0


def test_text_curves_take_six_points_and_fewer_rows() -> None:
    assert list(faith.steps(40, faith.TEXT_POINTS)) == [0, 8, 16, 24, 32, 40]
    assert faith.rows_needed(40, faith.TEXT_POINTS) == 8 and faith.rows_needed(40) == 18


def test_curve_rows_remove_then_keep_the_top_units_in_ranking_order() -> None:
    masks = faith.curve_masks(np.array([0.1, 0.9, -0.3, 0.5]), direction=1.0)
    # n = 4: interior steps 1, 2, 3; ranking 1, 3, 0, 2.
    expected_top = np.array([[0, 1, 0, 0], [0, 1, 0, 1], [1, 1, 0, 1]], dtype=float)
    np.testing.assert_array_equal(masks, np.concatenate([1.0 - expected_top, expected_top]))
    falling = faith.curve_masks(np.array([0.1, 0.9, -0.3, 0.5]), direction=-1.0)
    np.testing.assert_array_equal(falling[3], [0, 0, 1, 0])  # value < base: the most negative unit first


def test_cached_coalitions_are_the_seeded_draw_and_cannot_be_changed() -> None:
    masks, weights = seeded(30, 236, 0)
    fresh, fresh_weights = coalitions(30, 236, np.random.default_rng(0))
    np.testing.assert_array_equal(masks, fresh)
    np.testing.assert_array_equal(weights, fresh_weights)
    assert seeded(30, 236, 0)[0] is masks  # drawn once
    with pytest.raises(ValueError, match="read-only"):
        masks[0, 0] = 1.0


def test_sampled_coalitions_are_distinct_and_repeats_add_weight() -> None:
    # n = 6, 40 rows: size 1 and 5 enumerated (12 rows), 28 drawn from the 50 coalitions of sizes 2-4: repeats.
    masks, weights = coalitions(6, 40, np.random.default_rng(1))
    assert len(masks) == 40 and len({m.tobytes() for m in masks}) == 40
    assert set(masks[:12].sum(axis=1)) == {1, 5} and set(masks[12:].sum(axis=1)) <= {2, 3, 4}
    assert len(np.unique(np.round(weights[12:], 12))) > 1  # a coalition drawn twice weighs more
    assert weights.sum() == pytest.approx(1.0)  # the kernel's weight, split between enumerated and sampled sizes
