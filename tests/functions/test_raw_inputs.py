"""The Lambda handler takes raw inputs as `sdk serve` does: text and PNG images as OIP BYTES, in JSON and in Triton's
binary layout (base64 in the function URL event), processed by the artifact's processors; bad raw input is a 400."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk import load
from sdk.protocol.codec import decode_response
from tests.functions.conftest import FakeLambdaContext, event
from tests.sdk.runtime.text_artifact import write_text_artifact

pytest.importorskip("tokenizers")
pytest.importorskip("PIL")

SAMPLES = Path(__file__).parents[2] / "models" / "digits_cnn" / "samples"
DIGITS = (0, 3, 7, 9)
TEXTS = ["the cat sat", "a mat"]


def _event(model: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """A function URL event (the JSON inference event file, with this body and these headers)."""
    template = event("function_url_infer_json.json")
    template["rawPath"] = template["requestContext"]["http"]["path"] = f"/v2/models/{model}/infer"
    template["headers"] = {**template["headers"], **headers}
    template["isBase64Encoded"] = True
    template["body"] = base64.b64encode(body).decode()
    return template


def _binary(name: str, items: list[bytes]) -> tuple[bytes, dict[str, str]]:
    """Triton's layout by hand: each element a 4-byte little-endian length, then its bytes."""
    blob = b"".join(struct.pack("<I", len(item)) + item for item in items)
    tensor = {"name": name, "datatype": "BYTES", "shape": [len(items)], "parameters": {"binary_data_size": len(blob)}}
    head = json.dumps({"inputs": [tensor]}).encode()
    return head + blob, {"content-type": "application/octet-stream", "inference-header-content-length": str(len(head))}


def _json(name: str, data: list[str]) -> tuple[bytes, dict[str, str]]:
    document = {"inputs": [{"name": name, "datatype": "BYTES", "shape": [len(data)], "data": data}]}
    return json.dumps(document).encode(), {"content-type": "application/json"}


def _answer(response: dict[str, Any]) -> dict[str, np.ndarray]:
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    assert response["statusCode"] == 200, raw[:300]
    return decode_response(raw, response["headers"])[0]


@pytest.fixture
def text_artifact(tmp_path: Path) -> Path:
    return write_text_artifact(tmp_path / "tiny-text" / "1")


@pytest.mark.parametrize("wire", ["json", "binary"])
def test_text_is_tokenized_in_the_function(load_handler, text_artifact: Path, wire: str) -> None:
    module = load_handler(str(text_artifact))
    items = [t.encode() for t in TEXTS]
    body, headers = _json("text", TEXTS) if wire == "json" else _binary("text", items)
    outputs = _answer(module.handler(_event("tiny-text", body, headers), FakeLambdaContext()))
    np.testing.assert_array_equal(outputs["embedding"], load(text_artifact)(TEXTS)["embedding"])


@pytest.mark.parametrize("wire", ["json", "binary"])
def test_png_is_decoded_in_the_function(load_handler, digits_artifact: Path, wire: str) -> None:
    module = load_handler(str(digits_artifact))
    pngs = [(SAMPLES / f"digit_{d}.png").read_bytes() for d in DIGITS]
    body, headers = (
        _json("image", [base64.b64encode(p).decode() for p in pngs]) if wire == "json" else _binary("image", pngs)
    )
    outputs = _answer(module.handler(_event("digits-cnn", body, headers), FakeLambdaContext()))
    assert [bytes(row[0]).decode() for row in outputs["label"]] == [str(d) for d in DIGITS]


def test_bad_raw_input_is_a_400_from_the_function(load_handler, text_artifact: Path) -> None:
    module = load_handler(str(text_artifact))
    body, headers = _binary("text", [b"the cat", b"\xc3\x28"])
    response = module.handler(_event("tiny-text", body, headers), FakeLambdaContext())
    assert response["statusCode"] == 400
    assert "text 1 is not valid UTF-8" in json.loads(response["body"])["error"]
