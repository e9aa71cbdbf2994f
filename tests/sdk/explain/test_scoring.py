"""The public scorer: any mask matrix scored with explain's own units, removal and explained scalar (what the
benchmark and shap's f(X) run), checked against a linear model whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from sdk.errors import InvalidInput
from sdk.explain import CountingForward, ExplainOptions, Scorer, explain, score_masks
from sdk.runtime.model import LoadedModel
from tests.sdk.explain.conftest import SERIES_WINDOW, true_series_attributions

OTHER = [w + 3.0 for w in SERIES_WINDOW[::-1]]


def test_score_masks_gives_the_forecast_with_the_removed_lags_at_the_windows_mean(linear_series: LoadedModel) -> None:
    truth = [true_series_attributions(SERIES_WINDOW), true_series_attributions(OTHER)]
    masks = [np.array([[1.0] * 8, [0.0] + [1.0] * 7, [0.0] * 8]), np.array([[1.0] * 4 + [0.0] * 4])]
    values = score_masks(linear_series, [SERIES_WINDOW, OTHER], masks)
    result = explain(linear_series, [SERIES_WINDOW, OTHER], ExplainOptions(method="occlusion"))
    first, second = result.items
    assert [len(v) for v in values] == [3, 1]
    assert values[0][0] == pytest.approx(first.value) and values[0][2] == pytest.approx(first.base_value)
    assert values[0][0] - values[0][1] == pytest.approx(truth[0][0], abs=1e-4)  # lag t-8 removed
    assert second.value - values[1][0] == pytest.approx(truth[1][4:].sum(), abs=1e-4)


def test_a_scorer_runs_one_reference_call_then_one_call_per_scoring(linear_series: LoadedModel) -> None:
    counting = CountingForward(linear_series.run_validated)
    scorer = Scorer(linear_series, [SERIES_WINDOW, OTHER], forward=counting)
    assert counting.batches == [4]  # each item's value and base value
    assert scorer.units[0] == [f"t-{k}" for k in range(8, 0, -1)]
    assert scorer.targets[0].describe == {"kind": "forecast", "output": "forecast"}
    ones = np.ones(8)
    assert scorer(ones, index=1)[0] == pytest.approx(scorer.value[1])
    scorer.score([np.zeros((2, 8)), np.ones((3, 8))])
    assert counting.batches == [4, 1, 5] and scorer.calls == 3 and scorer.rows == 10


def test_a_scorer_scores_text_with_the_words_dropped_as_explain_removes_them(tiny_text: LoadedModel) -> None:
    scorer = Scorer(tiny_text, "the cat sat", ExplainOptions(compare="the mat"))
    result = explain(tiny_text, "the cat sat", ExplainOptions(method="occlusion", compare="the mat"))
    assert scorer.units == [["the", "cat", "sat"]]
    without = scorer(np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]))
    np.testing.assert_allclose(result.items[0].value - without, result.items[0].attributions, atol=1e-12)


@pytest.mark.parametrize(
    ("masks", "message"),
    [
        ([np.ones((2, 3))], "masks of item 0 have shape [2, 3]; its 8 units need [rows, 8]"),
        ([np.full((1, 8), 2.0)], "outside [0, 1]"),
        ([np.ones((1, 8)), np.ones((1, 8))], "2 mask matrices for 1 items"),
    ],
)
def test_masks_of_the_wrong_shape_or_range_are_refused(linear_series: LoadedModel, masks: list, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        score_masks(linear_series, [SERIES_WINDOW], masks)


def test_an_item_index_out_of_range_is_refused(linear_series: LoadedModel) -> None:
    scorer = Scorer(linear_series, [SERIES_WINDOW])
    with pytest.raises(InvalidInput, match="item 1 is out of range: 1 item"):
        scorer(np.ones(8), index=1)
