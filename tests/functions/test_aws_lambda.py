"""The Lambda handler, called with function-URL and API Gateway v2 events and a fake context, as Lambda calls it."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
import pytest

from sdk.errors import IntegrityError
from sdk.protocol.codec import decode_response
from tests.functions.conftest import EVENTS, FakeLambdaContext, event
from tests.sdk.serving.conftest import start_server
from tests.sdk.serving.moto_server import MOTO_ENV, moto_server, upload_folder


def _body(response: dict[str, Any]) -> bytes:
    body = response.get("body") or ""
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()


def _metrics(stdout: str) -> list[dict[str, Any]]:
    """The EMF metric documents Powertools printed."""
    out = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            out.append(json.loads(line))
    return out


def _names(document: dict[str, Any]) -> set[str]:
    return {m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def test_cold_start_then_warm_call(load_handler, digits_artifact: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = load_handler(str(digits_artifact))
    capsys.readouterr()
    first = module.handler(event("function_url_infer_json.json"), FakeLambdaContext())
    cold = capsys.readouterr().out
    second = module.handler(event("function_url_infer_json.json"), FakeLambdaContext())
    warm = capsys.readouterr().out
    for response in (first, second):
        assert response["statusCode"] == 200 and response["isBase64Encoded"] is False
        document = json.loads(response["body"])
        assert document["id"] == "digit-7"
        assert int(np.argmax(next(o for o in document["outputs"] if o["name"] == "probabilities")["data"])) == 7
    assert any("ColdStart" in _names(d) for d in _metrics(cold))
    assert not any("ColdStart" in _names(d) for d in _metrics(warm))
    warm_metrics = set().union(*(_names(d) for d in _metrics(warm)))
    assert {"Latency", "Requests", "BatchSize", "ModelLatency"} <= warm_metrics


def test_base64_binary_body_and_binary_response(load_handler, digits_artifact: Path) -> None:
    module = load_handler(str(digits_artifact))
    response = module.handler(event("function_url_infer_binary_base64.json"), FakeLambdaContext())
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    assert response["headers"]["Content-Type"] == "application/octet-stream"
    outputs, meta = decode_response(_body(response), response["headers"])
    assert meta["id"] == "digit-3" and int(outputs["logits"].argmax()) == 3


def test_api_gateway_events_and_errors(load_handler, digits_artifact: Path) -> None:
    module = load_handler(str(digits_artifact))
    metadata = module.handler(event("apigw_v2_model_metadata.json"), FakeLambdaContext())
    assert metadata["statusCode"] == 200 and json.loads(metadata["body"])["name"] == "digits-cnn"
    assert module.handler(event("apigw_v2_health_ready.json"), FakeLambdaContext())["statusCode"] == 200
    missing = module.handler(event("apigw_v2_unknown_model.json"), FakeLambdaContext())
    assert missing["statusCode"] == 404
    assert json.loads(missing["body"]) == {
        "error": "unknown model 'resnet'; this server serves: digits-cnn",
        "code": "model_not_found",
    }
    bad = module.handler(event("function_url_bad_shape.json"), FakeLambdaContext())
    assert bad["statusCode"] == 400 and "holds 64 element(s) but 'data' has 63" in json.loads(bad["body"])["error"]
    sagemaker = module.handler(event("function_url_sagemaker_invocations.json"), FakeLambdaContext())
    assert sagemaker["statusCode"] == 200


def test_request_id_from_the_lambda_context_when_the_client_sends_none(load_handler, digits_artifact: Path) -> None:
    module = load_handler(str(digits_artifact))
    request = event("apigw_v2_health_ready.json")
    del request["headers"]["x-request-id"]
    context = FakeLambdaContext(aws_request_id="lambda-req-42")
    assert module.handler(request, context)["headers"]["x-request-id"] == "lambda-req-42"


def test_missing_model_uri_fails_the_init(load_handler, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="MODEL_URI is not set"):
        load_handler("")


def test_with_trusted_keys_the_function_serves_only_signed_models(
    load_handler, artifact_copy: Path, tmp_path: Path
) -> None:
    """AIAAS_TRUSTED_KEYS inline, as the Terraform module's environment carries it: a signed model serves, an
    unsigned one fails the cold start (it is never served)."""
    from sdk.artifacts import signing

    key, public, _ = signing.create_keys(tmp_path / "keys")
    trusted = {"AIAAS_TRUSTED_KEYS": signing.public_key_line(public)}
    with pytest.raises(IntegrityError, match="is not signed"):
        load_handler(str(artifact_copy), **trusted)
    signing.sign_folder(artifact_copy, key)
    module = load_handler(str(artifact_copy), **trusted)
    assert module.handler(event("function_url_infer_json.json"), FakeLambdaContext())["statusCode"] == 200


@pytest.mark.integration
def test_lambda_and_http_server_answer_identically(load_handler, digits_artifact: Path, tmp_path: Path) -> None:
    """Every event file, replayed as plain HTTP against `sdk serve` over the same artifact: same status and bytes."""
    module = load_handler(str(digits_artifact))
    server = start_server(digits_artifact, tmp_path, "--no-builtin")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for path in sorted(EVENTS.glob("*.json")):
                request = json.loads(path.read_text())
                from_lambda = module.handler(request, FakeLambdaContext())
                body = request.get("body") or ""
                raw = base64.b64decode(body) if request["isBase64Encoded"] else body.encode()
                method = request["requestContext"]["http"]["method"]
                from_http = http.request(method, request["rawPath"], content=raw, headers=request["headers"])
                assert from_lambda["statusCode"] == from_http.status_code, path.name
                assert _body(from_lambda) == from_http.content, path.name
                lambda_headers = {k.lower(): v for k, v in from_lambda["headers"].items()}
                for name in ("content-type", "inference-header-content-length", "x-request-id", "retry-after"):
                    assert lambda_headers.get(name) == from_http.headers.get(name), (path.name, name)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory):
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.mark.integration
def test_model_from_s3_is_verified_into_tmp_at_init(
    load_handler, moto_url: str, digits_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {**MOTO_ENV, "AWS_ENDPOINT_URL": moto_url}.items():
        monkeypatch.setenv(key, value)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models-lambda")
    upload_folder(s3, "models-lambda", "models/digits-cnn/1/", digits_artifact)
    cache = tmp_path / "cache"
    module = load_handler("s3://models-lambda/models/", AIAAS_CACHE_DIR=str(cache))
    response = module.handler(event("function_url_infer_json.json"), FakeLambdaContext())
    assert response["statusCode"] == 200
    assert (cache / "models-lambda" / "models" / "digits-cnn" / "1" / "model.onnx").is_file()
    # A tampered object in the bucket never loads: the cold start fails rather than serve it.
    s3.put_object(Bucket="models-lambda", Key="models/digits-cnn/1/model.onnx", Body=b"not the model")
    with pytest.raises(IntegrityError, match="model.onnx is truncated"):
        load_handler("s3://models-lambda/models/digits-cnn/1/", AIAAS_CACHE_DIR=str(tmp_path / "cache2"))


def test_head_is_answered_like_get_with_its_length_and_no_body(load_handler, digits_artifact: Path) -> None:
    module = load_handler(str(digits_artifact))
    got = module.handler(event("apigw_v2_model_metadata.json"), FakeLambdaContext())
    head = module.handler(event("apigw_v2_head_model_metadata.json"), FakeLambdaContext())
    assert head["statusCode"] == got["statusCode"] == 200
    assert _body(head) == b"" and head["headers"]["content-length"] == str(len(_body(got)))
    assert head["headers"]["Content-Type"] == got["headers"]["Content-Type"] == "application/json"


def test_gzip_encoded_body_is_inflated(load_handler, digits_artifact: Path) -> None:
    module = load_handler(str(digits_artifact))
    response = module.handler(event("function_url_infer_gzip_base64.json"), FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    document = json.loads(response["body"])
    assert int(np.argmax(next(o for o in document["outputs"] if o["name"] == "probabilities")["data"])) == 7


def test_sagemaker_framed_binary_request_gets_a_sagemaker_framed_answer(load_handler, digits_artifact: Path) -> None:
    module = load_handler(str(digits_artifact))
    response = module.handler(event("function_url_sagemaker_binary_framing.json"), FakeLambdaContext())
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    content_type = response["headers"]["Content-Type"]
    assert content_type.startswith("application/vnd.sagemaker-triton.binary+json;json-header-size=")
    assert "inference-header-content-length" not in {k.lower() for k in response["headers"]}
    outputs, meta = decode_response(_body(response), {"content-type": content_type})
    assert meta["id"] == "digit-7-sm" and int(outputs["probabilities"].argmax()) == 7


def test_a_model_uri_that_names_no_folder_fails_the_init(load_handler, tmp_path: Path) -> None:
    """A typo must fail the init (Lambda reports it), not report ready and answer every request 404. An existing
    empty store is the state before the first deploy (docs/deploy-aws.md): it starts, warns in its log and says why
    per call."""
    from sdk.errors import ConfigError

    with pytest.raises(ConfigError, match=r"MODEL_URI .*no-such-folder: no such folder"):
        load_handler(str(tmp_path / "no-such-folder"))
    (tmp_path / "empty").mkdir()
    records: list[logging.LogRecord] = []
    collect = logging.Handler()
    collect.emit = records.append  # type: ignore[method-assign]
    function_log = logging.getLogger("aiaas-inference")  # Powertools' Logger(service=...) logs there
    function_log.addHandler(collect)
    try:
        module = load_handler(str(tmp_path / "empty"))
    finally:
        function_log.removeHandler(collect)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any("empty holds no model: every inference request gets 404 until `sdk deploy`" in w for w in warnings)
    missing = module.handler(event("function_url_infer_json.json"), FakeLambdaContext())
    assert missing["statusCode"] == 404 and "serves: no models" in json.loads(missing["body"])["error"]


def _rows_event(rows: int, *, binary_output: bool = False, value: float = 0.5) -> dict[str, Any]:
    request: dict[str, Any] = {
        "inputs": [{"name": "image", "shape": [rows, 1, 8, 8], "datatype": "FP32", "data": [value] * (rows * 64)}]
    }
    if binary_output:
        request["parameters"] = {"binary_data_output": True}
    infer = event("function_url_infer_json.json")
    infer["body"] = json.dumps(request, separators=(",", ":"))
    return infer


def test_an_answer_over_lambdas_response_limit_is_a_413_that_says_what_to_ask_instead(
    load_handler, digits_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda refuses a response over 6 MB and the caller sees a bare 502: the function answers 413 instead, naming
    the size and the way out (fewer rows, binary outputs). tests/functions/test_lambda_ric.py does it at 6 MB."""
    module = load_handler(str(digits_artifact))
    monkeypatch.setattr(module, "RESPONSE_LIMIT", 20_000)
    fits = module.handler(_rows_event(8), FakeLambdaContext())
    assert fits["statusCode"] == 200 and len(json.dumps(fits)) < 20_000
    refused = module.handler(_rows_event(128), FakeLambdaContext())
    assert refused["statusCode"] == 413 and len(json.dumps(refused)) < 20_000
    error = json.loads(refused["body"])
    assert "over AWS Lambda's limit of 20000 bytes for a response" in error["error"]
    assert "binary_data_output" in error["error"] and error["code"] == "response_too_large"
    binary = module.handler(_rows_event(128, binary_output=True), FakeLambdaContext())
    assert binary["statusCode"] == 200 and len(json.dumps(binary)) < 20_000
    outputs, _ = decode_response(_body(binary), binary["headers"])
    assert outputs["probabilities"].shape == (128, 10)


