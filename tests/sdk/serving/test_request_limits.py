"""What one request may cost, in-process: rows and elements per request, slices per run, and the 400s that were
500s (deep nesting, unbounded dimensions, booleans cast to numbers), plus the route cache, request ids, server paths
in 422s and what reaches the log."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import shutil
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk.artifacts import LocalStore
from sdk.errors import MalformedRequest
from sdk.protocol.codec import decode_request
from sdk.serving.batcher import Batcher
from sdk.serving.config import ServeConfig
from sdk.serving.http import AccessLog, OipApp
from sdk.serving.repository import ModelRepository
from sdk.serving.service import Service
from tests.sdk.serving.builders import pair_model

PAIR = "/v2/models/pair/infer"
JSON = {"content-type": "application/json"}


def _error(response: Any) -> str:
    return json.loads(response.body)["error"]


def _pair_request(rows: int, length: int = 3) -> bytes:
    ids = np.arange(rows * length, dtype=np.int64).reshape(rows, length) % 97
    return json.dumps(
        {
            "inputs": [
                {"name": "ids", "shape": [rows, length], "datatype": "INT64", "data": ids.ravel().tolist()},
                {"name": "mask", "shape": [rows, length], "datatype": "FP32", "data": [0.5] * (rows * length)},
            ]
        }
    ).encode()


@pytest.fixture
def pair_service(tmp_path: Path) -> Service:
    pair_model(tmp_path)
    config = ServeConfig(max_batch_size=4, max_request_rows=50, max_request_elements=10_000)
    return Service(ModelRepository(LocalStore(tmp_path)), config=config).start()


def _spy_rows(service: Service, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    model = service.repository.get("pair")
    rows: list[int] = []
    run = model.run_validated

    def counted(feeds: Any) -> Any:
        rows.append(int(next(iter(feeds.values())).shape[0]))
        return run(feeds)

    monkeypatch.setattr(model, "run_validated", counted)
    return rows


# --- rows and elements (issue 15 #5) -----------------------------------------------------------------------------


def test_rows_past_the_limit_get_413_naming_it(service: Service) -> None:
    response = service.handle("POST", PAIR, JSON, _pair_request(1025, 1))
    assert response.status == 413
    assert _error(response).startswith("the request has 1025 rows; this server runs at most 1024 rows per request")
    assert "AIAAS_MAX_REQUEST_ROWS" in _error(response)
    assert service.handle("POST", PAIR, JSON, _pair_request(1024, 1)).status == 200


def test_a_large_request_runs_in_slices_of_max_batch_size(
    pair_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _spy_rows(pair_service, monkeypatch)
    response = pair_service.handle("POST", PAIR, JSON, _pair_request(10))
    assert response.status == 200, response.body
    assert rows == [4, 4, 2]
    score = np.asarray(json.loads(response.body)["outputs"][0]["data"]).reshape(10, 3)
    expected = (np.arange(30).reshape(10, 3) % 97) * 0.5
    np.testing.assert_allclose(score, expected)


def test_a_large_request_goes_through_the_batcher_slice_by_slice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair_model(tmp_path)
    config = ServeConfig(max_batch_size=4, max_request_rows=50, adaptive_batch=False)

    async def scenario() -> tuple[Any, list[int]]:
        batcher = Batcher(max_batch_size=4)
        service = Service(ModelRepository(LocalStore(tmp_path)), config=config, batcher=batcher).start()
        rows = _spy_rows(service, monkeypatch)
        try:
            return await service.handle_async("POST", PAIR, JSON, _pair_request(9)), rows
        finally:
            await batcher.close()

    response, rows = asyncio.run(scenario())
    assert response.status == 200 and rows == [4, 4, 1]
    assert json.loads(response.body)["outputs"][0]["shape"] == [9, 3]


def test_elements_past_the_limit_get_413_before_any_array_exists(pair_service: Service) -> None:
    body = json.dumps({"inputs": [{"name": "ids", "shape": [40, 300], "datatype": "INT64", "data": [1]}]}).encode()
    response = pair_service.handle("POST", PAIR, JSON, body)
    assert response.status == 413
    assert _error(response).startswith("input 'ids': shape [40, 300] spans 12000 elements; this server accepts at")


def test_limits_read_their_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_MAX_REQUEST_ROWS", "7")
    monkeypatch.setenv("AIAAS_HEADER_TIMEOUT_S", "2.5")
    config = ServeConfig.from_env()
    assert config.max_request_rows == 7 and config.header_timeout_s == 2.5
    assert ServeConfig().max_request_rows == 1024 and ServeConfig().max_connections == 512


# --- decoding: bombs and the 500s that are 400s (issue 15 #1, #6, #7, #8, #12) ---------------------------------


def test_bytes_elements_are_checked_against_their_data_before_allocating() -> None:
    head = json.dumps(
        {"inputs": [{"name": "s", "shape": [100_000_000], "datatype": "BYTES", "parameters": {"binary_data_size": 4}}]}
    ).encode()
    tracemalloc.start()
    try:
        with pytest.raises(MalformedRequest, match="needs at least 4 bytes per element"):
            decode_request(head + b"\0\0\0\0", {"inference-header-content-length": str(len(head))})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"decoding the bomb allocated {peak >> 20} MiB"


@pytest.mark.parametrize("datatype", ["FP32", "BYTES", "INT8"])
def test_a_shape_with_a_zero_and_huge_dimensions_is_a_4xx(service: Service, datatype: str) -> None:
    body = json.dumps({"inputs": [{"name": "image", "shape": [0, 2**63 - 1], "datatype": datatype, "data": []}]})
    response = service.handle("POST", "/v2/models/digits-cnn/infer", JSON, body.encode())
    assert response.status == 413 and "shape [0, 9223372036854775807]" in _error(response)
    with pytest.raises(MalformedRequest, match="too large to describe"):
        decode_request(body.encode(), {})  # a client reading a response has no limit but this one


def test_deep_nesting_is_a_400_not_a_recursion_error(service: Service) -> None:
    # Past orjson's depth limit (1024), and past the standard library's recursion (its fallback, for the NaN): Python
    # 3.13's json reads 8,000 levels without recursing too deep, every version from 3.10 stops before 10,000.
    for body in (b"[" * 20_000 + b"]" * 20_000, b'{"inputs": [NaN, ' + b"[" * 20_000 + b"]" * 20_000 + b"]}"):
        response = service.handle("POST", "/v2/models/digits-cnn/infer", JSON, body)
        assert response.status == 400, response.body[:200]
        assert "nested too deeply" in _error(response)


def test_a_header_length_of_a_unicode_digit_is_a_400(service: Service) -> None:
    headers = {"inference-header-content-length": "²", "content-type": "application/octet-stream"}
    response = service.handle("POST", "/v2/models/digits-cnn/infer", headers, b'{"inputs": []}')
    assert (
        response.status == 400 and _error(response) == "Inference-Header-Content-Length must be a byte count, got '²'"
    )


@pytest.mark.parametrize(
    ("datatype", "data"), [("FP32", [True, 0.5]), ("INT64", [1, False]), ("FP32", [[0.5], [True]])]
)
def test_booleans_are_not_numbers(datatype: str, data: list[Any]) -> None:
    shape = [2, 1] if isinstance(data[0], list) else [2]
    body = json.dumps({"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]}).encode()
    with pytest.raises(MalformedRequest, match=f"{datatype} data must be numbers, got a boolean"):
        decode_request(body, {})
    ok = json.dumps({"inputs": [{"name": "x", "shape": [2], "datatype": "BOOL", "data": [True, False]}]})
    assert decode_request(ok.encode(), {}).inputs["x"].tolist() == [True, False]


# --- routes, request ids, paths, logs (issue 15 #4, #10, #13, #14) -----------------------------------------------


def test_paths_that_do_not_route_are_not_cached(service: Service) -> None:
    before = len(service.routes)
    for index in range(2000):
        assert service.handle("GET", f"/scan/{index}/{'x' * 500}", {}, b"").status == 404
    assert service.handle("POST", "/v2/models/x/versions/1", {}, b"").status == 405
    assert len(service.routes) == before


def test_route_cache_is_bounded_in_entries_and_characters(service: Service) -> None:
    for index in range(3000):
        service.handle("GET", f"/v2/models/m{index}/ready", {}, b"")
    service.handle("GET", f"/v2/models/{'n' * 1000}/ready", {}, b"")
    assert len(service.routes) <= service.routes.max_entries
    assert service.routes.key_bytes() <= service.routes.max_entries * (service.routes.max_path + 7)


@pytest.mark.parametrize("given", ["abc\n", "abc\r\nx-evil: 1", "idé", "", "a" * 129])
def test_request_ids_are_echoed_only_when_plain_ascii(service: Service, given: str) -> None:
    response = service.handle("GET", "/v2/health/live", {"x-request-id": given}, b"")
    assert response.headers["x-request-id"] != given and len(response.headers["x-request-id"]) == 32
    plain = service.handle("GET", "/v2/health/live", {"x-request-id": "Req_1.2:3-4"}, b"")
    assert plain.headers["x-request-id"] == "Req_1.2:3-4"


def test_an_artifact_error_names_files_inside_the_artifact_never_server_paths(tmp_path: Path) -> None:
    root = tmp_path / "private-server-root"
    pair_model(root, "9")  # the default (highest) version, loaded at start
    (pair_model(root, "2") / "manifest.json").write_text("{not json")
    (pair_model(root, "3") / "model.onnx").unlink()
    service = Service(ModelRepository(LocalStore(root)), config=ServeConfig()).start()
    bad_manifest = service.handle("GET", "/v2/models/pair/versions/2", {}, b"")
    missing = service.handle("POST", "/v2/models/pair/versions/3/infer", JSON, _pair_request(1))
    for response, expected in ((bad_manifest, "manifest.json is not valid JSON"), (missing, "model.onnx is missing")):
        assert response.status == 422, response.body
        assert _error(response).startswith(expected), _error(response)
        assert str(tmp_path) not in _error(response) and "private-server-root" not in _error(response)
    shutil.rmtree(root)


def test_an_unexpected_fault_logs_where_it_was_raised_but_not_what_it_said(
    pair_service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = pair_service.repository.get("pair")

    def fail(feeds: Any) -> Any:
        raise KeyError(f"value-{int(feeds['ids'].sum()) * 7919}")  # an error that quotes the request's data

    monkeypatch.setattr(model, "run_validated", fail)
    with caplog.at_level(logging.ERROR, logger="sdk.serving"):
        response = pair_service.handle("POST", PAIR, {**JSON, "x-request-id": "fault-1"}, _pair_request(1))
    assert response.status == 500 and "request id fault-1" in _error(response)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "fault-1" in logged and "KeyError" in logged and "in fail" in logged
    assert "value-23757" not in logged and not any(r.exc_info for r in caplog.records)


def test_access_log_lines_cut_long_paths_and_escape_control_characters() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.write("1.2.3.4:5", "GET", "/" + "p" * 64_000, 404, 0, 10, 1.0, "id-1")
    log.write("1.2.3.4:5", "GET", "/a\x1b[31mred\nx", 404, 0, 10, 1.0, "id-2")
    log.flush()
    first, second = stream.getvalue().splitlines()
    assert len(first) < 400 and "…(+63801 chars)" in first
    assert "\\x1b[31mred\\nx" in second


# --- the ASGI app: headers in linear time, a body cut short, the token before the body (#2, #3, #11) ----------


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "headers": headers}


def _call(app: OipApp, scope: dict[str, Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not messages:
            raise AssertionError("the app read past the messages it was given")
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_repeated_headers_are_joined_in_linear_time(service: Service) -> None:
    """400,000 repeated header lines stalled the server 12.8 s (each join copied everything joined so far).

    No wall-clock limit: the cost of 4x the lines is compared with the cost of 1x in the same run (best of three
    each). Linear work gives ~4x; the quadratic join gave ~16x."""

    def cost(lines: int) -> float:
        headers = [(b"x-repeated", b"v")] * lines
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            sent = _call(OipApp(service), _scope("GET", "/v2/health/live", headers), [])
            best = min(best, time.perf_counter() - start)
            assert sent[0]["status"] == 200
        return best

    small, large = cost(100_000), cost(400_000)
    assert large / small < 8, f"4x the header lines cost {large / small:.1f}x the time"


def test_a_body_cut_short_by_a_disconnect_is_never_run(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[Any] = []

    async def answer_async(request: Any) -> Any:
        ran.append(request)
        raise AssertionError("a truncated request was run")

    monkeypatch.setattr(service, "answer_async", answer_async)
    body = _pair_request(1)
    messages = [{"type": "http.request", "body": body[:-5], "more_body": True}, {"type": "http.disconnect"}]
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    sent = _call(OipApp(service), _scope("POST", PAIR, headers), messages)
    assert sent == [] and ran == []


def test_the_token_is_checked_before_a_byte_of_the_body_is_read(tmp_path: Path) -> None:
    pair_model(tmp_path)
    service = Service(ModelRepository(LocalStore(tmp_path)), config=ServeConfig(auth_token="t0ken")).start()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"6000000")]
    sent = _call(OipApp(service), _scope("POST", PAIR, headers), [])  # receive() is never called
    assert sent[0]["status"] == 401 and (b"connection", b"close") in sent[0]["headers"]
    sent = _call(OipApp(service), _scope("POST", "/nowhere", headers), [])
    assert sent[0]["status"] == 404
