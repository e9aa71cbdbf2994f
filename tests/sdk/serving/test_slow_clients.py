"""Slow, stalled, oversized and malformed clients against a real `sdk serve`, over raw sockets on loopback.

The server runs with short timeouts and small limits given as `sdk serve` options, so that each guard shows within
a second or two; the defaults are the same code with larger numbers.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdk.demo.stack import Server
from tests.sdk.serving.conftest import TOKEN, start_server
from tests.sdk.serving.memory import open_files

pytestmark = pytest.mark.integration

MAX_CONNECTIONS = 16
DIGITS = "/v2/models/digits-cnn/infer"
IMAGE = json.dumps({"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0.5] * 64}]})


@pytest.fixture(scope="module")
def guarded(serving_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    options = ["--header-timeout", "1", "--body-timeout", "1", "--keep-alive", "1", "--auth-token", TOKEN]
    options += ["--max-connections", str(MAX_CONNECTIONS), "--max-header-bytes", "4096", "--max-header-count", "30"]
    options += ["--max-request-rows", "8", "--max-request-elements", "4096"]
    running = start_server(serving_root, tmp_path_factory.mktemp("guarded-logs"), *options)
    yield running
    running.stop()


def _connect(server: Server, timeout: float = 5) -> socket.socket:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def _request(body: str = IMAGE, *, token: bool = True, extra: str = "", length: int | None = None) -> bytes:
    data = body.encode()
    head = f"POST {DIGITS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(data) if length is None else length}\r\n{extra}"
    if token:
        head += f"Authorization: Bearer {TOKEN}\r\n"
    return (head + "\r\n").encode() + data


def _read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the test's socket timeout bounds the wait)."""
    out = b""
    while True:
        try:
            data = connection.recv(65536)
        except ConnectionResetError:
            return out
        if not data:
            return out
        out += data


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _error(answer: bytes) -> str:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]


def _log_line(server: Server, needle: str, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line for line in server.log.read_text().splitlines() if needle in line]
        if lines:
            return "\n".join(lines)
        time.sleep(0.05)
    return ""


def test_a_connection_that_sends_nothing_gets_408_and_is_closed(guarded: Server) -> None:
    with _connect(guarded) as connection:
        answer = _read_until_closed(connection)
    assert _status(answer) == 408 and b"connection: close" in answer
    assert _error(answer) == "the request's headers did not arrive within 1 s"


def test_headers_trickled_past_the_header_timeout_get_408(guarded: Server) -> None:
    with _connect(guarded) as connection:
        connection.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
        for _ in range(8):  # 2.4 s of trickle: a header line every 0.3 s, never the blank line
            time.sleep(0.3)
            try:
                connection.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
        answer = _read_until_closed(connection)
    assert _status(answer) == 408


def test_a_body_stalled_mid_way_gets_408_and_is_closed(guarded: Server) -> None:
    request = _request()
    with _connect(guarded) as connection:
        connection.sendall(request[:-20])
        answer = _read_until_closed(connection)
    assert _status(answer) == 408 and b"connection: close" in answer
    assert _error(answer) == "the request body did not arrive within 1 s"


def test_an_idle_keep_alive_connection_is_closed(guarded: Server) -> None:
    with _connect(guarded, timeout=3) as connection:  # uvicorn's own default (5 s) would time this out
        connection.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_until_closed(connection)  # the answer, then the close once keep-alive (1 s) runs out
    assert _status(answer) == 200 and answer.endswith(b'{"live":true}')


def test_connections_past_the_limit_are_refused_and_real_requests_get_through_after(guarded: Server) -> None:
    """1,230 half-sent connections against a 1,024-file limit made real requests fail until the attacker let go:
    now the server holds at most max_connections, answers the rest 503 at once, and drops the half-sent ones at the
    header timeout."""
    pid = guarded.process.pid
    idle = open_files(pid)
    held = [_connect(guarded) for _ in range(MAX_CONNECTIONS)]
    for connection in held:
        connection.sendall(b"POST /v2/models/digits-cnn/infer HTTP/1.1\r\nHost: x\r\n")  # half-sent headers
    time.sleep(0.2)
    extra = [_connect(guarded) for _ in range(100)]
    time.sleep(0.2)
    assert open_files(pid) - idle <= MAX_CONNECTIONS + 4  # the refused ones are closed at once
    answer = _read_until_closed(extra[0])
    assert _status(answer) == 503 and b"retry-after: 1" in answer
    assert _error(answer) == f"this server holds {MAX_CONNECTIONS} connections, its most; retry after 1 s"
    for connection in extra:
        connection.close()
    assert all(_status(_read_until_closed(c)) == 408 for c in held)  # the header timeout lets go of them
    for connection in held:
        connection.close()
    with _connect(guarded) as connection:
        connection.sendall(_request())
        assert _status(connection.recv(65536)) == 200


