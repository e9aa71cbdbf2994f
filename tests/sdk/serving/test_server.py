"""`sdk serve` for real: a server process on a free loopback port, called over HTTP by httpx (and curl)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from sdk.protocol.codec import decode_response, encode_request
from tests.sdk.protocol.test_codec import SPEC_REQUEST
from tests.sdk.serving.conftest import TOKEN, RunningServer, start_server

pytestmark = pytest.mark.integration

# The specification's custom-parameters example, verbatim (missing comma after "parameters", trailing comma).
SPEC_PARAMETERS_REQUEST = """{
  "parameters" : { "my_custom_parameter" : 42 }
  "inputs" : [
    {
      "name" : "input0",
      "shape" : [ 2, 2 ],
      "datatype" : "UINT32",
      "data" : [ 1, 2, 3, 4 ]
    }
  ],
  "outputs" : [
    {
      "name" : "output0",
    }
  ]
}"""


def test_health_metadata_and_json_inference(http: httpx.Client, digit_7: np.ndarray) -> None:
    assert http.get("/v2/health/live").json() == {"live": True}
    assert http.get("/v2/health/ready").status_code == 200
    assert http.get("/v2").json()["name"] == "aiaas"
    assert http.get("/v2/models/digits-cnn").json()["inputs"][0]["shape"] == [-1, 1, 8, 8]
    assert http.get("/v2/models/digits-cnn/versions/1/ready").json() == {"name": "digits-cnn", "ready": True}
    body = {
        "id": "one",
        "inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": digit_7.ravel().tolist()}],
    }
    response = http.post("/v2/models/digits-cnn/infer", json=body)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["id"] == "one" and document["model_name"] == "digits-cnn" and document["model_version"] == "1"
    probabilities = next(o for o in document["outputs"] if o["name"] == "probabilities")
    assert probabilities["shape"] == [1, 10] and int(np.argmax(probabilities["data"])) == 7


def test_binary_tensor_extension(http: httpx.Client, digits_split) -> None:
    x = digits_split.x_test[:5]
    body, headers = encode_request({"image": x}, binary=True)
    response = http.post("/v2/models/digits-cnn/infer", content=body, headers=headers)
    assert response.status_code == 200 and "inference-header-content-length" in response.headers
    outputs, _ = decode_response(response.content, response.headers)
    assert outputs["logits"].argmax(-1).tolist() == digits_split.y_test[:5].tolist()


def test_specification_examples(http: httpx.Client) -> None:
    verbatim = http.post("/v2/models/mymodel/infer", content=SPEC_REQUEST, headers={"content-type": "application/json"})
    assert verbatim.status_code == 400
    assert verbatim.json() == {
        "error": "input 'input1': shape [3] holds 3 element(s) but 'data' has 1",
        "code": "malformed_request",
    }
    fixed = json.loads(SPEC_REQUEST)
    fixed["inputs"][0]["datatype"] = "INT32"  # the manifest format has no UINT32 (yet)
    fixed["inputs"][1]["data"] = [True, False, True]
    response = http.post("/v2/models/mymodel/infer", json=fixed)
    assert response.status_code == 200
    assert response.json() == {
        "model_name": "mymodel",
        "model_version": "1",
        "id": "42",
        "outputs": [
            {"name": "output0", "datatype": "FP32", "shape": [3, 2], "data": [11.0, -9.0, 10.0, -10.0, 11.0, -9.0]}
        ],
    }
    as_printed = http.post("/v2/models/mymodel/infer", content=SPEC_PARAMETERS_REQUEST)
    assert (
        as_printed.status_code == 400
        and "not valid JSON: Expecting ',' delimiter: line 3" in as_printed.json()["error"]
    )
    metadata = http.get("/v2/models/mymodel").json()
    assert metadata["inputs"] == [
        {"name": "input0", "datatype": "INT32", "shape": [2, 2]},
        {"name": "input1", "datatype": "BOOL", "shape": [3]},
    ]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_with_the_specification_style_body(server: RunningServer, tmp_path: Path, digit_7: np.ndarray) -> None:
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": digit_7.ravel().tolist()}]}
        )
    )
    done = subprocess.run(
        ["curl", "-sS", "-d", f"@{request}", f"{server.url}/v2/models/digits-cnn/infer"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    outputs = {o["name"]: o for o in json.loads(done.stdout)["outputs"]}
    assert int(np.argmax(outputs["probabilities"]["data"])) == 7


def test_concurrent_requests_each_get_their_own_answer(server: RunningServer, digits_split) -> None:
    """32 clients at once with distinct digits: batches form, and no client sees another's rows."""
    images, labels = digits_split.x_test[:96], digits_split.y_test[:96]

    def client(worker: int) -> list[tuple[int, int]]:
        seen = []
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for i in range(worker, len(images), 32):
                body, headers = encode_request({"image": images[i : i + 1]}, binary=worker % 2 == 0, request_id=str(i))
                response = http.post("/v2/models/digits-cnn/infer", content=body, headers=headers)
                outputs, meta = decode_response(response.content, response.headers, status=response.status_code)
                assert meta["id"] == str(i)
                seen.append((i, int(outputs["logits"].argmax())))
        return seen

    with ThreadPoolExecutor(32) as pool:
        answers = [pair for chunk in pool.map(client, range(32)) for pair in chunk]
    reference = np.asarray(labels)
    assert len(answers) == 96
    correct = sum(pred == reference[i] for i, pred in answers)
    assert correct >= 93  # the model's own accuracy (~98%), not cross-talk, bounds this


