"""The transport-independent service: routes, metadata, inference, SageMaker contract, auth, errors, faults."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from unittest.mock import ANY

import numpy as np
import pytest

from sdk.artifacts import LayeredStore, LocalStore, builtin_store
from sdk.protocol.codec import decode_response, encode_request
from sdk.serving.config import ServeConfig
from sdk.serving.repository import ArtifactFolderStore, ModelRepository
from sdk.serving.service import Service


def _json(response) -> dict:
    return json.loads(response.body)


def _digit_request(x: np.ndarray, **kw) -> tuple[bytes, dict[str, str]]:
    return encode_request({"image": x}, binary=kw.pop("binary", False), **kw)


def test_health_and_server_metadata(service: Service) -> None:
    assert _json(service.handle("GET", "/v2/health/live", {}, b"")) == {"live": True}
    assert service.handle("GET", "/v2/health/ready", {}, b"").status == 200
    assert service.handle("GET", "/ping", {}, b"").status == 200
    meta = _json(service.handle("GET", "/v2", {}, b""))
    assert meta["name"] == "aiaas" and "binary_tensor_data" in meta["extensions"]


def test_model_metadata_comes_from_the_manifest(service: Service) -> None:
    for path in ("/v2/models/digits-cnn", "/v2/models/digits-cnn/versions/1", "/v2/models/digits-cnn/"):
        response = service.handle("GET", path, {}, b"")
        assert response.status == 200, path
        assert _json(response) == {
            "name": "digits-cnn",
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 8, 8]}],
            "outputs": [
                {"name": "logits", "datatype": "FP32", "shape": [-1, 10]},
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
            ],
            "parameters": {
                "privacy_floor": "public",
                "version": "1",
                # The image processor the manifest declares: PNG/JPEG bytes as one BYTES input.
                "raw_input": {
                    "name": "image",
                    "datatype": "BYTES",
                    "shape": [-1],
                    "kind": "image",
                    "json": "base64",
                    "outputs": ["label", "score"],
                },
                # What answers: the artifact file, its precision and engine (tests/sdk/serving/test_metadata_runs.py).
                "artifact": "model.onnx",
                "precision": "fp32",
                "runtime": ANY,
            },
        }
    pair = _json(service.handle("GET", "/v2/models/pair", {}, b""))
    assert [(i["name"], i["datatype"]) for i in pair["inputs"]] == [("ids", "INT64"), ("mask", "FP32")]


def test_model_readiness(service: Service) -> None:
    assert _json(service.handle("GET", "/v2/models/digits-cnn/ready", {}, b"")) == {"name": "digits-cnn", "ready": True}
    assert service.handle("GET", "/v2/models/digits-cnn/versions/1/ready", {}, b"").status == 200
    assert service.handle("GET", "/v2/models/nope/ready", {}, b"").status == 404


def test_infer_json_and_binary_give_the_same_answer(service: Service, digit_7: np.ndarray) -> None:
    answers = []
    for binary in (False, True):
        body, headers = _digit_request(digit_7, binary=binary, request_id="req-7")
        response = service.handle("POST", "/v2/models/digits-cnn/infer", headers, body)
        assert response.status == 200, response.body
        outputs, meta = decode_response(response.body, response.headers)
        assert meta == {**meta, "id": "req-7", "model_name": "digits-cnn", "model_version": "1"}
        assert int(outputs["probabilities"].argmax()) == 7
        answers.append(outputs["probabilities"])
    np.testing.assert_array_equal(answers[0], answers[1])


def test_named_output_only(service: Service, digit_7: np.ndarray) -> None:
    body, headers = encode_request({"image": digit_7}, binary=False, outputs=["logits"])
    response = service.handle("POST", "/v2/models/digits-cnn/versions/1/infer", headers, body)
    assert [o["name"] for o in _json(response)["outputs"]] == ["logits"]


def test_multi_input_model(service: Service) -> None:
    ids = np.array([[1, 2, 3], [4, 5, 6]], np.int64)
    mask = np.array([[1, 0, 1], [0.5, 0.5, 0.5]], np.float32)
    body, headers = encode_request({"ids": ids, "mask": mask}, binary=True)
    response = service.handle("POST", "/v2/models/pair/infer", headers, body)
    np.testing.assert_array_equal(decode_response(response.body, response.headers)[0]["score"], ids * mask)


def test_sagemaker_invocations_choose_the_model(service: Service, digit_7: np.ndarray) -> None:
    body, headers = _digit_request(digit_7)
    by_header = service.handle("POST", "/invocations", {**headers, "X-Amzn-SageMaker-Target-Model": "digits-cnn"}, body)
    assert by_header.status == 200 and _json(by_header)["model_name"] == "digits-cnn"
    attributes = {**headers, "X-Amzn-SageMaker-Custom-Attributes": "trace=1, model=digits-cnn@1"}
    assert service.handle("POST", "/invocations", attributes, body).status == 200
    unnamed = service.handle("POST", "/invocations", headers, body)
    assert unnamed.status == 400
    assert "serves 3 models" in _json(unnamed)["error"] and "X-Amzn-SageMaker-Target-Model" in _json(unnamed)["error"]


def test_sagemaker_invocations_use_the_only_model(digits_artifact: Path, digit_7: np.ndarray) -> None:
    single = Service(ModelRepository(ArtifactFolderStore(digits_artifact)), config=ServeConfig()).start()
    body, headers = _digit_request(digit_7)
    response = single.handle("POST", "/invocations", headers, body)
    assert response.status == 200 and int(np.argmax(_json(response)["outputs"][1]["data"])) == 7


def test_routing_errors(service: Service) -> None:
    wrong_method = service.handle("GET", "/v2/models/digits-cnn/infer", {}, b"")
    assert wrong_method.status == 405 and wrong_method.headers["allow"] == "POST"
    unknown = service.handle("GET", "/v3/whatever", {}, b"")
    assert unknown.status == 404 and "no route GET /v3/whatever" in _json(unknown)["error"]
    assert "unknown model 'resnet'" in _json(service.handle("GET", "/v2/models/resnet", {}, b""))["error"]
    version = service.handle("GET", "/v2/models/digits-cnn/versions/9", {}, b"")
    assert (
        version.status == 404
        and _json(version)["error"] == "model digits-cnn has no version or alias '9' (versions: 1)"
    )
    traversal = service.handle("GET", "/v2/models/%2e%2e/versions/1", {}, b"")
    assert traversal.status == 404 and "unknown model '..'" in _json(traversal)["error"]


def test_request_id_is_echoed_or_made(service: Service) -> None:
    given = service.handle("GET", "/v2", {"X-Request-Id": "abc-123"}, b"")
    assert given.headers["x-request-id"] == "abc-123"
    made = service.handle("GET", "/v2", {"X-Request-Id": "bad id with spaces"}, b"")
    assert len(made.headers["x-request-id"]) == 32


def test_bearer_token_guards_everything_but_health(serving_root: Path, digit_7: np.ndarray) -> None:
    store = LayeredStore([LocalStore(serving_root), builtin_store()])
    guarded = Service(ModelRepository(store), config=ServeConfig(auth_token="t0ken")).start()
    body, headers = _digit_request(digit_7)
    for path in ("/v2/health/live", "/v2/health/ready", "/ping"):
        assert guarded.handle("GET", path, {}, b"").status == 200
    missing = guarded.handle("POST", "/v2/models/digits-cnn/infer", headers, body)
    assert missing.status == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in _json(missing)["error"]
    wrong = guarded.handle("GET", "/v2", {"Authorization": "Bearer nope"}, b"")
    assert wrong.status == 401 and _json(wrong)["error"] == "the bearer token is not valid for this server"
    assert guarded.handle("GET", "/v2/models/digits-cnn", {"authorization": "bearer t0ken"}, b"").status == 200
    ok = guarded.handle("POST", "/v2/models/digits-cnn/infer", {**headers, "Authorization": "Bearer t0ken"}, body)
    assert ok.status == 200


def test_body_over_the_limit_is_413(service: Service) -> None:
    big = encode_request({"image": np.zeros((300, 1, 8, 8), np.float32)}, binary=True)
    response = service.handle("POST", "/v2/models/digits-cnn/infer", big[1], big[0])
    assert response.status == 413 and "at most 65536" in _json(response)["error"]


def test_a_real_fault_is_a_500_logged_with_the_request_id_and_never_the_payload(
    service: Service, digit_7: np.ndarray, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = service.repository.get("digits-cnn")

    def explode(feeds):
        raise ZeroDivisionError("a bug in the server")

    monkeypatch.setattr(model, "run_validated", explode)
    marker = np.full((1, 1, 8, 8), 0.123456, np.float32)
    body, headers = _digit_request(marker)
    with caplog.at_level(logging.ERROR, logger="sdk.serving"):
        response = service.handle("POST", "/v2/models/digits-cnn/infer", {**headers, "X-Request-Id": "fault-1"}, body)
    assert response.status == 500
    assert _json(response) == {"error": "internal server error; the server log has the details (request id fault-1)"}
    assert "fault-1" in caplog.text and "ZeroDivisionError" in caplog.text
    assert "0.123456" not in caplog.text and "0.12345" not in caplog.text
