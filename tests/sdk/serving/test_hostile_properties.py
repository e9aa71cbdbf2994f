"""Property: whatever method, path, headers and body (JSON, binary headers that lie, deep nesting, huge shapes) a
client sends, `sdk serve` answers 2xx or 4xx with a JSON error body, never a 5xx; and the whole run costs the server
a bounded amount of memory. In-process against the service (many cases), then over a real socket (fewer)."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdk.demo.stack import Server
from sdk.serving.service import Service
from tests.sdk.serving.hostile import INFER_PATHS, METHODS, bodies, headers, paths
from tests.sdk.serving.memory import growth

ANSWERS = {200, 400, 401, 404, 405, 413, 415, 431}
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
}


def check(method: str, status: int, body: bytes) -> None:
    assert status in ANSWERS, (status, body[:300])
    if status >= 400 and method != "HEAD":
        document = json.loads(body)
        assert isinstance(document, dict) and isinstance(document["error"], str) and document["error"]


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    body, framing = draw(bodies())
    method = draw(st.sampled_from(["POST"] * len(METHODS) + METHODS))  # mostly POST: the requests that decode
    path = draw(st.sampled_from(INFER_PATHS) | paths)
    return method, path, {**draw(headers), **framing}, body


@settings(max_examples=1500, **SETTINGS)
@given(requests())
def test_hostile_requests_never_get_a_5xx_in_process(service: Service, case: tuple[str, str, dict, bytes]) -> None:
    method, path, request_headers, body = case
    response = service.handle(method, path, request_headers, body)
    check(method, response.status, response.body)


def _sendable(request_headers: dict[str, str]) -> dict[str, bytes]:
    """What an HTTP client can put on the wire: latin-1 values without control characters."""
    return {k: v.encode("latin-1") for k, v in request_headers.items() if v.isprintable() and v == v.strip()}


@pytest.mark.integration
def test_hostile_requests_over_http_never_get_a_5xx_and_cost_bounded_memory(server: Server, http: httpx.Client) -> None:
    @settings(max_examples=250, **SETTINGS)
    @given(requests())
    def over_http(case: tuple[str, str, dict, bytes]) -> None:
        method, path, request_headers, body = case
        try:
            response = http.request(method, path, content=body, headers=_sendable(request_headers))
        except httpx.InvalidURL:
            return  # a path httpx itself will not send
        check(method, response.status_code, response.content)

    with growth(server.process.pid) as grown:
        over_http()
    assert http.get("/v2/health/live").status_code == 200
    assert grown.peak_mib < 100, f"the run cost the server {grown.peak_mib:.0f} MiB at its peak"


request_bytes = st.binary(min_size=0, max_size=30)


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    """A request as bytes: request line and header lines drawn partly at random (invalid bytes included), always
    complete (a blank line, and a body of the length announced), and asking for the connection to close."""
    method = draw(st.sampled_from([b"GET", b"POST", b"HEAD", b"CONNECT", b"G\x00T", b"BREW"]))
    path = draw(st.sampled_from([b"/v2/health/live", b"/v2/models/digits-cnn/infer", b"/..%2f..", b"*"]))
    path += draw(st.binary(max_size=10).filter(lambda b: b" " not in b and b"\r" not in b and b"\n" not in b))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9.9", b"HTTP/1.1 x"]))
    lines = [method + b" " + path + b" " + version]
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from([b"X-A", b"Content-Type", b"Transfer-Encoding", b"Upgrade", b"Expect", b"B\x7f"]))
        lines.append(name + b": " + draw(request_bytes.filter(lambda b: b"\r" not in b and b"\n" not in b)))
    body = draw(st.binary(max_size=100))
    lines += [b"Host: x", b"Connection: close", b"Content-Length: %d" % len(body)]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.mark.integration
def test_raw_bytes_on_the_socket_get_a_4xx_or_an_answer(server: Server) -> None:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)

    @settings(max_examples=150, **SETTINGS)
    @given(raw_requests())
    def over_socket(request: bytes) -> None:
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(request)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        status = int(answer.split(b" ", 2)[1])
        _, _, body = answer.partition(b"\r\n\r\n")
        check("HEAD" if request.startswith(b"HEAD ") else "GET", status, body)

    over_socket()
