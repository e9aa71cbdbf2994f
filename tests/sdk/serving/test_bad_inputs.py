"""Bad requests against the real server: each gets the right status and a message naming the problem, and the server
still answers a good request afterwards."""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
import numpy as np
import pytest

from tests.sdk.protocol.test_codec import SPEC_REQUEST

pytestmark = pytest.mark.integration

DIGITS = "/v2/models/digits-cnn/infer"
PAIR = "/v2/models/pair/infer"
SPEC = "/v2/models/mymodel/infer"
JSON = {"content-type": "application/json"}


def image(**overrides: Any) -> dict[str, Any]:
    tensor = {"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0.5] * 64}
    tensor.update(overrides)
    return tensor


def doc(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def binary(head: dict[str, Any], blob: bytes) -> tuple[bytes, dict[str, str]]:
    text = json.dumps(head).encode()
    return text + blob, {"inference-header-content-length": str(len(text)), "content-type": "application/octet-stream"}


def pair(ids: Any, mask: Any, ids_shape: list[int], mask_shape: list[int], ids_type: str = "INT64") -> bytes:
    return doc(
        {"name": "ids", "shape": ids_shape, "datatype": ids_type, "data": ids},
        {"name": "mask", "shape": mask_shape, "datatype": "FP32", "data": mask},
    )


_inf_blob = struct.pack("<64f", *([0.0] * 63 + [float("inf")]))
HUGE_BINARY = binary(
    {
        "inputs": [
            {
                "name": "image",
                "shape": [100_000_000, 1, 8, 8],
                "datatype": "FP32",
                "parameters": {"binary_data_size": 256},
            }
        ]
    },
    b"\0" * 256,
)
INF_BINARY = binary(
    {"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "parameters": {"binary_data_size": 256}}]},
    _inf_blob,
)
SHORT_BINARY = binary(
    {"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "parameters": {"binary_data_size": 256}}]},
    b"\0" * 255,
)

# (case id, method, path, body, headers, status, a fragment of the error message)
CASES: list[tuple[str, str, str, bytes, dict[str, str], int, str]] = [
    ("truncated-json", "POST", DIGITS, b'{"inputs": [{"name": "image"', JSON, 400, "not valid JSON"),
    ("empty-body", "POST", DIGITS, b"", JSON, 400, "request body is empty"),
    ("not-an-object", "POST", DIGITS, b"[]", JSON, 400, "must be a JSON object, got a list"),
    ("inputs-missing", "POST", DIGITS, b"{}", JSON, 400, "'inputs' is required"),
    ("inputs-not-a-list", "POST", DIGITS, b'{"inputs": {}}', JSON, 400, "'inputs' must be a list"),
    ("inputs-empty", "POST", DIGITS, b'{"inputs": []}', JSON, 400, "'inputs' is empty"),
    ("input-not-an-object", "POST", DIGITS, b'{"inputs": [1]}', JSON, 400, "inputs[0] must be an object"),
    (
        "input-name-missing",
        "POST",
        DIGITS,
        doc({"shape": [1], "datatype": "FP32", "data": [1]}),
        JSON,
        400,
        "inputs[0]: 'name' is required",
    ),
    (
        "datatype-missing",
        "POST",
        DIGITS,
        doc({"name": "image", "shape": [1], "data": [1]}),
        JSON,
        400,
        "input 'image': 'datatype' is required",
    ),
    (
        "wrong-datatype-name",
        "POST",
        DIGITS,
        doc(image(datatype="FLOAT32")),
        JSON,
        400,
        "unknown datatype 'FLOAT32' (did you mean 'FP32'?)",
    ),
    ("bf16-datatype", "POST", DIGITS, doc(image(datatype="BF16")), JSON, 400, "'BF16' has no numpy equivalent"),
    (
        "datatype-the-model-does-not-take",
        "POST",
        DIGITS,
        doc(image(datatype="FP64")),
        JSON,
        400,
        "input 'image': the model takes datatype FP32, got FP64",
    ),
    (
        "shape-missing",
        "POST",
        DIGITS,
        doc({"name": "image", "datatype": "FP32", "data": [1]}),
        JSON,
        400,
        "input 'image': 'shape' is required",
    ),
    ("shape-not-a-list", "POST", DIGITS, doc(image(shape="1,1,8,8")), JSON, 400, "'shape' must be a list of integers"),
    ("negative-shape", "POST", DIGITS, doc(image(shape=[-1, 1, 8, 8])), JSON, 400, "must not hold negative sizes"),
    (
        "fractional-shape",
        "POST",
        DIGITS,
        doc(image(shape=[1.5, 1, 8, 8])),
        JSON,
        400,
        "'shape' must hold integers, got 1.5",
    ),
    (
        "shape-data-length-mismatch",
        "POST",
        DIGITS,
        doc(image(data=[0.5] * 63)),
        JSON,
        400,
        "shape [1, 1, 8, 8] holds 64 element(s) but 'data' has 63",
    ),
    ("wrong-rank", "POST", DIGITS, doc(image(shape=[1, 8, 8])), JSON, 400, "expected rank 4"),
    ("wrong-fixed-dimension", "POST", DIGITS, doc(image(shape=[1, 1, 4, 16])), JSON, 400, "dimension 2 must be 8"),
    (
        "nan-where-forbidden",
        "POST",
        DIGITS,
        b'{"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [NaN'
        + b", 0.5" * 63
        + b"]}]}",
        JSON,
        400,
        "holds 1 NaN or infinite value(s)",
    ),
    ("infinity-in-binary-data", "POST", DIGITS, INF_BINARY[0], INF_BINARY[1], 400, "holds 1 NaN or infinite value(s)"),
    (
        "huge-shape-tiny-data",
        "POST",
        DIGITS,
        doc(image(shape=[1_000_000_000, 1, 8, 8])),
        JSON,
        413,  # refused on the declared shape, before the data is looked at
        "spans 64000000000 elements; this server accepts at most 8388608 per request",
    ),
    (
        "huge-shape-tiny-binary",
        "POST",
        DIGITS,
        HUGE_BINARY[0],
        HUGE_BINARY[1],
        413,
        "spans 6400000000 elements; this server accepts at most 8388608 per request",
    ),
    (
        "binary-shorter-than-claimed",
        "POST",
        DIGITS,
        SHORT_BINARY[0],
        SHORT_BINARY[1],
        400,
        "the tensors claim 256 bytes",
    ),
    (
        "binary-without-header",
        "POST",
        DIGITS,
        doc({"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "parameters": {"binary_data_size": 256}}),
        JSON,
        400,
        "has no Inference-Header-Content-Length header",
    ),
    (
        "header-not-a-number",
        "POST",
        DIGITS,
        doc(image()),
        {"inference-header-content-length": "ten"},
        400,
        "must be a byte count, got 'ten'",
    ),
    (
        "header-longer-than-body",
        "POST",
        DIGITS,
        doc(image()),
        {"inference-header-content-length": "99999"},
        400,
        "Inference-Header-Content-Length is 99999 but the body has only",
    ),
    (
        "data-and-binary-both",
        "POST",
        DIGITS,
        doc(image(parameters={"binary_data_size": 256})),
        JSON,
        400,
        "has both 'data' and parameters.binary_data_size",
    ),
    (
        "no-data",
        "POST",
        DIGITS,
        doc({"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32"}),
        JSON,
        400,
        "input 'image' has no 'data'",
    ),
    (
        "strings-for-fp32",
        "POST",
        DIGITS,
        doc(image(data=["0.5"] * 64)),
        JSON,
        400,
        "FP32 data must be numbers, got '0.5'",
    ),
    (
        "booleans-for-fp32",
        "POST",
        DIGITS,
        doc(image(data=[True] * 64)),
        JSON,
        400,
        "FP32 data must be numbers, got True",
    ),
    ("nulls-in-data", "POST", DIGITS, doc(image(data=[None] * 64)), JSON, 400, "FP32 data must be numbers, got None"),
    (
        "ragged-nested-data",
        "POST",
        DIGITS,
        doc(image(shape=[2, 2], data=[[1, 2], [3]])),
        JSON,
        400,
        "not a rectangular nested list",
    ),
    (
        "fractions-for-int64",
        "POST",
        PAIR,
        pair([1.5], [1.0], [1, 1], [1, 1]),
        JSON,
        400,
        "INT64 data must be integers, got 1.5",
    ),
    (
        "int-out-of-range",
        "POST",
        PAIR,
        pair([1, 300], [1.0, 1.0], [1, 2], [1, 2], ids_type="INT8"),
        JSON,
        400,
        "value 300 is out of range for INT8",
    ),
    (
        "ints-for-bool",
        "POST",
        SPEC,
        doc(
            {"name": "input0", "shape": [2, 2], "datatype": "INT32", "data": [1, 2, 3, 4]},
            {"name": "input1", "shape": [3], "datatype": "BOOL", "data": [1, 0, 1]},
        ),
        JSON,
        400,
        "BOOL data must be true or false, got 1",
    ),
    (
        "spec-example-verbatim",
        "POST",
        SPEC,
        SPEC_REQUEST.encode(),
        JSON,
        400,
        "input 'input1': shape [3] holds 3 element(s) but 'data' has 1",
    ),
    (
        "missing-input",
        "POST",
        PAIR,
        doc({"name": "ids", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]}),
        JSON,
        400,
        "missing input(s) 'mask'",
    ),
    (
        "extra-input",
        "POST",
        DIGITS,
        doc(image(), {"name": "extra", "shape": [1], "datatype": "FP32", "data": [1]}),
        JSON,
        400,
        "unknown input(s) 'extra'",
    ),
    ("duplicate-input", "POST", DIGITS, doc(image(), image()), JSON, 400, "input 'image' is given twice"),
    (
        "inputs-disagree-on-a-named-dim",
        "POST",
        PAIR,
        pair([1, 2, 3], [1.0, 1.0], [1, 3], [1, 2]),
        JSON,
        400,
        "inputs must agree on sequence",
    ),
    (
        "dimension-over-its-bound",
        "POST",
        PAIR,
        pair([1] * 65, [1.0] * 65, [1, 65], [1, 65]),
        JSON,
        400,
        "the model accepts at most 64",
    ),
    ("empty-tensor", "POST", DIGITS, doc(image(shape=[0, 1, 8, 8], data=[])), JSON, 400, "input 'image' is empty"),
    (
        "unknown-output",
        "POST",
        DIGITS,
        doc(image(), outputs=[{"name": "embedding"}]),
        JSON,
        400,
        "unknown output 'embedding'; the model's outputs are: logits, probabilities",
    ),
    ("outputs-not-a-list", "POST", DIGITS, doc(image(), outputs="logits"), JSON, 400, "'outputs' must be a list"),
    (
        "duplicate-output",
        "POST",
        DIGITS,
        doc(image(), outputs=[{"name": "logits"}, {"name": "logits"}]),
        JSON,
        400,
        "output 'logits' is requested twice",
    ),
    (
        "binary-output-flag-not-bool",
        "POST",
        DIGITS,
        doc(image(), parameters={"binary_data_output": "yes"}),
        JSON,
        400,
        "parameters.binary_data_output must be true or false",
    ),
    (
        "parameters-not-an-object",
        "POST",
        DIGITS,
        doc(image(), parameters=[1]),
        JSON,
        400,
        "'parameters' must be an object, got a list",
    ),
    ("id-not-a-string", "POST", DIGITS, doc(image(), id=42), JSON, 400, "'id' must be a string, got a number"),
    ("not-utf8", "POST", DIGITS, b"\xff\xfe\x00{", JSON, 400, "not UTF-8 JSON"),
    (
        "wrong-content-type",
        "POST",
        DIGITS,
        doc(image()),
        {"content-type": "text/plain"},
        415,
        "Content-Type 'text/plain' is not supported",
    ),
    (
        "multipart-content-type",
        "POST",
        DIGITS,
        doc(image()),
        {"content-type": "multipart/form-data; boundary=x"},
        415,
        "is not supported",
    ),
    (
        "unknown-model",
        "POST",
        "/v2/models/resnet/infer",
        doc(image()),
        JSON,
        404,
        "unknown model 'resnet'; this server serves: digits-cnn, mymodel, pair",
    ),
    (
        "unknown-version",
        "POST",
        "/v2/models/digits-cnn/versions/7/infer",
        doc(image()),
        JSON,
        404,
        "model digits-cnn has no version or alias '7' (versions: 1)",
    ),
    ("unknown-model-metadata", "GET", "/v2/models/resnet", b"", {}, 404, "unknown model 'resnet'"),
    ("oversize-body", "POST", DIGITS, doc(image(data=[0.5] * 20_000)), JSON, 413, "this server accepts at most 65536"),
    ("wrong-method", "GET", DIGITS, b"", {}, 405, "GET is not allowed on /v2/models/digits-cnn/infer; use POST"),
    ("wrong-method-on-health", "DELETE", "/v2/health/ready", b"", {}, 405, "use GET, HEAD"),
    (
        "empty-outputs-list",
        "POST",
        DIGITS,
        doc(image(), outputs=[]),
        JSON,
        400,
        '"outputs": [] asks for no outputs; omit the "outputs" key to get every output',
    ),
    (
        "corrupt-gzip-body",
        "POST",
        DIGITS,
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x07",
        {**JSON, "content-encoding": "gzip"},
        400,
        "request body is not valid gzip data",
    ),
    ("brotli-body", "POST", DIGITS, doc(image()), {**JSON, "content-encoding": "br"}, 415, "Content-Encoding 'br'"),
    (
        "sagemaker-json-header-size-not-a-number",
        "POST",
        DIGITS,
        doc(image()),
        {"content-type": "application/vnd.sagemaker-triton.binary+json;json-header-size=x1"},
        400,
        "the Content-Type's json-header-size must be a byte count, got 'x1'",
    ),
    (
        "unknown-route",
        "POST",
        "/v1/models/digits-cnn:predict",
        doc(image()),
        JSON,
        404,
        "no route POST /v1/models/digits-cnn:predict",
    ),
    (
        "invocations-unnamed-among-several",
        "POST",
        "/invocations",
        doc(image()),
        JSON,
        400,
        "name one with the X-Amzn-SageMaker-Target-Model header",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_request_is_answered_with_the_right_status_and_a_precise_message(
    http: httpx.Client, method: str, path: str, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    response = http.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert message in error, error


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


def test_server_still_answers_a_good_request_after_the_bad_ones(http: httpx.Client, digit_7: np.ndarray) -> None:
    for method, path, body, headers, *_ in [c[1:] for c in CASES]:
        http.request(method, path, content=body, headers=headers)
    assert http.get("/v2/health/ready").status_code == 200
    response = http.post(DIGITS, content=doc(image(data=digit_7.ravel().tolist())), headers=JSON)
    assert response.status_code == 200
    assert int(np.argmax(response.json()["outputs"][1]["data"])) == 7
