"""Binary tensors through SageMaker: InvokeEndpoint drops Inference-Header-Content-Length both ways, so the JSON
header's length travels in the content type (Triton's SageMaker convention,
``application/vnd.sagemaker-triton.binary+json;json-header-size=N``). Tested on a real `sdk serve` and on the GPU
container's own entry point, with requests that carry no Inference-Header-Content-Length header, directly and through
a stand-in for InvokeEndpoint's header filtering."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from sdk.protocol.codec import decode_response, encode_request
from sdk.protocol.framing import SAGEMAKER_BINARY_CONTENT_TYPE, sagemaker_framing
from tests.sdk.serving.gpu_container import gpu_container as start_gpu_container
from tests.sdk.serving.sagemaker_front import SageMakerFront

pytestmark = pytest.mark.integration

PREFIX = f"{SAGEMAKER_BINARY_CONTENT_TYPE};json-header-size="
TARGET = {"x-amzn-sagemaker-target-model": "digits-cnn"}


def _binary_request(x: np.ndarray, **options) -> tuple[bytes, dict[str, str]]:
    body, headers = encode_request({"image": x}, binary=True, **options)
    framed = sagemaker_framing(headers)
    assert "inference-header-content-length" not in {k.lower() for k in framed}
    return body, framed


def _split_by_content_type(response: httpx.Response) -> tuple[dict, bytes]:
    """The response read as a SageMaker caller must: the JSON length from the content type, nothing else."""
    content_type = response.headers["content-type"]
    assert content_type.startswith(PREFIX), content_type
    length = int(content_type[len(PREFIX) :])
    return json.loads(response.content[:length]), response.content[length:]


def _check_binary_answer(response: httpx.Response, labels: list[int]) -> None:
    assert response.status_code == 200, response.text
    assert "inference-header-content-length" not in response.headers
    head, blob = _split_by_content_type(response)
    sizes = [o["parameters"]["binary_data_size"] for o in head["outputs"]]
    assert sum(sizes) == len(blob)
    outputs, _ = decode_response(response.content, {"content-type": response.headers["content-type"]})
    predicted = outputs["probabilities"].argmax(-1)
    assert predicted.shape == (len(labels),) and np.mean(predicted == np.asarray(labels)) > 0.95  # the CNN's ~98%


def test_invocations_read_the_json_length_from_the_content_type_and_answer_the_same_way(
    http: httpx.Client, digits_split
) -> None:
    x = digits_split.x_test[:6]
    body, headers = _binary_request(x)
    response = http.post("/invocations", content=body, headers={**headers, **TARGET})
    _check_binary_answer(response, digits_split.y_test[:6].tolist())


def test_invocations_answer_json_outputs_as_application_json(http: httpx.Client, digits_split) -> None:
    body, headers = _binary_request(digits_split.x_test[:2], outputs={"probabilities": False})
    response = http.post("/invocations", content=body, headers={**headers, **TARGET})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert len(response.json()["outputs"][0]["data"]) == 20


def test_oip_infer_route_answers_in_the_framing_it_was_asked_in(http: httpx.Client, digits_split) -> None:
    body, headers = _binary_request(digits_split.x_test[:3])
    response = http.post("/v2/models/digits-cnn/infer", content=body, headers=headers)
    _check_binary_answer(response, digits_split.y_test[:3].tolist())
    # and the binary extension's own framing is unchanged there
    plain_body, plain_headers = encode_request({"image": digits_split.x_test[:3]}, binary=True)
    plain = http.post("/v2/models/digits-cnn/infer", content=plain_body, headers=plain_headers)
    assert plain.headers["content-type"] == "application/octet-stream"
    assert "inference-header-content-length" in plain.headers


@pytest.mark.parametrize(
    ("content_type", "extra", "message"),
    [
        (PREFIX + "abc", {}, "the Content-Type's json-header-size must be a byte count, got 'abc'"),
        (PREFIX + "0", {}, "the Content-Type's json-header-size is 0"),
        (PREFIX + "999999", {}, "the Content-Type's json-header-size is 999999 but the body has only"),
        (PREFIX + "10", {"inference-header-content-length": "12"}, "disagree; send one"),
        (SAGEMAKER_BINARY_CONTENT_TYPE, {}, "or json-header-size=N in the Content-Type"),
    ],
    ids=["not-a-number", "zero", "past-the-body", "disagrees-with-header", "missing"],
)
def test_bad_json_header_size_is_a_400_naming_it(
    http: httpx.Client, digits_split, content_type: str, extra: dict[str, str], message: str
) -> None:
    body, _ = _binary_request(digits_split.x_test[:1])
    response = http.post("/invocations", content=body, headers={"content-type": content_type, **extra, **TARGET})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"], response.json()


# --- the GPU container's entry point, behind InvokeEndpoint's header filter ----------------------------------------


@pytest.fixture(scope="module")
def gpu_container(digits_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("gpu-container") / "serve.log"
    # the limits sdk serve takes as options, read from the environment as a container sets them
    limits = {"AIAAS_MAX_REQUEST_ROWS": "500", "AIAAS_MAX_HEADER_COUNT": "20", "AIAAS_HEADER_TIMEOUT_S": "1"}
    with start_gpu_container(digits_artifact, log, **limits) as url:
        yield url


def test_gpu_container_serves_binary_tensors_through_sagemakers_header_filter(gpu_container: str, digits_split) -> None:
    front = SageMakerFront(gpu_container)
    try:
        x = digits_split.x_test[:300]  # 76.8 KB: past the client's 64 KiB switch to binary
        body, headers = _binary_request(x)
        with httpx.Client(base_url=front.url, timeout=60) as http:
            response = http.post("/invocations", content=body, headers=headers)
        assert "inference-header-content-length" not in front.seen and "content-type" in front.seen
        _check_binary_answer(response, digits_split.y_test[:300].tolist())
    finally:
        front.close()


def test_gpu_container_answers_head_on_ping(gpu_container: str) -> None:
    with httpx.Client(base_url=gpu_container, timeout=30) as http:
        got, head = http.get("/ping"), http.head("/ping")
    assert head.status_code == got.status_code == 200
    assert head.content == b"" and head.headers["content-length"] == str(len(got.content))


def test_gpu_container_holds_clients_to_the_same_limits(gpu_container: str, digits_split) -> None:
    body, headers = _binary_request(np.repeat(digits_split.x_test[:1], 501, axis=0))
    with httpx.Client(base_url=gpu_container, timeout=60) as http:
        response = http.post("/invocations", content=body, headers=headers)
        assert response.status_code == 413 and "at most 500 rows per request" in response.json()["error"]
        crowded = http.get("/ping", headers={f"x-h{i}": "1" for i in range(25)})
        assert crowded.status_code == 431 and "more than 20 headers" in crowded.json()["error"]
    host, port = gpu_container.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as silent:
        assert silent.recv(4096).startswith(b"HTTP/1.1 408")  # sent nothing: the header timeout (1 s) let go
