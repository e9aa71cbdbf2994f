"""GET /metrics, the OpenAPI document and the page through real servers: `sdk serve` on loopback (32 concurrent
clients batched, the connection layer's refusals counted, the page public and its data behind the token), the GPU
container's entry point (the same service: it serves /metrics too), and the Lambda handler (no /metrics: CloudWatch
EMF is a function's metrics)."""

from __future__ import annotations

import copy
import importlib
import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from sdk.protocol.codec import encode_request
from tests.functions.conftest import FakeLambdaContext, event
from tests.sdk.serving.conftest import RunningServer, start_server
from tests.sdk.serving.gpu_container import gpu_container as start_gpu_container
from tests.sdk.serving.prometheus import Samples, parse, value

pytestmark = pytest.mark.integration

TOKEN = "s3cret-metrics"
AUTH = {"authorization": f"Bearer {TOKEN}"}
SAMPLES = Path(__file__).parents[3] / "models" / "digits_cnn" / "samples"
DIGITS = {"model": "digits-cnn", "version": "1"}


def digit_body() -> bytes:
    return encode_request({"image": np.load(SAMPLES / "digit_7.npy").astype(np.float32)}, binary=False)[0]


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("page")
    (folder / "index.html").write_text("<!doctype html><title>aiaas</title><script src=/ui/app.js></script>")
    (folder / "app.js").write_text("document.title = 'aiaas';")
    return folder


@pytest.fixture(scope="module")
def guarded(serving_root: Path, page_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`sdk serve` with a token and the page from ``page_dir``."""
    logs = tmp_path_factory.mktemp("metrics-logs")
    server = start_server(serving_root, logs, env={"AIAAS_AUTH_TOKEN": TOKEN, "AIAAS_UI_DIR": str(page_dir)})
    yield server
    server.stop()


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    return parse(response.text)


def test_32_concurrent_clients_are_counted_batched_and_queued(guarded: RunningServer) -> None:
    body = digit_body()
    headers = {**AUTH, "content-type": "application/json"}
    with httpx.Client(base_url=guarded.url, timeout=60) as http:
        before = scrape(http)

        def send(i: int) -> int:
            with httpx.Client(base_url=guarded.url, timeout=60) as own:
                rid = {"x-request-id": f"client-{i}-secret-id"}
                return own.post("/v2/models/digits-cnn/infer", content=body, headers={**headers, **rid}).status_code

        with ThreadPoolExecutor(32) as pool:
            statuses = list(pool.map(send, range(96)))
        assert statuses == [200] * 96
        text = http.get("/metrics", headers=AUTH).text
        after = parse(text)
    assert "secret-id" not in text

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("aiaas_requests_total", **DIGITS, route="infer", status="200") == 96
    assert delta("aiaas_request_duration_seconds_count", **DIGITS, route="infer") == 96
    assert delta("aiaas_queue_duration_seconds_count", **DIGITS) == 96
    assert delta("aiaas_batch_size_sum", **DIGITS) == 96  # every row ran once
    runs = delta("aiaas_batch_size_count", **DIGITS)
    assert 1 <= runs <= 96 and delta("aiaas_compute_duration_seconds_count", **DIGITS) == runs
    assert value(after, "aiaas_queue_depth", **DIGITS) == 0
    assert value(after, "aiaas_model_load_seconds_count", **DIGITS, reload="false") == 1


def test_connection_refusals_are_counted(guarded: RunningServer) -> None:
    with httpx.Client(base_url=guarded.url, timeout=30) as http:
        before = scrape(http)
        crowded = http.get("/v2/health/live", headers={f"x-h{i}": "1" for i in range(120)})  # over 100 header lines
        assert crowded.status_code == 431
    with httpx.Client(base_url=guarded.url, timeout=30) as http:
        after = scrape(http)
    refused = "aiaas_connections_refused_total"
    assert value(after, refused, status="431") - value(before, refused, status="431") == 1


def test_the_page_is_public_and_its_data_routes_ask_for_the_token(guarded: RunningServer) -> None:
    with httpx.Client(base_url=guarded.url, timeout=30) as http:
        page = http.get("/")
        assert page.status_code == 200 and page.text.startswith("<!doctype html>")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        script = http.get("/ui/app.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert http.get("/ui/app.js", headers={"if-none-match": script.headers["etag"]}).status_code == 304
        assert http.get("/v2/models").status_code == 401
        assert http.get("/metrics").status_code == 401
        listed = http.get("/v2/models", headers=AUTH).json()["models"]
        assert {m["name"] for m in listed} >= {"digits-cnn", "pair"}
        document = http.get("/v2/openapi.json").json()
        assert OpenAPIV31SpecValidator(document).is_valid()
        assert "/metrics" in document["paths"] and document["paths"]["/metrics"]["get"]["security"] == [{"bearer": []}]


# --- the GPU container and the Lambda -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpu_container(digits_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_gpu_container(digits_artifact, tmp_path_factory.mktemp("gpu-metrics") / "serve.log") as url:
        yield url


def test_the_gpu_container_serves_metrics_of_its_invocations(gpu_container: str) -> None:
    with httpx.Client(base_url=gpu_container, timeout=60) as http:
        answer = http.post("/invocations", content=digit_body(), headers={"content-type": "application/json"})
        assert answer.status_code == 200, answer.text
        samples = parse(http.get("/metrics").text)
    assert value(samples, "aiaas_requests_total", **DIGITS, route="invocations", status="200") == 1
    assert value(samples, "aiaas_batch_size_count", **DIGITS) == 1


def test_the_lambda_serves_no_metrics(monkeypatch: pytest.MonkeyPatch, digits_artifact: Path) -> None:
    from aws_lambda_powertools.metrics.provider import cold_start

    monkeypatch.setenv("MODEL_URI", str(digits_artifact))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "aiaas-test")
    monkeypatch.delitem(sys.modules, "functions.aws_lambda.handler", raising=False)
    cold_start.reset_cold_start_flag()
    handler = importlib.import_module("functions.aws_lambda.handler")
    try:
        request = copy.deepcopy(event("function_url_infer_json.json"))
        request["rawPath"] = "/metrics"
        request["requestContext"]["http"].update(method="GET", path="/metrics")
        request.pop("body", None)
        response = handler.handler(request, FakeLambdaContext())
        assert response["statusCode"] == 404
        assert "AIAAS_METRICS=false" in json.loads(response["body"])["error"]
    finally:
        sys.modules.pop("functions.aws_lambda.handler", None)
