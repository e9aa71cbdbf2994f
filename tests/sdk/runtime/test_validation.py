"""Every input check runs before the model, and its message names the input and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from sdk.artifacts import TensorSpec
from sdk.errors import InvalidInput
from sdk.runtime import InputValidator

IMAGE = TensorSpec(name="image", dtype="float32", shape=(-1, 1, 8, 8), dim_names=("batch", None, None, None))
IDS = TensorSpec(name="ids", dtype="int64", shape=(-1, -1), dim_names=("batch", "sequence"), max_shape=(-1, 128))
MASK = TensorSpec(name="mask", dtype="float32", shape=(-1, -1), dim_names=("batch", "sequence"))


@pytest.fixture
def image_only() -> InputValidator:
    return InputValidator([IMAGE])


@pytest.fixture
def pair() -> InputValidator:
    return InputValidator([IDS, MASK])


def test_valid_input_passes_unchanged(image_only: InputValidator) -> None:
    x = np.zeros((3, 1, 8, 8), np.float32)
    feeds = image_only({"image": x})
    assert feeds["image"] is x


def test_single_input_model_takes_a_bare_array(image_only: InputValidator) -> None:
    assert image_only(np.zeros((1, 1, 8, 8), np.float32))["image"].shape == (1, 1, 8, 8)


def test_missing_input_is_named(pair: InputValidator) -> None:
    with pytest.raises(InvalidInput, match=r"missing input\(s\) 'mask'.*takes: ids, mask"):
        pair({"ids": np.ones((1, 4), np.int64)})


def test_extra_input_is_named(image_only: InputValidator) -> None:
    with pytest.raises(InvalidInput, match=r"unknown input\(s\) 'label'"):
        image_only({"image": np.zeros((1, 1, 8, 8), np.float32), "label": 3})


def test_bare_array_for_a_multi_input_model_is_refused(pair: InputValidator) -> None:
    with pytest.raises(InvalidInput, match="takes 2 inputs"):
        pair(np.ones((1, 4), np.int64))


def test_wrong_dtype_names_input_and_expected_dtype(image_only: InputValidator) -> None:
    with pytest.raises(InvalidInput, match=r"input 'image': expected dtype float32, got float64.*astype"):
        image_only({"image": np.zeros((1, 1, 8, 8), np.float64)})


def test_wrong_rank_suggests_the_batch_axis(image_only: InputValidator) -> None:
    with pytest.raises(
        InvalidInput, match=r"expected rank 4 \[batch, 1, 8, 8\] float32, got shape \[1, 8, 8\].*x\[None\]"
    ):
        image_only({"image": np.zeros((1, 8, 8), np.float32)})


def test_wrong_fixed_dimension_is_named(image_only: InputValidator) -> None:
    with pytest.raises(InvalidInput, match=r"input 'image': dimension 2 must be 8, got 9"):
        image_only({"image": np.zeros((1, 1, 9, 8), np.float32)})


def test_empty_batch_is_refused(image_only: InputValidator) -> None:
    with pytest.raises(InvalidInput, match=r"input 'image' is empty \(shape \[0, 1, 8, 8\]\)"):
        image_only({"image": np.zeros((0, 1, 8, 8), np.float32)})


def test_dynamic_dimension_over_its_bound_is_refused(pair: InputValidator) -> None:
    with pytest.raises(InvalidInput, match="dimension 1 is 129, the model accepts at most 128"):
        pair({"ids": np.ones((1, 129), np.int64), "mask": np.ones((1, 129), np.float32)})


def test_named_dynamic_dimensions_must_agree_across_inputs(pair: InputValidator) -> None:
    with pytest.raises(InvalidInput, match="input 'mask': its sequence dimension is 5 but input 'ids' has 4"):
        pair({"ids": np.ones((1, 4), np.int64), "mask": np.ones((1, 5), np.float32)})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused_where_the_manifest_forbids_them(image_only: InputValidator, bad: float) -> None:
    x = np.zeros((2, 1, 8, 8), np.float32)
    x[1, 0, 3, 3] = bad
    with pytest.raises(InvalidInput, match=r"input 'image' holds 1 NaN or infinite value"):
        image_only({"image": x})


def test_non_finite_values_pass_where_the_manifest_allows_them() -> None:
    spec = TensorSpec(name="x", dtype="float32", shape=(-1, 2), allow_non_finite=True)
    assert np.isnan(InputValidator([spec])({"x": np.array([[np.nan, 1]], np.float32)})["x"][0, 0])


def test_json_lists_are_converted_when_nothing_is_lost(pair: InputValidator) -> None:
    feeds = pair({"ids": [[1, 2, 3]], "mask": [[1, 1, 0]]})
    assert feeds["ids"].dtype == np.int64 and feeds["mask"].dtype == np.float32


def test_json_floats_for_an_integer_input_are_refused(pair: InputValidator) -> None:
    with pytest.raises(InvalidInput, match="input 'ids': expected dtype int64, got values of float64"):
        pair({"ids": [[1.5, 2.0]], "mask": [[1.0, 1.0]]})


def test_ragged_or_non_numeric_lists_are_refused(pair: InputValidator) -> None:
    with pytest.raises(InvalidInput, match="input 'ids' is not a rectangular array"):
        pair({"ids": [[1, 2], [3]], "mask": [[1.0, 1.0], [1.0]]})
    with pytest.raises(InvalidInput, match="input 'ids' must hold numbers"):
        pair({"ids": [["a", "b"]], "mask": [[1.0, 1.0]]})


def test_batch_limit(image_only: InputValidator) -> None:
    limited = InputValidator([IMAGE], max_batch_size=4)
    with pytest.raises(InvalidInput, match="batch of 5 exceeds the limit of 4"):
        limited({"image": np.zeros((5, 1, 8, 8), np.float32)})


def test_non_contiguous_arrays_are_made_contiguous(image_only: InputValidator) -> None:
    x = np.zeros((2, 1, 8, 16), np.float32)[..., ::2]
    assert image_only({"image": x})["image"].flags.c_contiguous
