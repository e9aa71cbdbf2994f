"""The response fast path (``sdk.protocol.plain``): the same arrays as the codec's general path for the responses
servers commonly send, and None (so the general path reads it and names what is wrong) for anything else."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from sdk.errors import MalformedRequest
from sdk.protocol import codec
from sdk.protocol.codec import decode_request, decode_response, encode_request, encode_response
from sdk.protocol.framing import HEADER_LENGTH, split_message
from sdk.protocol.plain import plain_outputs

RNG = np.random.default_rng(0)
OUTPUTS: dict[str, np.ndarray] = {
    "logits": RNG.random((2, 10), dtype=np.float32),
    "ids": np.arange(6, dtype=np.int64).reshape(2, 3),
    "half": RNG.random((3,)).astype(np.float16),
    "small": np.array([[1, 255]], dtype=np.uint8),
    "wide": RNG.random((1, 2, 2)),
}


def response(outputs: dict[str, np.ndarray], binary: bool) -> tuple[bytes, dict[str, str]]:
    body, headers = encode_request({"x": np.zeros(1, np.float32)}, binary=binary)
    return encode_response(outputs, model_name="m", model_version="1", request=decode_request(body, headers))


def general(body: bytes, headers: dict[str, str]) -> dict[str, np.ndarray]:
    document, binary = split_message(body, headers, what="response")
    return codec._decode_tensors(document["outputs"], binary, role="output")[0]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_plain_path_returns_the_general_paths_arrays_for_common_responses(binary: bool) -> None:
    body, headers = response(OUTPUTS, binary)
    document, blob = split_message(body, headers, what="response")
    fast = plain_outputs(document["outputs"], blob, booleans=lambda: False)
    assert fast is not None
    expected = general(body, headers)
    assert list(fast[0]) == list(expected) == list(OUTPUTS)
    for name, array in fast[0].items():
        assert array.dtype == expected[name].dtype == OUTPUTS[name].dtype
        assert array.shape == expected[name].shape
        np.testing.assert_array_equal(array, expected[name])


def test_plain_path_reads_nested_json_data_and_a_mix_of_json_and_binary_outputs() -> None:
    document = {
        "outputs": [
            {"name": "a", "datatype": "FP32", "shape": [2, 2], "data": [[1.0, 2.0], [3.0, 4.5]]},
            {"name": "b", "datatype": "INT32", "shape": [2], "parameters": {"binary_data_size": 8}},
        ]
    }
    head = json.dumps(document).encode()
    body = head + np.array([7, -1], dtype="<i4").tobytes()
    arrays, meta = decode_response(body, {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(head))})
    np.testing.assert_array_equal(arrays["a"], np.array([[1.0, 2.0], [3.0, 4.5]], dtype=np.float32))
    np.testing.assert_array_equal(arrays["b"], np.array([7, -1], dtype=np.int32))
    assert meta["output_parameters"]["b"] == {"binary_data_size": 8}


def test_decode_response_takes_the_plain_path_for_a_common_response(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the general path ran")

    messages = [response(OUTPUTS, binary) for binary in (False, True)]
    monkeypatch.setattr(codec, "_decode_tensors", refuse)
    for body, headers in messages:
        arrays, _ = decode_response(body, headers)
        np.testing.assert_array_equal(arrays["logits"], OUTPUTS["logits"])


BAD = {
    "a boolean among numbers": ({"name": "y", "datatype": "FP32", "shape": [2], "data": [True, 0.5]}, "boolean"),
    "too few elements": ({"name": "y", "datatype": "FP32", "shape": [3], "data": [1.0, 2.0]}, "holds 3 element"),
    "ragged data": ({"name": "y", "datatype": "FP32", "shape": [2, 2], "data": [[1.0], [2.0, 3.0]]}, "rectangular"),
    "a float for an integer": ({"name": "y", "datatype": "INT64", "shape": [1], "data": [1.5]}, "integers"),
    "out of range": ({"name": "y", "datatype": "UINT8", "shape": [1], "data": [300]}, "out of range"),
    "text for a number": ({"name": "y", "datatype": "FP32", "shape": [1], "data": ["x"]}, "must be numbers"),
    "an unknown datatype": ({"name": "y", "datatype": "FLOAT", "shape": [1], "data": [1.0]}, "did you mean 'FP32'"),
    "a list for a datatype": ({"name": "y", "datatype": ["FP32"], "shape": [1], "data": [1.0]}, "must be a string"),
    "a negative dimension": ({"name": "y", "datatype": "FP32", "shape": [-1], "data": [1.0]}, "negative"),
    "no data": ({"name": "y", "datatype": "FP32", "shape": [1]}, "has no 'data'"),
    "parameters not an object": (
        {"name": "y", "datatype": "FP32", "shape": [1], "data": [1.0], "parameters": []},
        "'parameters' must be an object",
    ),
}


@pytest.mark.parametrize("entry,message", list(BAD.values()), ids=list(BAD))
def test_plain_path_leaves_a_wrong_output_to_the_general_path_which_names_it(
    entry: dict[str, Any], message: str
) -> None:
    body = json.dumps({"outputs": [entry]}).encode()
    document, blob = split_message(body, {}, what="response")
    assert plain_outputs(document["outputs"], blob, booleans=lambda: b"true" in body) is None
    with pytest.raises(MalformedRequest, match=message):
        decode_response(body, {"content-type": "application/json"})


def test_plain_path_leaves_binary_sizes_that_do_not_add_up_to_the_general_path() -> None:
    head = json.dumps(
        {"outputs": [{"name": "y", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}]}
    ).encode()
    body = head + b"\0" * 12  # 4 bytes too many
    headers = {HEADER_LENGTH: str(len(head))}
    document, blob = split_message(body, headers, what="response")
    assert plain_outputs(document["outputs"], blob, booleans=lambda: False) is None
    with pytest.raises(MalformedRequest, match="claim 8 bytes"):
        decode_response(body, headers)


def test_plain_path_leaves_bytes_bool_empty_and_duplicate_outputs_to_the_general_path() -> None:
    cases = [
        [{"name": "t", "datatype": "BYTES", "shape": [1], "data": ["hi"]}],
        [{"name": "b", "datatype": "BOOL", "shape": [1], "data": [True]}],
        [{"name": "e", "datatype": "FP32", "shape": [0], "data": []}],
        [{"name": "d", "datatype": "FP32", "shape": [1], "data": [1.0]}] * 2,
    ]
    for items in cases:
        assert plain_outputs(items, None, booleans=lambda: False) is None
    arrays, _ = decode_response(json.dumps({"outputs": cases[0] + cases[1] + cases[2]}).encode(), {})
    assert arrays["t"].tolist() == [b"hi"] and arrays["b"].tolist() == [True] and arrays["e"].shape == (0,)
    with pytest.raises(MalformedRequest, match="given twice"):
        decode_response(json.dumps({"outputs": cases[3]}).encode(), {})
