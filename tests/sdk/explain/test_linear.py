"""Ground truth: on linear ONNX models the true attributions are w_i * (x_i - baseline_i); occlusion and KernelSHAP
must find them exactly, and the faithfulness metric must rank them above random attributions."""

from __future__ import annotations

import numpy as np
import pytest

from sdk.explain import ExplainOptions, explain, score_attributions
from sdk.explain import faithfulness as faith
from sdk.explain.kernel_shap import coalitions, solve
from sdk.runtime.model import LoadedModel
from tests.sdk.explain.conftest import SERIES_WINDOW, true_series_attributions


@pytest.mark.parametrize("method", ["occlusion", "kernel_shap"])
def test_linear_series_attributions_are_exact(linear_series: LoadedModel, method: str) -> None:
    result = explain(linear_series, SERIES_WINDOW, ExplainOptions(method=method))
    item = result.items[0]
    assert item.units == [f"t-{k}" for k in range(8, 0, -1)]
    assert item.unit_kind == "lag" and item.grid is None
    np.testing.assert_allclose(item.attributions, true_series_attributions(SERIES_WINDOW), atol=1e-4)
    assert item.value - item.base_value == pytest.approx(item.attributions.sum(), abs=1e-4)
    assert item.target == {"kind": "forecast", "output": "forecast"}
    assert item.view is not None
    np.testing.assert_allclose(item.view, SERIES_WINDOW, atol=1e-5)  # the window in the data's units


def test_kernel_shap_is_exact_on_a_linear_model_when_it_samples_coalitions(linear_series: LoadedModel) -> None:
    """A budget far below 2^n: the coalitions are sampled, and a linear model is still fitted exactly."""
    window = [11.0, 8.0, 13.0, 15.0, 7.0, 12.0, 6.0, 14.0]  # no lag at the mean: all 8 units active
    result = explain(linear_series, window, ExplainOptions(method="kernel_shap", max_evals=40))
    assert result.evaluations <= 40
    np.testing.assert_allclose(result.items[0].attributions, true_series_attributions(window), atol=1e-4)


def test_kernel_shap_enumerates_every_coalition_when_the_budget_allows() -> None:
    masks, weights = coalitions(5, 30, np.random.default_rng(0))
    assert len(masks) == 30 and len({m.tobytes() for m in masks}) == 30  # 2^5 - 2, each once
    sizes = masks.sum(axis=1)
    np.testing.assert_allclose(weights[sizes == 1], 4 / (5 * 1 * 4))  # (n-1) / (C(n,s) s (n-s))
    np.testing.assert_allclose(weights[sizes == 2], 4 / (10 * 2 * 3))
    sampled, _ = coalitions(10, 100, np.random.default_rng(0))
    assert len(sampled) <= 100 and sampled.sum(axis=1).min() > 0 and sampled.sum(axis=1).max() < 10


def test_exact_kernel_shap_gives_shapley_values_of_a_nonlinear_game() -> None:
    """f(S) = 1 if units 0 and 1 are both present (an AND): Shapley gives 1/2 to each, 0 to the others."""
    masks, weights = coalitions(4, 14, np.random.default_rng(0))
    values = (masks[:, 0] * masks[:, 1]).astype(float)
    phi = solve(masks, weights, values, value=1.0, base=0.0)
    np.testing.assert_allclose(phi, [0.5, 0.5, 0.0, 0.0], atol=1e-9)


def test_a_lag_at_the_windows_mean_gets_zero_and_costs_no_rows(linear_series: LoadedModel) -> None:
    window = [*SERIES_WINDOW[:-1], 11.0]
    assert window[2] == np.mean(window) == 10.0  # the window's own mean: removing it changes nothing
    result = explain(linear_series, window, ExplainOptions(method="occlusion"))
    assert result.items[0].attributions[2] == 0.0
    faith_rows = faith.rows_needed(8)
    assert result.evaluations == 2 + 7 + faith_rows  # the input, the empty input, 7 active lags, the curves


def test_linear_image_patches_are_exact_under_occlusion(
    linear_image: LoadedModel, linear_image_weights: np.ndarray
) -> None:
    """16x16 pixels are more than 64 units: 2x2 patches; a removed patch is black (0), so a patch contributes the
    sum of w * pixel over its four pixels."""
    image = np.random.default_rng(3).random((1, 1, 16, 16)).astype(np.float32)
    result = explain(linear_image, {"image": image}, ExplainOptions(method="occlusion", target="class-1"))
    item = result.items[0]
    assert item.unit_kind == "patch" and item.grid == (8, 8) and len(item.units) == 64
    assert item.units[0] == "r0-1 c0-1" and item.units[9] == "r2-3 c2-3"
    assert item.target == {"kind": "class", "index": 1, "label": "class-1"}
    contribution = (linear_image_weights[:, 1] * image.reshape(-1)).reshape(8, 2, 8, 2).sum(axis=(1, 3))
    np.testing.assert_allclose(item.attributions, contribution.reshape(-1), atol=1e-4)
    assert item.view is not None
    np.testing.assert_allclose(item.view, image[0, 0], atol=1e-6)


def test_true_attributions_score_better_than_random_ones(linear_series: LoadedModel) -> None:
    window = [11.0, 8.0, 13.0, 15.0, 7.0, 12.0, 6.0, 14.0]
    truth = true_series_attributions(window)
    rng = np.random.default_rng(0)
    randoms = [rng.normal(size=8) for _ in range(200)]
    scores = score_attributions(linear_series, [window] * 201, [truth, *randoms])
    best, rest = scores[0], scores[1:]
    random_deletion = np.mean([s["deletion_auc"] for s in rest])
    random_insertion = np.mean([s["insertion_auc"] for s in rest])
    assert random_deletion == pytest.approx(0.5, abs=0.05) and random_insertion == pytest.approx(0.5, abs=0.05)
    assert best["deletion_auc"] < random_deletion - 0.1
    assert best["insertion_auc"] > random_insertion + 0.1
    # Reversed truth is the worst ranking there is.
    worst = score_attributions(linear_series, [window], [-truth])[0]
    assert worst["deletion_auc"] > random_deletion + 0.1 and worst["insertion_auc"] < random_insertion - 0.1


def test_faithfulness_of_an_explanation_matches_scoring_its_attributions(linear_series: LoadedModel) -> None:
    result = explain(linear_series, SERIES_WINDOW, ExplainOptions(method="kernel_shap"))
    again = score_attributions(linear_series, [SERIES_WINDOW], [result.items[0].attributions])[0]
    assert result.items[0].faithfulness == pytest.approx(again)


def test_auto_runs_occlusion_on_series(linear_series: LoadedModel) -> None:
    assert explain(linear_series, SERIES_WINDOW).method == "occlusion"
