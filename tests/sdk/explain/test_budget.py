"""The call and row budget (counted by a forward wrapper), chunking under a manifest's batch cap, and the deadline:
a partial explanation after a first estimate, DeadlineExceeded before one."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from sdk import load
from sdk.errors import DeadlineExceeded, InvalidInput
from sdk.explain import CountingForward, ExplainOptions, explain
from sdk.explain import faithfulness as faith
from sdk.runtime.model import LoadedModel
from tests.sdk.explain.conftest import SERIES_WEIGHTS, true_series_attributions
from tests.sdk.explain.linear import write_linear_series

WINDOW = [11.0, 8.0, 13.0, 15.0, 7.0, 12.0, 6.0, 14.0]  # no lag at the mean: 8 active units


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """The linear series model whose manifest takes at most 16 rows per call."""
    return load(write_linear_series(tmp_path_factory.mktemp("capped") / "m", SERIES_WEIGHTS, max_batch=16))


@pytest.mark.parametrize(("max_calls", "deadline_s", "calls"), [(2, None, 2), (8, None, 2), (2, 60.0, 2), (3, 60.0, 3)])
def test_kernel_shap_makes_at_most_max_calls_with_at_most_max_evals_rows(
    digits: LoadedModel, digit_7: np.ndarray, max_calls: int, deadline_s: float | None, calls: int
) -> None:
    counting = CountingForward(digits.run_validated)
    image = {"image": digit_7.reshape(1, 1, 8, 8).astype(np.float32)}
    options = ExplainOptions(method="kernel_shap", max_evals=150, max_calls=max_calls, deadline_s=deadline_s)
    result = explain(digits, image, options, forward=counting)
    assert counting.calls == result.calls <= max_calls
    # The method's rows run in two stages only for a deadline (stage 1 is what a late explanation returns), and only
    # where max_calls leaves room; then the faithfulness curves.
    assert counting.calls == calls
    assert counting.rows == result.evaluations <= 150
    assert counting.batches[-1] == faith.rows_needed(64)  # the faithfulness curves come last, in one call


def test_rows_are_chunked_to_the_manifest_batch_cap(capped: LoadedModel) -> None:
    counting = CountingForward(capped.run_validated)
    windows = [WINDOW, [w + 1 for w in WINDOW]]
    result = explain(capped, windows, ExplainOptions(method="kernel_shap", max_evals=64), forward=counting)
    assert max(counting.batches) <= 16
    assert counting.calls == result.calls <= 8
    assert counting.rows <= 2 * 64
    np.testing.assert_allclose(result.items[0].attributions, true_series_attributions(WINDOW), atol=1e-4)


def test_a_cap_too_small_for_the_budget_shrinks_the_rows_to_fit_max_calls(capped: LoadedModel) -> None:
    counting = CountingForward(capped.run_validated)
    result = explain(capped, WINDOW, ExplainOptions(method="kernel_shap", max_evals=256, max_calls=4), forward=counting)
    assert counting.calls <= 4 and max(counting.batches) <= 16
    assert result.evaluations <= 4 * 16
    np.testing.assert_allclose(result.items[0].attributions, true_series_attributions(WINDOW), atol=1e-4)


def test_a_cap_that_cannot_carry_the_method_is_refused_naming_the_cap(capped: LoadedModel) -> None:
    many = [[w + k for w in WINDOW] for k in range(6)]  # 6 items x 10 occlusion rows > 16 rows in 3 calls
    with pytest.raises(InvalidInput, match="takes at most 16 rows per call"):
        explain(capped, many, ExplainOptions(method="occlusion", max_calls=3))


def test_a_deadline_passed_before_the_first_estimate_raises_deadline_exceeded(digits: LoadedModel) -> None:
    counting = CountingForward(digits.run_validated)
    image = {"image": np.ones((1, 1, 8, 8), dtype=np.float32)}
    with pytest.raises(DeadlineExceeded) as caught:
        explain(digits, image, ExplainOptions(deadline_s=1e-9), forward=counting)
    assert caught.value.status == 504
    assert "deadline of 1e-09 s" in str(caught.value) and "0 runtime call(s) made" in str(caught.value)
    assert counting.calls == 0


def test_a_deadline_passed_after_the_first_stage_returns_a_partial_explanation(
    digits: LoadedModel, digit_7: np.ndarray
) -> None:
    def slow(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        time.sleep(0.3)  # the first call alone outlasts the deadline
        return digits.run_validated(feeds)

    counting = CountingForward(slow)
    image = {"image": digit_7.reshape(1, 1, 8, 8).astype(np.float32)}
    result = explain(digits, image, ExplainOptions(method="kernel_shap", deadline_s=0.1), forward=counting)
    item = result.items[0]
    assert result.partial and counting.calls == result.calls == 1
    assert item.faithfulness == {}
    assert item.target["label"] == "7"
    assert item.attributions.sum() == pytest.approx(item.value - item.base_value, abs=1e-6)
    ink = digit_7.reshape(-1) > 0
    assert np.abs(item.attributions[ink]).mean() > np.abs(item.attributions[~ink]).mean()
    assert result.to_json()["partial"] is True


def test_text_items_of_different_lengths_share_calls(tiny_text: LoadedModel, tmp_path: Path) -> None:
    counting = CountingForward(tiny_text.run_validated)
    result = explain(tiny_text, ["the cat sat on the mat", "a cat"], ExplainOptions(max_evals=64), forward=counting)
    assert counting.calls == result.calls <= 3
    assert counting.rows <= 2 * 64
    assert [len(item.units) for item in result.items] == [6, 2]
