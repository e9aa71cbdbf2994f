"""An error raised in the cloud reaches the caller as the same class: the server sends its code beside the message
(``{"error": ..., "code": ...}``) and the client rebuilds the class from it; a code it does not know, or one that
contradicts the status, falls back to the status's class (third-party servers send no code).

The cloud is a real `sdk serve` on loopback (and, for canned answers, the fault proxy in front of the shared one).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from sdk import Client, IntegrityError, ModelNotFound, PayloadTooLarge
from sdk.artifacts import LocalStore
from sdk.errors import AiaasError, ArtifactError, InvalidInput, MalformedRequest, Unauthorized, UnsupportedMediaType
from tests.sdk.client import models
from tests.sdk.serving.conftest import RunningServer, start_server

pytestmark = pytest.mark.integration

MAX_BODY = 65536
SMALL = np.zeros((1, models.WIDTH), np.float32)
LARGE = np.zeros((32, models.WIDTH), np.float32)  # 128 KiB: over the server's body limit
JSON = {"content-type": "application/json"}
TEXT = {"content-type": "text/plain"}


@pytest.fixture(scope="module")
def wire_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """'twin' version 1 served; version 9, added once the server runs, has a model file that fails its sha256."""
    root = tmp_path_factory.mktemp("wire-store")
    models.twin(root, layers=1)
    server = start_server(root, tmp_path_factory.mktemp("wire-logs"), "--max-body-bytes", str(MAX_BODY))
    tampered = models.twin(root / ".build", layers=1)
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[-8] ^= 0xFF
    (tampered / "model.onnx").write_bytes(bytes(data))
    tampered.rename(root / "twin" / "9")
    yield server
    server.stop()


class Retyped(httpx.HTTPTransport):
    """A real socket, but every inference body declared as text/plain (which the server refuses with 415)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/infer"):
            request.headers["content-type"] = "text/plain"
        return super().handle_request(request)


CASES = {
    "integrity": (IntegrityError, "twin@9", SMALL, None),
    "model-not-found": (ModelNotFound, "twin@7", SMALL, None),
    "payload-too-large": (PayloadTooLarge, "twin", LARGE, None),
    "unsupported-media-type": (UnsupportedMediaType, "twin", SMALL, Retyped),
}


@pytest.mark.parametrize(("cls", "model", "x", "transport"), CASES.values(), ids=CASES.keys())
def test_a_server_side_error_arrives_as_its_exact_class(wire_cloud, tmp_path: Path, cls, model, x, transport) -> None:
    client = Client(
        wire_cloud.url,
        store=LocalStore(tmp_path),  # nothing on this device: the cloud is the only route
        transport=transport() if transport else None,
        exploration_rate=0.0,
        persist_latency=False,
        max_attempts=1,
    )
    with client, pytest.raises(AiaasError) as caught:
        client.predict(model, {"x": x}, mode="cloud_only")
    assert type(caught.value) is cls, caught.value


RAW = {
    "integrity": ("POST", "/v2/models/twin/versions/9/infer", JSON, SMALL, IntegrityError),
    "model-not-found": ("GET", "/v2/models/nope", {}, None, ModelNotFound),
    "payload-too-large": ("POST", "/v2/models/twin/infer", JSON, LARGE, PayloadTooLarge),
    "unsupported-media-type": (
        "POST",
        "/v2/models/twin/infer",
        {"content-type": "text/plain"},
        SMALL,
        UnsupportedMediaType,
    ),
}


@pytest.mark.parametrize(("method", "path", "headers", "x", "cls"), RAW.values(), ids=RAW.keys())
def test_the_server_sends_the_code_beside_the_message(wire_cloud, method, path, headers, x, cls) -> None:
    body = None
    if x is not None:
        data = ", ".join(["0.0"] * x.size)
        body = f'{{"inputs": [{{"name": "x", "shape": {list(x.shape)}, "datatype": "FP32", "data": [{data}]}}]}}'
    response = httpx.request(method, wire_cloud.url + path, headers=headers, content=body, timeout=10)
    assert response.status_code == cls.status
    document = response.json()
    assert document["code"] == cls.code and isinstance(document["error"], str) and document["error"]


ANSWERS = {
    "known-code": (422, "integrity_error", IntegrityError),
    "unknown-code": (422, "no_such_code", ArtifactError),
    "no-code": (422, None, ArtifactError),
    "code-of-another-status": (404, "integrity_error", ModelNotFound),
    "client-only-code": (403, "privacy_violation", Unauthorized),
    "refining-a-400": (400, "malformed_request", MalformedRequest),
    "not-a-string": (400, 7, InvalidInput),
}


@pytest.mark.parametrize(("status", "code", "cls"), ANSWERS.values(), ids=ANSWERS.keys())
def test_a_code_is_taken_only_when_it_agrees_with_the_status(make_client, proxy, status, code, cls) -> None:
    document = {"error": "said the server"} | ({} if code is None else {"code": code})
    proxy.fail_next((status, JSON, json.dumps(document).encode()))
    with pytest.raises(AiaasError) as caught:
        make_client(max_attempts=1).predict("twin", {"x": SMALL}, mode="cloud_only")
    assert type(caught.value) is cls and caught.value.message == "said the server"