def test_access_log_has_no_payload(server: RunningServer, http: httpx.Client) -> None:
    marker = [0.987654] * 64
    http.post(
        "/v2/models/digits-cnn/infer",
        json={"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": marker}]},
        headers={"x-request-id": "log-check"},
    )
    deadline = time.monotonic() + 5
    while "log-check" not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log.read_text()
    assert '"POST /v2/models/digits-cnn/infer" 200' in log and "id=log-check" in log
    assert "0.987654" not in log


@pytest.fixture(scope="module")
def strict_server(serving_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """A server with a bearer token and a tiny queue (4), whose batches wait 300 ms to fill: a batch may take 64 rows,
    so the queue is full before the wait ends, whatever the machine's speed."""
    running = start_server(
        serving_root,
        tmp_path_factory.mktemp("strict-logs"),
        "--max-queue-size",
        "4",
        "--max-batch-size",
        "64",
        "--max-queue-delay-ms",
        "300",
        env={"AIAAS_AUTH_TOKEN": TOKEN},
    )
    yield running
    running.stop()


def test_auth_token_required_except_for_health(strict_server: RunningServer, digit_7: np.ndarray) -> None:
    body, headers = encode_request({"image": digit_7}, binary=False)
    with httpx.Client(base_url=strict_server.url, timeout=30) as http:
        assert http.get("/v2/health/ready").status_code == 200
        assert http.get("/ping").status_code == 200
        refused = http.post("/v2/models/digits-cnn/infer", content=body, headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
        assert http.get("/v2", headers={"Authorization": "Bearer wrong"}).status_code == 401
        allowed = http.post(
            "/v2/models/digits-cnn/infer", content=body, headers={**headers, "Authorization": f"Bearer {TOKEN}"}
        )
        assert allowed.status_code == 200


def test_overload_every_request_gets_200_or_503_with_retry_after(
    strict_server: RunningServer, digit_7: np.ndarray
) -> None:
    """Ten times more concurrent requests than the queue holds: none hangs, none is dropped."""
    body, headers = encode_request({"image": digit_7}, binary=True)
    headers = {**headers, "Authorization": f"Bearer {TOKEN}"}
    statuses: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    ready = threading.Barrier(40)

    def one(_: int) -> None:
        with httpx.Client(base_url=strict_server.url, timeout=20) as http:
            http.get("/v2/health/live")  # connected: the 40 requests then go out together
            ready.wait(timeout=20)
            response = http.post("/v2/models/digits-cnn/infer", content=body, headers=headers)
        with lock:
            statuses.append((response.status_code, response.headers.get("retry-after")))

    with ThreadPoolExecutor(40) as pool:
        list(pool.map(one, range(40)))
    assert len(statuses) == 40
    assert {s for s, _ in statuses} <= {200, 503}
    assert any(s == 200 for s, _ in statuses) and any(s == 503 for s, _ in statuses)
    assert all(retry == "1" for s, retry in statuses if s == 503)
    with httpx.Client(base_url=strict_server.url, timeout=20) as http:
        assert http.get("/v2/health/ready").status_code == 200
        assert http.post("/v2/models/digits-cnn/infer", content=body, headers=headers).status_code == 200


def test_graceful_shutdown_answers_in_flight_requests(serving_root: Path, tmp_path: Path, digit_7: np.ndarray) -> None:
    running = start_server(serving_root, tmp_path, "--max-batch-size", "64", "--max-queue-delay-ms", "800")
    body, headers = encode_request({"image": digit_7}, binary=True)
    result: dict[str, httpx.Response] = {}

    def call() -> None:
        with httpx.Client(base_url=running.url, timeout=20) as http:
            result["response"] = http.post("/v2/models/digits-cnn/infer", content=body, headers=headers)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)  # the request now waits in the batcher for its batch to fill
    assert running.stop(timeout=20) == 0
    caller.join(timeout=20)
    assert result["response"].status_code == 200
    assert int(decode_response(result["response"].content, result["response"].headers)[0]["logits"].argmax()) == 7
    assert "aiaas server stopped" in running.log.read_text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{running.url}/v2/health/live", timeout=2)


def test_binding_beyond_loopback_without_a_token_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    from sdk.cli import app
    from sdk.serving import http as http_module

    monkeypatch.setattr(http_module, "run", lambda service, **options: options["on_ready"]("http://0.0.0.0:1"))
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1", "--model", "digits-cnn"])
    assert result.exit_code == 0, result.output
    assert "without --auth-token" in result.output and "aiaas serving digits-cnn@1 at http://0.0.0.0:1" in result.output
    quiet = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--auth-token", "x", "--model", "digits-cnn"])
    assert "without --auth-token" not in quiet.output


def test_unknown_store_model_is_a_readable_cli_error() -> None:
    from sdk.cli import app

    result = CliRunner().invoke(app, ["serve", "--model", "resnet", "--port", "0"])
    assert result.exit_code == 1 and "no model named 'resnet'" in result.output
