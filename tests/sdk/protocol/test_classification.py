"""The classification extension (Triton's): an output's top classes as "<value>:<index>[:<label>]" strings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sdk.errors import InvalidInput, MalformedRequest
from sdk.protocol import classification
from sdk.protocol.codec import decode_request, decode_response, encode_request, encode_response


def strings(array: np.ndarray) -> list:
    return [[s.decode() for s in row] for row in array] if array.ndim == 2 else [s.decode() for s in array]


def test_top_classes_per_row_highest_first_ties_by_the_lower_index() -> None:
    logits = np.array([[1, 5, 10, 4], [2, 2, 7, 2]], dtype=np.float32)
    got = classification.classify("y", logits, 3)
    assert got.shape == (2, 3) and got.dtype == object
    assert strings(got) == [
        ["10.000000:2", "5.000000:1", "4.000000:3"],  # the specification's example: [1, 5, 10, 4]
        ["7.000000:2", "2.000000:0", "2.000000:1"],
    ]


def test_labels_are_added_when_the_output_has_one_value_per_label() -> None:
    logits = np.array([[0.1, 0.7, 0.2]], dtype=np.float32)
    assert strings(classification.classify("y", logits, 2, ["cat", "dog", "eel"])) == [
        ["0.700000:1:dog", "0.200000:2:eel"]
    ]
    # Labels that do not match the output's width are not guessed at.
    assert strings(classification.classify("y", logits, 1, ["a", "b"])) == [["0.700000:1"]]


def test_a_count_above_the_classes_returns_every_class() -> None:
    assert classification.classify("y", np.zeros((4, 3), np.float32), 50).shape == (4, 3)

    def asking(count: int) -> bytes:
        return json.dumps(
            {
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}],
                "outputs": [{"name": "y", "parameters": {"classification": count}}],
            }
        ).encode()

    request = decode_request(asking(2**62), {"content-type": "application/json"})
    assert request.outputs is not None and request.outputs[0].classification == 2**62
    assert classification.classify("y", np.zeros((4, 3), np.float32), 2**62).shape == (4, 3)
    with pytest.raises(MalformedRequest, match="must be a positive integer"):  # beyond 64 bits orjson reads a float
        decode_request(asking(10**30), {"content-type": "application/json"})
    with pytest.raises(MalformedRequest, match="must be a positive integer up to"):  # the standard library, an int
        classification.parse_count("y", 10**30)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int64, np.uint64])
def test_integers_rank_as_integers_unsigned_included(dtype) -> None:
    values = np.array([[3, 0, np.iinfo(dtype).max]], dtype=dtype)
    top = strings(classification.classify("y", values, 2))
    assert top == [[f"{np.iinfo(dtype).max}:2", "3:0"]]


def test_half_precision_and_rows_of_any_rank() -> None:
    half = np.array([[0.5, 1.5]], dtype=np.float16)
    assert strings(classification.classify("y", half, 1)) == [["1.500000:1"]]
    grid = np.arange(12, dtype=np.float32).reshape(2, 2, 3)  # each row flattened, as Triton counts elements
    assert strings(classification.classify("y", grid, 1)) == [["5.000000:5"], ["11.000000:5"]]
    flat = np.array([0.2, 0.9, 0.1], dtype=np.float32)  # no batch dimension: [count]
    assert strings(classification.classify("y", flat, 2)) == ["0.900000:1", "0.200000:0"]


@pytest.mark.parametrize("dtype", [np.bool_, object])
def test_data_that_cannot_be_ranked_is_a_400(dtype) -> None:
    with pytest.raises(InvalidInput, match="cannot rank"):
        classification.classify("y", np.zeros((1, 2), dtype=dtype), 1)


def test_the_strings_one_output_may_become_are_bounded() -> None:
    wide = np.zeros((101, 1000), np.float32)
    with pytest.raises(InvalidInput, match=r"101000 strings, more than the 100000"):
        classification.classify("y", wide, 1000)
    assert classification.classify("y", wide, 990).shape == (101, 990)


@pytest.mark.parametrize("count", [0, -1, 1.5, "3", True, [3]])
def test_a_count_that_is_no_positive_integer_is_a_malformed_request(count) -> None:
    body = json.dumps(
        {
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}],
            "outputs": [{"name": "y", "parameters": {"classification": count}}],
        }
    ).encode()
    with pytest.raises(MalformedRequest, match=r"output 'y': parameters.classification must be a positive integer"):
        decode_request(body, {"content-type": "application/json"})


@pytest.mark.parametrize("binary", [False, True])
def test_a_response_carries_the_classes_as_bytes_in_json_or_binary(binary: bool) -> None:
    body = json.dumps(
        {
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}],
            "outputs": [
                {"name": "logits", "parameters": {"classification": 2, "binary_data": binary}},
                {"name": "other"},
            ],
        }
    ).encode()
    request = decode_request(body, {"content-type": "application/json"})
    assert request.outputs is not None and request.outputs[0].classification == 2
    logits = np.array([[0.1, 0.3, 0.6]], dtype=np.float32)
    other = np.array([[1.0]], dtype=np.float32)
    out, headers = encode_response(
        {"logits": logits, "other": other}, model_name="m", model_version="1", request=request, labels=["a", "b", "c"]
    )
    outputs, _ = decode_response(out, headers)
    assert outputs["logits"].shape == (1, 2)
    assert strings(outputs["logits"]) == [["0.600000:2:c", "0.300000:1:b"]]
    np.testing.assert_array_equal(outputs["other"], other)  # an output asked for plainly stays a tensor


def test_without_the_parameter_nothing_changes() -> None:
    body, headers = encode_request({"x": np.ones(1, np.float32)}, binary=False, outputs=["logits"])
    request = decode_request(body, headers)
    assert request.outputs is not None and request.outputs[0].classification is None
    logits = np.array([[0.1, 0.3]], dtype=np.float32)
    outputs, _ = decode_response(
        *encode_response({"logits": logits}, model_name="m", model_version="1", request=request)
    )
    np.testing.assert_array_equal(outputs["logits"], logits)