def test_the_client_asks_again_for_binary_outputs_when_the_answer_is_too_large(
    load_handler, digits_artifact: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The real client against the real handler behind a function URL stand-in: 128 digits go as JSON (32 KiB,
    under the client's binary threshold) and their JSON answer passes the (lowered) response limit; the function
    answers 413 response_too_large, and the client sends the call once more asking for binary outputs, which fit.
    The answer equals the device's; no fallback happened."""
    from sdk import Client, load
    from sdk.errors import ResponseTooLarge
    from tests.functions.function_url_front import FunctionUrlFront

    module = load_handler(str(digits_artifact))
    monkeypatch.setattr(module, "RESPONSE_LIMIT", 20_000)
    images = np.random.default_rng(0).random((128, 1, 8, 8), dtype=np.float32)
    front = FunctionUrlFront(module)
    settings = {"exploration_rate": 0.0, "persist_latency": False, "max_attempts": 1, "timeout_s": 30.0}
    try:
        with Client(front.url, store=tmp_path / "no-models", **settings) as client:
            result = client.predict("digits-cnn", {"image": images}, mode="cloud_only")
            assert result.decision.route is not None and result.decision.route.value == "cloud"
            np.testing.assert_allclose(result.outputs["logits"], load(digits_artifact)(images)["logits"], atol=1e-5)
            asked = [document.get("parameters", {}).get("binary_data_output", False) for document in front.seen]
            assert asked == [False, True]  # JSON first, then once more with binary outputs
            # an answer too large even in binary form is the error, once (no loop)
            monkeypatch.setattr(module, "RESPONSE_LIMIT", 2_000)
            front.seen.clear()
            with pytest.raises(ResponseTooLarge, match="over AWS Lambda's limit of 2000 bytes"):
                client.predict("digits-cnn", {"image": images}, mode="cloud_only")
            assert len(front.seen) == 2
    finally:
        front.close()
