"""The classification extension through a real `sdk serve`, as Triton's own client asks for it (``class_count``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.sdk.serving.conftest import RunningServer

SAMPLES = Path(__file__).parents[3] / "models" / "digits_cnn" / "samples"


def text(element: bytes | str) -> str:
    return element.decode() if isinstance(element, bytes) else element  # tritonclient: bytes from binary, str from JSON


def digit(d: int) -> np.ndarray:
    return np.load(SAMPLES / f"digit_{d}.npy").astype(np.float32).reshape(1, 1, 8, 8)


def test_tritonclient_class_count_gets_the_top_classes_with_labels(server: RunningServer) -> None:
    triton = pytest.importorskip("tritonclient.http")
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    try:
        assert "classification" in client.get_server_metadata()["extensions"]
        images = np.concatenate([digit(7), digit(3)])
        for binary in (True, False):
            image = triton.InferInput("image", list(images.shape), "FP32")
            image.set_data_from_numpy(images, binary_data=binary)
            wanted = [
                triton.InferRequestedOutput("logits", binary_data=binary, class_count=3),
                triton.InferRequestedOutput("probabilities", binary_data=binary),
            ]
            result = client.infer("digits-cnn", [image], outputs=wanted)
            top = result.as_numpy("logits")
            probabilities = result.as_numpy("probabilities")
            assert top.shape == (2, 3) and probabilities.shape == (2, 10)
            for row, probs in zip(top, probabilities):
                parsed = [text(s).split(":") for s in row]
                indices = [int(index) for _, index, _ in parsed]
                assert indices == np.argsort(-probs, kind="stable")[:3].tolist()  # softmax keeps the logits' order
                assert all(label == index for _, index, label in parsed)  # the digits' labels are "0".."9"
                values = [float(value) for value, _, _ in parsed]
                assert values == sorted(values, reverse=True)
            assert [text(row[0]).split(":")[1] for row in top] == ["7", "3"]
    finally:
        client.close()


def _infer(http: httpx.Client, document: dict) -> httpx.Response:
    return http.post(
        "/v2/models/digits-cnn/infer", content=json.dumps(document), headers={"content-type": "application/json"}
    )


def test_a_bad_count_is_a_400_before_the_model_runs(http: httpx.Client) -> None:
    image = {"name": "image", "datatype": "FP32", "shape": [1, 1, 8, 8], "data": digit(7).ravel().tolist()}
    response = _infer(http, {"inputs": [image], "outputs": [{"name": "logits", "parameters": {"classification": 0}}]})
    assert response.status_code == 400
    assert "parameters.classification must be a positive integer" in response.json()["error"]


def test_classes_of_a_text_output_are_a_400_not_a_500(http: httpx.Client) -> None:
    pytest.importorskip("PIL")
    png = base64.b64encode((SAMPLES / "digit_7.png").read_bytes()).decode()
    document = {
        "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [png]}],
        "outputs": [{"name": "label", "parameters": {"classification": 1}}],
    }
    response = _infer(http, document)
    assert response.status_code == 400, response.text
    assert "cannot rank" in response.json()["error"]
