"""Text: units are the words of the artifact's own tokenizer (special tokens and padding never are), removal drops a
word's tokens and rows run at the item's own length, an embedding's similarity is explained to itself or to a second
text."""

from __future__ import annotations

import numpy as np
import pytest

from sdk.explain import CountingForward, ExplainOptions, explain
from sdk.explain.text_units import derive_text
from sdk.runtime.model import LoadedModel


def test_units_are_the_words_with_their_original_text(tiny_text: LoadedModel) -> None:
    result = explain(tiny_text, "The Cat sat on a mat", ExplainOptions(method="occlusion"))
    item = result.items[0]
    assert item.units == ["The", "Cat", "sat", "on", "a", "mat"]  # [CLS] and [SEP] are no units
    assert item.unit_kind == "word" and item.grid is None and item.view is None
    assert item.target == {"kind": "similarity", "to": "self"}
    assert item.value == pytest.approx(1.0)


def test_token_ids_give_the_same_units_as_the_text(tiny_text: LoadedModel) -> None:
    assert tiny_text.processors is not None
    feeds = tiny_text.processors.encode(["the cat sat on a mat", "a cat"]).feeds  # padded to the longer one
    from_tensors = explain(tiny_text, feeds, ExplainOptions(seed=1))
    from_text = explain(tiny_text, ["the cat sat on a mat", "a cat"], ExplainOptions(seed=1))
    assert [i.units for i in from_tensors.items] == [["the", "cat", "sat", "on", "a", "mat"], ["a", "cat"]]
    for a, b in zip(from_tensors.items, from_text.items):
        np.testing.assert_allclose(a.attributions, b.attributions, atol=1e-9)


def test_removing_a_word_drops_its_tokens_and_pads_the_end(tiny_text: LoadedModel) -> None:
    subject = derive_text(tiny_text, ["the cat sat"], None, 16)
    feeds = subject.feeds(0, np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    np.testing.assert_array_equal(feeds["input_ids"], [[1, 4, 6, 2, 0], [1, 2, 0, 0, 0], [1, 4, 5, 6, 2]])
    np.testing.assert_array_equal(feeds["attention_mask"], [[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    alone = subject.feeds(0, np.array([[0.0, 1.0, 0.0]]))
    np.testing.assert_array_equal(alone["input_ids"], [[1, 5, 2, 0, 0]])  # the item's width, whatever the rows


def test_rows_run_at_the_items_own_length_not_the_padding_it_came_with(tiny_text: LoadedModel) -> None:
    assert tiny_text.processors is not None
    padded = {
        k: np.pad(v, ((0, 0), (0, 16 - v.shape[1])))
        for k, v in tiny_text.processors.encode(["the cat sat on a mat"]).feeds.items()
    }
    widths: list[int] = []

    def forward(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        widths.append(feeds["input_ids"].shape[1])
        return tiny_text.run_validated(feeds)

    from_tensors = explain(tiny_text, padded, ExplainOptions(method="occlusion"), forward=forward)
    from_text = explain(tiny_text, "the cat sat on a mat", ExplainOptions(method="occlusion"))
    assert max(widths) == 8  # [CLS] + 6 words + [SEP], not the 16 it was padded to
    np.testing.assert_allclose(from_tensors.items[0].attributions, from_text.items[0].attributions, atol=1e-9)


def test_text_faithfulness_curves_take_six_points(tiny_text: LoadedModel) -> None:
    counting = CountingForward(tiny_text.run_validated)
    result = explain(tiny_text, "the cat sat on the mat a cat", ExplainOptions(method="occlusion"), forward=counting)
    assert counting.batches[-1] == 2 * 4  # 20%, 40%, 60%, 80% of 8 words, deletion and insertion
    assert set(result.items[0].faithfulness) == {"deletion_auc", "insertion_auc"}


def test_similarity_to_a_second_text_is_explained_and_encoded_in_the_first_call(tiny_text: LoadedModel) -> None:
    counting = CountingForward(tiny_text.run_validated)
    options = ExplainOptions(method="occlusion", compare="the mat", max_evals=64)
    result = explain(tiny_text, "the cat sat on the mat", options, forward=counting)
    item = result.items[0]
    assert item.target == {"kind": "similarity", "to": "compare"}
    assert counting.batches[0] == 1 + 2 + 6  # the compare text, the input, the empty input, one row per word
    assert result.evaluations == counting.rows - 1  # the compare row is no perturbation
    # The tiny model embeds [sum of ids, count]; cosine to "the mat" = [2+1+4+8, 4].
    emb = np.array([1 + 4 + 5 + 6 + 7 + 4 + 8 + 2, 8.0])
    ref = np.array([1 + 4 + 8 + 2, 4.0])
    assert item.value == pytest.approx(emb @ ref / np.linalg.norm(emb) / np.linalg.norm(ref), abs=1e-6)


def test_comparison_as_utf8_bytes_is_read_as_text(tiny_text: LoadedModel) -> None:
    as_bytes = explain(tiny_text, "the cat", ExplainOptions(compare=b"the mat")).items[0]
    as_text = explain(tiny_text, "the cat", ExplainOptions(compare="the mat")).items[0]
    np.testing.assert_array_equal(as_bytes.attributions, as_text.attributions)


def test_kernel_shap_on_a_short_text_is_exact_enumeration(tiny_text: LoadedModel) -> None:
    counting = CountingForward(tiny_text.run_validated)
    result = explain(tiny_text, "the cat sat on a", ExplainOptions(method="kernel_shap"), forward=counting)
    assert counting.rows == 2 + (2**5 - 2) + 2 * 4  # every coalition once, then the curves
    item = result.items[0]
    assert item.attributions.sum() == pytest.approx(item.value - item.base_value, abs=1e-9)


def test_auto_runs_occlusion_on_text(tiny_text: LoadedModel) -> None:
    assert explain(tiny_text, "the cat sat").method == "occlusion"


def test_token_ids_compared_with_a_longer_text_are_padded_to_one_width(tiny_text: LoadedModel) -> None:
    assert tiny_text.processors is not None
    feeds = tiny_text.processors.encode(["the cat"]).feeds  # 4 tokens; the compare text has 8
    options = ExplainOptions(compare="the cat sat on a mat")
    from_tensors = explain(tiny_text, feeds, options).items[0]
    from_text = explain(tiny_text, "the cat", options).items[0]
    assert from_tensors.units == ["the", "cat"]
    assert from_tensors.value == pytest.approx(from_text.value)
    np.testing.assert_allclose(from_tensors.attributions, from_text.attributions, atol=1e-9)


def test_a_rows_width_is_its_items_length_whichever_call_runs_it(tiny_text: LoadedModel) -> None:
    """Two stages (a deadline) or one, curves or method rows: every row of one item runs at the item's length, so
    its output never depends on the rows it shares a call with (edge and cloud split calls differently)."""
    widths: list[int] = []

    def forward(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        widths.append(feeds["input_ids"].shape[1])
        return tiny_text.run_validated(feeds)

    text = "the cat sat on the mat a cat"
    staged = explain(tiny_text, text, ExplainOptions(method="kernel_shap", deadline_s=60.0), forward=forward)
    assert len(widths) == 3 and set(widths) == {10}  # [CLS] + 8 words + [SEP], in both stages and the curves
    whole = explain(tiny_text, text, ExplainOptions(method="kernel_shap"))
    assert whole.calls == 2
    np.testing.assert_array_equal(staged.items[0].attributions, whole.items[0].attributions)
