"""The Lambda handler answers POST .../explain through the same Service as `sdk serve`: function URL events in, the
attributions sdk.explain computes on the edge out (same seed), bad options a 400 with the usual error body."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk import load
from sdk.explain import ExplainOptions, Explanation, explain
from tests.functions.conftest import FakeLambdaContext, event
from tests.sdk.runtime.text_artifact import write_text_artifact

SAMPLES = Path(__file__).parents[2] / "models" / "digits_cnn" / "samples"


def _event(model: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """A function URL event (the JSON inference event file, on the explain path, with this body and headers)."""
    template = event("function_url_infer_json.json")
    template["rawPath"] = template["requestContext"]["http"]["path"] = f"/v2/models/{model}/explain"
    template["headers"] = {**template["headers"], **headers}
    template["isBase64Encoded"] = True
    template["body"] = base64.b64encode(body).decode()
    return template


def _answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    return response["statusCode"], json.loads(raw)


def test_digits_are_explained_in_the_function_as_on_the_edge(load_handler, digits_artifact: Path) -> None:
    module = load_handler(str(digits_artifact))
    pixels = np.load(SAMPLES / "digit_7.npy").astype(np.float32).reshape(1, 1, 8, 8)
    options = ExplainOptions(seed=9, max_evals=128)
    tensor = {"name": "image", "datatype": "FP32", "shape": [1, 1, 8, 8], "data": pixels.reshape(-1).tolist()}
    body = json.dumps({"id": "7", "inputs": [tensor], "parameters": options.to_parameters()}).encode()
    status, document = _answer(module.handler(_event("digits-cnn", body, {}), FakeLambdaContext()))
    assert status == 200, document
    assert (document["model_name"], document["id"]) == ("digits-cnn", "7")
    served = Explanation.from_json(document["explanation"])
    edge = explain(load(digits_artifact), {"image": pixels}, options)
    assert served.items[0].target["label"] == "7" and served.items[0].units == edge.items[0].units
    np.testing.assert_allclose(served.items[0].attributions, edge.items[0].attributions, rtol=1e-5, atol=1e-6)

    body = json.dumps({"inputs": [tensor], "parameters": {"target": 10}}).encode()
    status, document = _answer(module.handler(_event("digits-cnn", body, {}), FakeLambdaContext()))
    assert status == 400 and "10" in document["error"]


def test_text_sent_as_binary_bytes_is_explained_in_the_function(load_handler, tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    artifact = write_text_artifact(tmp_path / "tiny-text" / "1", max_length=12)
    module = load_handler(str(artifact))
    texts = [b"the cat sat on the mat"]
    blob = b"".join(struct.pack("<I", len(t)) + t for t in texts)
    tensor = {"name": "text", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(blob)}}

    def send(parameters: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        head = json.dumps({"inputs": [tensor], "parameters": parameters}).encode()
        headers = {"content-type": "application/octet-stream", "inference-header-content-length": str(len(head))}
        return _answer(module.handler(_event("tiny-text", head + blob, headers), FakeLambdaContext()))

    options = ExplainOptions(seed=3, max_evals=48)
    status, document = send(options.to_parameters())
    assert status == 200, document
    served = Explanation.from_json(document["explanation"])
    edge = explain(load(artifact), ["the cat sat on the mat"], options)
    np.testing.assert_allclose(served.items[0].attributions, edge.items[0].attributions, rtol=1e-5, atol=1e-6)

    status, document = send({"method": "rise"})
    assert status == 400 and "rise" in document["error"]


class _LastSecond(FakeLambdaContext):
    """An invocation with no time left."""

    def get_remaining_time_in_millis(self) -> int:
        return 0


def test_an_explanation_ends_before_the_invocation_does(load_handler, digits_artifact: Path) -> None:
    module = load_handler(str(digits_artifact))
    tensor = {"name": "image", "datatype": "FP32", "shape": [1, 1, 8, 8], "data": [0.5] * 64}
    body = json.dumps({"inputs": [tensor], "parameters": {"max_evals": 128}}).encode()
    status, document = _answer(module.handler(_event("digits-cnn", body, {}), _LastSecond()))
    assert status == 504 and "deadline" in document["error"]
    status, document = _answer(module.handler(_event("digits-cnn", body, {}), FakeLambdaContext()))  # 30 s left
    assert status == 200, document
