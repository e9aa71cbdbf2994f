"""What one hostile request can make a real `sdk serve` hold: its resident memory (read from /proc) before and after.

The server runs with the request limits raised far past their defaults (rows, elements, header bytes, all through
environment variables), so that what bounds memory here is the decoding, slicing and caching code itself, not a
limit refusing the request early. The defaults refuse these requests outright (test_request_limits.py).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sdk.demo.stack import Server
from tests.sdk.serving.conftest import TOKEN, start_server
from tests.sdk.serving.memory import growth, rss_mib

pytestmark = pytest.mark.integration

AUTH = {"authorization": f"Bearer {TOKEN}"}
DIGITS = "/v2/models/digits-cnn/infer"
BODY_LIMIT = 6 * 1024 * 1024
RAISED = {
    "AIAAS_MAX_BODY_BYTES": str(BODY_LIMIT),
    "AIAAS_MAX_REQUEST_ROWS": "1000000",
    "AIAAS_MAX_REQUEST_ELEMENTS": "1000000000",
    "AIAAS_MAX_HEADER_BYTES": str(128 * 1024),
    "AIAAS_AUTH_TOKEN": TOKEN,
}


@pytest.fixture(scope="module")
def big(serving_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(serving_root, tmp_path_factory.mktemp("bounds-logs"), env=RAISED)
    with httpx.Client(base_url=running.url, timeout=60, headers=AUTH) as client:  # load and size the model once
        client.post(
            DIGITS, json={"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0.5] * 64}]}
        )
    yield running
    running.stop()


def _binary(head: dict, blob: bytes) -> tuple[bytes, dict[str, str]]:
    text = json.dumps(head).encode()
    return text + blob, {
        **AUTH,
        "inference-header-content-length": str(len(text)),
        "content-type": "application/octet-stream",
    }


def test_scanned_paths_are_not_kept(big: Server) -> None:
    """Issue 15 #4: the route cache kept 4,096 paths with their 404 messages: 800 unauthenticated 60 KB paths
    added 100-174 MiB for good. Paths that do not route are no longer cached. First in this module: the heap that
    later tests free would absorb what a cache keeps."""
    before = rss_mib(big.process.pid)
    with httpx.Client(base_url=big.url, timeout=30) as client:
        for index in range(800):
            response = client.get(f"/{index:06d}{'x' * 60_000}")
            assert response.status_code == 404
    kept = rss_mib(big.process.pid) - before
    assert kept < 20, f"800 scanned paths left {kept:.0f} MiB behind"


def test_a_bytes_shape_its_data_cannot_hold_costs_no_memory(big: Server) -> None:
    """Issue 15 #1: 100,000,000 BYTES elements declared over 4 bytes of data cost +763 MiB and a 2 s stall."""
    body, headers = _binary(
        {
            "inputs": [
                {"name": "image", "shape": [100_000_000], "datatype": "BYTES", "parameters": {"binary_data_size": 4}}
            ]
        },
        b"\0\0\0\0",
    )
    with httpx.Client(base_url=big.url, timeout=60) as client, growth(big.process.pid) as grown:
        response = client.post(DIGITS, content=body, headers=headers)
    assert grown.peak_mib < 20, f"the bomb cost the server {grown.peak_mib:.0f} MiB"
    assert response.status_code == 400, response.text
    assert "needs at least 4 bytes per element, but binary_data_size is 4" in response.json()["error"]


def test_one_legal_request_costs_a_small_multiple_of_its_size(big: Server) -> None:
    """Issue 15 #5: 6 MiB of JSON zeros is 49,150 digit images; run as one batch it cost +720-768 MiB. It now runs
    in slices of max_batch_size rows, and costs what decoding 6 MiB of JSON costs."""
    rows = 49_150
    body = b'{"inputs":[{"name":"image","shape":[%d,1,8,8],"datatype":"FP32","data":[' % rows
    body += b",".join([b"0"] * (rows * 64)) + b"]}]}"
    assert len(body) <= BODY_LIMIT
    with httpx.Client(base_url=big.url, timeout=120) as client, growth(big.process.pid) as grown:
        response = client.post(DIGITS, content=body, headers={**AUTH, "content-type": "application/json"})
    assert grown.peak_mib < 200, f"a {len(body) >> 20} MiB request cost the server {grown.peak_mib:.0f} MiB"
    assert response.status_code == 200, response.text[:300]
    assert response.json()["outputs"][0]["shape"] == [rows, 10]


def test_unauthenticated_bodies_are_refused_before_they_are_read(big: Server) -> None:
    """Issue 15 #2: 32 stalled 6 MiB bodies without a token pinned +130 MiB: the whole body was read before the
    token was checked. The 401 now comes as soon as the headers are in, and the connection closes."""
    host, port = big.url.removeprefix("http://").rsplit(":", 1)
    head = (
        f"POST {DIGITS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {BODY_LIMIT}\r\n\r\n"
    ).encode()
    chunk = b"0" * (BODY_LIMIT - 1)  # all but the last byte: the body never completes
    answers = []
    with growth(big.process.pid) as grown:
        connections = [socket.create_connection((host, int(port)), timeout=3) for _ in range(32)]
        for connection in connections:
            connection.sendall(head)
            with contextlib.suppress(OSError):  # refused and closed while sending: what we want
                connection.sendall(chunk)
        time.sleep(0.5)
        for connection in connections:
            with connection:
                try:
                    answers.append(connection.recv(4096))
                except OSError:  # reset or timed out: no answer
                    answers.append(b"")
    assert grown.peak_mib < 40, f"32 refused bodies cost the server {grown.peak_mib:.0f} MiB"
    assert all(answer.startswith(b"HTTP/1.1 401") for answer in answers), answers[:3]


def test_shape_with_a_zero_and_huge_dimensions_is_a_400(big: Server) -> None:
    """Issue 15 #7: [0, 2**63 - 1] holds no element, but numpy cannot describe it ("array is too big": a 500)."""
    for datatype in ("FP32", "BYTES"):
        document = {"inputs": [{"name": "image", "shape": [0, 2**63 - 1], "datatype": datatype, "data": []}]}
        with httpx.Client(base_url=big.url, timeout=30, headers=AUTH) as client:
            response = client.post(DIGITS, json=document)
        assert response.status_code in (400, 413), response.text
        assert "shape [0, 9223372036854775807]" in response.json()["error"]
    blob = struct.pack("<I", 0)
    body, headers = _binary(
        {"inputs": [{"name": "image", "shape": [0, 2**62], "datatype": "FP32", "parameters": {"binary_data_size": 0}}]},
        blob[:0],
    )
    with httpx.Client(base_url=big.url, timeout=30) as client:
        assert client.post(DIGITS, content=body + b" ", headers=headers).status_code in (400, 413)
