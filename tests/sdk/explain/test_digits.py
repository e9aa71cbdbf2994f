"""The digits CNN (the shipped artifact): the predicted class is explained, its ink matters more than its black
background, every method stays within its budget, and the same seed gives the same attributions."""

from __future__ import annotations

import numpy as np
import pytest

from sdk.explain import CountingForward, ExplainOptions, explain
from sdk.runtime.model import LoadedModel


@pytest.fixture(scope="module")
def seven(digit_7: np.ndarray) -> dict[str, np.ndarray]:
    return {"image": digit_7.reshape(1, 1, 8, 8).astype(np.float32)}


@pytest.mark.parametrize("method", ["occlusion", "kernel_shap", "rise"])
def test_predicted_digit_is_explained_by_its_ink_not_its_background(
    digits: LoadedModel, seven: dict[str, np.ndarray], method: str
) -> None:
    result = explain(digits, seven, ExplainOptions(method=method))
    item = result.items[0]
    assert result.method == method and not result.partial
    assert item.target == {"kind": "class", "index": 7, "label": "7"}
    assert item.unit_kind == "pixel" and item.grid == (8, 8) and item.units[:2] == ["r0c0", "r0c1"]
    assert item.value > 0.9 and item.value > item.base_value
    ink = seven["image"].reshape(-1) > 0
    assert 0 < ink.sum() < 64
    assert np.abs(item.attributions[ink]).mean() > 5 * np.abs(item.attributions[~ink]).mean()
    # Pixels already black cannot change anything when removed (to black): exactly 0.
    assert np.all(item.attributions[~ink] == 0.0)
    assert item.faithfulness["deletion_auc"] < 0.3 and item.faithfulness["insertion_auc"] > 0.7
    assert item.view is not None
    np.testing.assert_allclose(item.view, seven["image"][0, 0])


def test_kernel_shap_attributions_sum_to_value_minus_base(digits: LoadedModel, seven: dict[str, np.ndarray]) -> None:
    item = explain(digits, seven, ExplainOptions(method="kernel_shap")).items[0]
    assert item.attributions.sum() == pytest.approx(item.value - item.base_value, abs=1e-6)


def test_auto_runs_kernel_shap_on_images(digits: LoadedModel, seven: dict[str, np.ndarray]) -> None:
    assert explain(digits, seven).method == "kernel_shap"


def test_a_chosen_target_class_is_explained_instead_of_the_prediction(
    digits: LoadedModel, seven: dict[str, np.ndarray]
) -> None:
    by_index = explain(digits, seven, ExplainOptions(target=1, method="occlusion")).items[0]
    by_label = explain(digits, seven, ExplainOptions(target="1", method="occlusion")).items[0]
    assert by_index.target == by_label.target == {"kind": "class", "index": 1, "label": "1"}
    assert by_index.value < 0.1
    np.testing.assert_array_equal(by_index.attributions, by_label.attributions)


@pytest.mark.parametrize("method", ["occlusion", "kernel_shap", "rise"])
def test_several_items_share_calls_within_the_budget(digits: LoadedModel, digits_split: object, method: str) -> None:
    images = digits_split.x_test[:5].reshape(5, 1, 8, 8).astype(np.float32)  # type: ignore[attr-defined]
    counting = CountingForward(digits.run_validated)
    options = ExplainOptions(method=method, max_evals=200, max_calls=4)
    result = explain(digits, {"image": images}, options, forward=counting)
    assert counting.calls == result.calls <= 4
    assert counting.rows == result.evaluations <= 5 * 200
    assert max(counting.batches) > 5  # rows of several items and perturbations in each call, never one at a time
    assert [item.target["index"] for item in result.items] == list(digits_split.y_test[:5])  # type: ignore[attr-defined]


def test_one_item_alone_or_among_others_gets_the_same_attributions(digits: LoadedModel, digits_split: object) -> None:
    images = digits_split.x_test[:3].reshape(3, 1, 8, 8).astype(np.float32)  # type: ignore[attr-defined]
    together = explain(digits, {"image": images}, ExplainOptions(seed=4))
    alone = explain(digits, {"image": images[1:2]}, ExplainOptions(seed=4))
    np.testing.assert_allclose(together.items[1].attributions, alone.items[0].attributions, atol=1e-6)


@pytest.mark.parametrize("method", ["kernel_shap", "rise"])
def test_same_seed_gives_identical_attributions_and_another_seed_differs(
    digits: LoadedModel, seven: dict[str, np.ndarray], method: str
) -> None:
    first = explain(digits, seven, ExplainOptions(method=method, seed=3)).items[0].attributions
    again = explain(digits, seven, ExplainOptions(method=method, seed=3)).items[0].attributions
    other = explain(digits, seven, ExplainOptions(method=method, seed=4)).items[0].attributions
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_png_bytes_give_the_same_units_as_the_tensor(digits: LoadedModel, digit_7: np.ndarray) -> None:
    pytest.importorskip("PIL")
    from models.digits_cnn.images import png_bytes

    raw = explain(digits, png_bytes(digit_7.reshape(8, 8)), ExplainOptions(method="occlusion")).items[0]
    assert raw.units == [f"r{r}c{c}" for r in range(8) for c in range(8)]
    assert raw.target["label"] == "7"
    assert raw.view is not None and raw.view.shape == (8, 8) and raw.view.min() >= 0.0 and raw.view.max() <= 1.0


@pytest.mark.parametrize("method", ["occlusion", "kernel_shap", "rise"])
def test_a_black_image_has_nothing_to_remove_and_gets_zero_attributions(digits: LoadedModel, method: str) -> None:
    item = explain(digits, {"image": np.zeros((1, 1, 8, 8), dtype=np.float32)}, ExplainOptions(method=method)).items[0]
    assert not item.attributions.any()
    assert item.value == item.base_value and item.faithfulness == {}  # no range to normalize the curves by