def test_oversized_headers_get_431_without_being_read(guarded: Server) -> None:
    """A 32 MiB header was accepted, and 400,000 repeated header lines stalled every client 12.8 s."""
    with _connect(guarded) as connection:
        connection.sendall(b"GET /v2/health/live HTTP/1.1\r\nX-Big: " + b"a" * 8192)
        answer = _read_until_closed(connection)
    assert _status(answer) == 431 and "exceed 4096 bytes" in _error(answer)
    with _connect(guarded) as connection:
        with contextlib.suppress(OSError):  # closed while we were still sending: what we want
            connection.sendall(b"GET /v2/health/live HTTP/1.1\r\n" + b"X-A: b\r\n" * 200_000 + b"\r\n")
        answer = _read_until_closed(connection)
    assert _status(answer) == 431 and _error(answer) == "the request has more than 30 headers, this server's most"


def test_too_many_header_lines_get_431(guarded: Server) -> None:
    with _connect(guarded) as connection:
        connection.sendall(b"GET /v2/health/live HTTP/1.1\r\n" + b"A: b\r\n" * 31 + b"\r\n")
        answer = _read_until_closed(connection)
    assert _status(answer) == 431 and _error(answer) == "the request has more than 30 headers, this server's most"


def test_a_request_without_its_token_gets_401_before_its_body_is_read(guarded: Server) -> None:
    with _connect(guarded) as connection:
        connection.sendall(_request(token=False, length=5_000_000)[:-1])  # headers, then almost none of the body
        answer = _read_until_closed(connection)
    assert _status(answer) == 401 and b"connection: close" in answer


def test_a_truncated_body_is_never_run(guarded: Server) -> None:
    """Fewer bytes than Content-Length, then a half-close: the request ran anyway, on a body the client never
    finished. Now nothing runs, and the access log says 499 (the client went away)."""
    request = _request(length=len(IMAGE) + 10, extra="X-Request-Id: truncated-1\r\n")
    with _connect(guarded) as connection:
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        _read_until_closed(connection)
    line = _log_line(guarded, "id=truncated-1")
    assert '"POST /v2/models/digits-cnn/infer" 499' in line and '" 200 ' not in line


def test_garbage_after_a_valid_request_does_not_lose_its_answer(guarded: Server) -> None:
    """Issue 15 #15: bytes that do not parse, in the same packet as a valid request, made uvicorn drop the valid
    request's answer (though it ran). It is now answered, then the garbage gets its 400."""
    with _connect(guarded) as connection:
        connection.sendall(_request() + b"\x00 not http at all\r\n\r\n")
        answer = _read_until_closed(connection)
    first, _, second = answer.partition(b"HTTP/1.1 400")
    assert _status(first) == 200 and b'"outputs"' in first
    assert b'{"error":"the request is not valid HTTP/1.1"}' in second


def test_access_log_cuts_long_paths(guarded: Server) -> None:
    """Issue 15 #14: the access log wrote the whole raw path, up to ~64 KB a line."""
    with _connect(guarded) as connection:
        connection.sendall(f"GET /{'p' * 3000} HTTP/1.1\r\nHost: x\r\nX-Request-Id: long-path-1\r\n\r\n".encode())
        assert _status(connection.recv(65536)) == 404
    line = _log_line(guarded, "id=long-path-1")
    assert line and len(line) < 400 and "…(+2801 chars)" in line


def test_request_limits_are_sdk_serve_options(guarded: Server) -> None:
    nine = json.dumps({"inputs": [{"name": "image", "shape": [9, 1, 8, 8], "datatype": "FP32", "data": [0.5] * 576}]})
    wide = json.dumps({"inputs": [{"name": "image", "shape": [65, 1, 8, 8], "datatype": "FP32", "data": [0.5]}]})
    for body, message in ((nine, "at most 8 rows per request"), (wide, "accepts at most 4096 per request")):
        with _connect(guarded) as connection:
            connection.sendall(_request(body, extra="Connection: close\r\n"))
            answer = _read_until_closed(connection)
        assert _status(answer) == 413 and message in _error(answer)
