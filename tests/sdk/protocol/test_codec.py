"""The OIP codec: every datatype both ways, JSON and binary, the specification's own examples, precise errors that
name an input as an input and an output as an output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sdk.errors import MalformedRequest, ModelNotFound, Overloaded
from sdk.protocol.codec import (
    InferRequest,
    RequestedOutput,
    decode_request,
    decode_response,
    encode_error,
    encode_request,
    encode_response,
)
from sdk.protocol.datatypes import OIP_TO_NUMPY, numpy_dtype, oip_datatype
from sdk.protocol.framing import HEADER_LENGTH

# The example inference request of the Open Inference Protocol (KServe v2) specification, verbatim. Note that the
# specification's own example is inconsistent: input1 has shape [3] and one data element.
SPEC_REQUEST = """{
  "id" : "42",
  "inputs" : [
    {
      "name" : "input0",
      "shape" : [ 2, 2 ],
      "datatype" : "UINT32",
      "data" : [ 1, 2, 3, 4 ]
    },
    {
      "name" : "input1",
      "shape" : [ 3 ],
      "datatype" : "BOOL",
      "data" : [ true ]
    }
  ],
  "outputs" : [
    {
      "name" : "output0"
    }
  ]
}"""

# The specification's example response, verbatim: it lacks the comma after "id" (invalid JSON as printed).
SPEC_RESPONSE = """{
  "id" : "42"
  "outputs" : [
    {
      "name" : "output0",
      "shape" : [ 3, 2 ],
      "datatype"  : "FP32",
      "data" : [ 1.0, 1.1, 2.0, 2.1, 3.0, 3.1 ]
    }
  ]
}"""


def _sample(datatype: str) -> np.ndarray:
    if datatype == "BYTES":
        return np.array([[b"hello", b""], [b"\xc3\xa9t\xc3\xa9", b"x" * 70]], dtype=object)
    if datatype == "BOOL":
        return np.array([[True, False, True], [False, False, True]])
    dtype = numpy_dtype(datatype)
    if dtype.kind == "f":
        return np.array([[-1.5, 0.0, 3.25], [1e3, -0.125, 7.0]], dtype=dtype)
    info = np.iinfo(dtype)
    return np.array([[info.min, 0, info.max], [1, 2, 3]], dtype=dtype)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("datatype", list(OIP_TO_NUMPY))
def test_every_datatype_round_trips_exactly(datatype: str, binary: bool) -> None:
    array = _sample(datatype)
    body, headers = encode_request({"x": array}, binary=binary, request_id="r-1")
    assert (HEADER_LENGTH in headers) == binary
    request = decode_request(body, headers)
    decoded = request.inputs["x"]
    assert decoded.shape == array.shape
    assert oip_datatype(decoded.dtype) == datatype
    assert decoded.tolist() == array.tolist()
    response_body, response_headers = encode_response(
        {"y": decoded}, model_name="m", model_version="1", request=request
    )
    outputs, meta = decode_response(response_body, response_headers)
    assert outputs["y"].tolist() == array.tolist()
    assert meta["id"] == "r-1"


def test_specification_example_request_is_read_and_its_inconsistency_named() -> None:
    with pytest.raises(MalformedRequest, match=r"input 'input1': shape \[3\] holds 3 element\(s\) but 'data' has 1"):
        decode_request(SPEC_REQUEST.encode(), {"content-type": "application/json"})
    fixed = json.loads(SPEC_REQUEST)
    fixed["inputs"][1]["data"] = [True, False, True]
    request = decode_request(json.dumps(fixed).encode(), {})
    assert request.id == "42"
    assert request.inputs["input0"].dtype == np.uint32
    assert request.inputs["input0"].tolist() == [[1, 2], [3, 4]]
    assert request.inputs["input1"].tolist() == [True, False, True]
    assert request.outputs == (RequestedOutput(name="output0"),)


def test_specification_example_response_is_refused_as_printed_and_read_when_fixed() -> None:
    with pytest.raises(MalformedRequest, match=r"response body is not valid JSON: Expecting ',' delimiter: line 3"):
        decode_response(SPEC_RESPONSE.encode(), {})
    outputs, meta = decode_response(SPEC_RESPONSE.replace('"42"\n', '"42",\n').encode(), {})
    assert meta["id"] == "42"
    np.testing.assert_array_equal(outputs["output0"], np.array([[1.0, 1.1], [2.0, 2.1], [3.0, 3.1]], np.float32))


def test_nested_row_major_data_is_accepted() -> None:
    body = {
        "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [[6.8, 2.8, 4.8, 1.4], [6, 3, 4, 1]]}]
    }
    x = decode_request(json.dumps(body).encode(), {}).inputs["x"]
    assert x.dtype == np.float32 and x.shape == (2, 4) and x[1, 0] == 6.0


def test_binary_outputs_only_where_asked() -> None:
    outputs = {"a": np.arange(4, dtype=np.float32), "b": np.arange(3, dtype=np.int64)}
    request = InferRequest(inputs={}, outputs=(RequestedOutput("b", binary=True), RequestedOutput("a")))
    body, headers = encode_response(outputs, model_name="m", model_version="2", request=request)
    head = json.loads(body[: int(headers[HEADER_LENGTH])])
    assert [o["name"] for o in head["outputs"]] == ["b", "a"]
    assert head["outputs"][0]["parameters"] == {"binary_data_size": 24}
    assert head["outputs"][1]["data"] == [0.0, 1.0, 2.0, 3.0]
    decoded, meta = decode_response(body, {k.title(): v for k, v in headers.items()})  # header case does not matter
    assert decoded["b"].tolist() == [0, 1, 2] and meta["model_version"] == "2"


def test_request_level_binary_output_and_parameters() -> None:
    body, headers = encode_request(
        {"x": np.ones((1, 2), np.float32)}, binary=False, parameters={"binary_data_output": True, "k": 1}
    )
    request = decode_request(body, headers)
    assert request.binary_output is True and request.parameters["k"] == 1
    out_body, out_headers = encode_response(
        {"y": np.ones(2, np.float16)}, model_name="m", model_version="1", request=request
    )
    assert HEADER_LENGTH in out_headers
    assert decode_response(out_body, out_headers)[0]["y"].dtype == np.float16


def test_named_outputs_from_the_client() -> None:
    body, _ = encode_request({"x": np.zeros(1, np.float32)}, binary=False, outputs=["p"])
    assert json.loads(body)["outputs"] == [{"name": "p", "parameters": {"binary_data": False}}]
    body, _ = encode_request({"x": np.zeros(1, np.float32)}, binary=True, outputs={"p": True, "q": False})
    head = json.loads(body[: body.index(b"}]}") + 3])
    assert head["outputs"][1] == {"name": "q", "parameters": {"binary_data": False}}


def test_error_responses_raise_the_error_of_their_status() -> None:
    with pytest.raises(ModelNotFound, match="no such model"):
        decode_response(encode_error("no such model"), {}, status=404)
    with pytest.raises(Overloaded):
        decode_response(encode_error("busy"), {}, status=503)
    with pytest.raises(Overloaded):
        decode_response(b"<html>busy</html>", {}, status=503)


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"", {}, "request body is empty"),
        (b'{"inputs": [', {}, "not valid JSON: Expecting value: line 1 column 13"),
        (b"\xff\xfe{}", {}, "not UTF-8 JSON"),
        (b"[1, 2]", {}, "must be a JSON object, got a list"),
        (b'{"inputs": []}', {}, "'inputs' is empty"),
        (b'{"id": 5, "inputs": []}', {}, "'id' must be a string, got a number"),
        (b"{}", {HEADER_LENGTH: "abc"}, "Inference-Header-Content-Length must be a byte count, got 'abc'"),
        (b"{}", {HEADER_LENGTH: "99"}, "Inference-Header-Content-Length is 99 but the body has only 2 bytes"),
        (
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}',
            {},
            "input 'x' is sent as binary data but the request has no Inference-Header-Content-Length header",
        ),
        (b'{"inputs": [{"name": "x", "shape": [2], "datatype": "BF16", "data": [1, 2]}]}', {}, "'BF16' has no numpy"),
        (
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "float32", "data": [1, 2]}]}',
            {},
            "unknown datatype 'float32' \\(did you mean 'FP32'\\?\\)",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "INT8", "data": [1, 300]}]}',
            {},
            r"value 300 is out of range for INT8 \[-128, 127\]",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "INT64", "data": [1, 2.5]}]}',
            {},
            "INT64 data must be integers, got 2.5",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "BOOL", "data": [1, 0]}]}',
            {},
            "BOOL data must be true or false, got 1",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, "a"]}]}',
            {},
            "FP32 data must be numbers, got 'a'",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "INT64", "data": [1, 99999999999999999999999]}]}',
            {},
            # orjson (the serve extra) reads integers past 64 bits as floats; the standard library keeps them
            "INT64 data must be integers|value 99999999999999999999999 is out of range for INT64",
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3]]}]}',
            {},
            "'data' is not a rectangular nested list",
        ),
    ],
)
def test_malformed_requests_name_the_problem(body: bytes, headers: dict[str, str], message: str) -> None:
    with pytest.raises(MalformedRequest, match=message):
        decode_request(body, headers)


def test_binary_sizes_must_add_up() -> None:
    body, headers = encode_request({"x": np.ones(4, np.float32)}, binary=True)
    with pytest.raises(MalformedRequest, match="the tensors claim 16 bytes .* but the body carries 15"):
        decode_request(body[:-1], headers)
    with pytest.raises(MalformedRequest, match="carries 17 after the JSON header"):
        decode_request(body + b"\0", headers)


# One tensor entry at fault, the same on both sides: what the decoder says, with {side} for "input" or "output".
TENSOR_FAULTS = {
    "data-count": (
        [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1]}],
        b"",
        r"{side} 'x': shape \[2\] holds 2 element\(s\) but 'data' has 1",
    ),
    "datatype": (
        [{"name": "x", "shape": [1], "datatype": "float32", "data": [1]}],
        b"",
        r"{side} 'x': unknown datatype 'float32'",
    ),
    "negative-shape": (
        [{"name": "x", "shape": [-1], "datatype": "FP32", "data": []}],
        b"",
        r"{side} 'x': 'shape' must not hold negative sizes",
    ),
    "no-data": ([{"name": "x", "shape": [1], "datatype": "FP32"}], b"", r"{side} 'x' has no 'data'"),
    "given-twice": (
        [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}] * 2,
        b"",
        r"{side} 'x' is given twice",
    ),
    "binary-without-part": (
        [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}],
        b"",
        r"{side} 'x' is sent as binary data but the {message} has no Inference-Header-Content-Length header",
    ),
    "binary-size": (
        [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}}],
        b"\0" * 4,
        r"{side} 'x': shape \[2\] FP32 needs 8 bytes of binary data, but binary_data_size is 4",
    ),
    "binary-bool": (
        [{"name": "x", "shape": [1], "datatype": "BOOL", "parameters": {"binary_data_size": 1}}],
        b"\x02",
        r"{side} 'x': BOOL binary data must hold bytes 0 or 1",
    ),
}


@pytest.mark.parametrize("side", ["input", "output"])
@pytest.mark.parametrize(("entries", "blob", "message"), TENSOR_FAULTS.values(), ids=list(TENSOR_FAULTS))
def test_a_bad_tensor_is_named_as_the_input_or_output_it_is(
    side: str, entries: list[dict[str, object]], blob: bytes, message: str
) -> None:
    head = json.dumps({f"{side}s": entries}).encode()
    headers = {HEADER_LENGTH: str(len(head))} if blob else {}
    decode = decode_request if side == "input" else decode_response
    expected = message.format(side=side, message="request" if side == "input" else "response")
    with pytest.raises(MalformedRequest, match=expected) as caught:
        decode(head + blob, headers)
    assert ("output" if side == "input" else "input") not in caught.value.message  # never the other side's word
