"""Bad input to explain: each refusal is an InvalidInput (400) whose message names the problem, before any call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdk import load
from sdk.errors import InvalidInput
from sdk.explain import CountingForward, ExplainOptions, explain, score_attributions
from sdk.runtime.model import LoadedModel
from tests.sdk.explain.conftest import SERIES_WEIGHTS, SERIES_WINDOW
from tests.sdk.explain.linear import write_linear_series

SEVEN = {"image": np.zeros((1, 1, 8, 8), dtype=np.float32)}


def refused(model: LoadedModel, inputs: object, options: ExplainOptions) -> str:
    counting = CountingForward(model.run_validated)
    with pytest.raises(InvalidInput) as caught:
        explain(model, inputs, options, forward=counting)
    assert caught.value.status == 400
    assert counting.calls == 0  # refused before the model ran
    return str(caught.value)


def test_a_model_without_a_declared_modality_names_what_to_declare(tmp_path: Path) -> None:
    model = load(write_linear_series(tmp_path / "bare", SERIES_WEIGHTS, processors=False))
    message = refused(model, {"window": np.zeros((1, 8, 1), dtype=np.float32)}, ExplainOptions())
    assert "declares no input processor" in message
    assert "processors.image, processors.text or processors.series" in message


def test_a_budget_below_the_method_minimum_names_the_minimum(digits: LoadedModel, digit_7: np.ndarray) -> None:
    image = {"image": digit_7.reshape(1, 1, 8, 8).astype(np.float32)}
    message = refused(digits, image, ExplainOptions(method="occlusion", max_evals=50))
    assert "'max_evals' 50 is below the minimum of 84 for occlusion" in message
    assert "64 pixels" in message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ExplainOptions(target=10), "parameter 'target' 10 is out of range: digits-cnn@1 has 10 classes (0-9)"),
        (ExplainOptions(target="cat"), "parameter 'target' 'cat' is not a label of digits-cnn@1"),
        (ExplainOptions(compare="a sentence"), "parameter 'compare' applies to embedding models"),
    ],
)
def test_targets_and_comparisons_that_do_not_fit_a_classifier_are_refused(
    digits: LoadedModel, options: ExplainOptions, message: str
) -> None:
    assert message in refused(digits, SEVEN, options)


def test_more_items_than_max_items_are_refused(digits: LoadedModel) -> None:
    two = {"image": np.zeros((2, 1, 8, 8), dtype=np.float32)}
    assert "2 items to explain, over the limit of 1 (max_items)" in refused(digits, two, ExplainOptions(max_items=1))


def test_rise_on_a_model_that_is_not_an_image_model_is_refused(tiny_text: LoadedModel) -> None:
    assert "method 'rise' works on images only" in refused(tiny_text, "the cat", ExplainOptions(method="rise"))


def test_an_image_to_compare_with_for_a_text_model_is_refused(tiny_text: LoadedModel) -> None:
    message = refused(tiny_text, "the cat", ExplainOptions(compare=b"\x89PNG\r\n\x1a\n...."))
    assert "parameter 'compare' is a PNG image, but tiny-text@1 takes text" in message


def test_a_target_for_an_embedding_model_is_refused(tiny_text: LoadedModel) -> None:
    assert "'target' does not apply to tiny-text@1, an embedding model" in refused(
        tiny_text, "the cat", ExplainOptions(target=0)
    )


def test_a_forecast_target_out_of_range_and_a_comparison_are_refused(linear_series: LoadedModel) -> None:
    assert "'target' 1 is out of range" in refused(linear_series, SERIES_WINDOW, ExplainOptions(target=1))
    assert "'compare' does not apply to linear-series@1, a forecaster" in refused(
        linear_series, SERIES_WINDOW, ExplainOptions(compare="x")
    )


def test_text_with_no_words_and_input_of_the_wrong_kind_are_refused(tiny_text: LoadedModel) -> None:
    assert "text 0 is empty" in refused(tiny_text, [" "], ExplainOptions())
    assert "this model takes 2 inputs (input_ids, attention_mask)" in refused(tiny_text, 3.5, ExplainOptions())


def test_attributions_of_the_wrong_length_cannot_be_scored(linear_series: LoadedModel) -> None:
    with pytest.raises(InvalidInput, match="attributions of item 0 hold 3 values for its 8 units"):
        score_attributions(linear_series, [SERIES_WINDOW], [np.zeros(3)])
    with pytest.raises(InvalidInput, match="2 attribution arrays for 1 items"):
        score_attributions(linear_series, [SERIES_WINDOW], [np.zeros(8), np.zeros(8)])
