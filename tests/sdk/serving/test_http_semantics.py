"""HTTP semantics a general-purpose client expects of a real `sdk serve`: HEAD on every GET route (RFC 9110 §9.1),
request bodies with Content-Encoding (gzip and deflate inflated within the body limit, others refused with 415), and
``"outputs": []`` refused with a message that says how to ask for every output."""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from sdk.protocol.codec import encode_request
from sdk.serving.service import Service
from tests.sdk.serving.conftest import RunningServer, start_server

DIGITS = "/v2/models/digits-cnn/infer"
GET_ROUTES = (
    "/v2/health/live",
    "/v2/health/ready",
    "/v2",
    "/v2/models/digits-cnn",
    "/v2/models/digits-cnn/versions/1",
    "/v2/models/digits-cnn/ready",
    "/ping",
    "/v2/models/nope",  # a 404 answers HEAD like GET too
)


def _digit_body(digit: np.ndarray) -> bytes:
    return encode_request({"image": digit}, binary=False)[0]


def _gzip_bomb(inflated_gib: int = 1) -> bytes:
    """One valid gzip member that inflates to ``inflated_gib`` GiB of zeros, in about 1 MB, built in well under a
    second: each 1 MiB of zeros compressed after a full flush is the same ~1 KB of deflate blocks, so one is repeated,
    then the final block and the gzip trailer (CRC-32 and length of the whole) are appended."""
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    middle = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    mebibytes = inflated_gib * 1024
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    final_empty_block = b"\x03\x00"
    trailer = struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)
    return first + middle * (mebibytes - 1) + final_empty_block + trailer


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


# --- HEAD ------------------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("path", GET_ROUTES)
def test_head_answers_like_get_without_a_body(http: httpx.Client, path: str) -> None:
    got = http.get(path)
    head = http.head(path)
    assert head.status_code == got.status_code, head.status_code
    assert head.content == b""
    assert head.headers["content-length"] == str(len(got.content)) != "0"
    assert head.headers["content-type"] == got.headers["content-type"] == "application/json"


@pytest.mark.integration
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "POST"])
def test_other_methods_on_a_get_route_get_405_allowing_get_and_head(http: httpx.Client, method: str) -> None:
    response = http.request(method, "/v2/health/live", content=b"{}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json() == {"error": f"{method} is not allowed on /v2/health/live; use GET, HEAD"}


@pytest.mark.integration
def test_head_on_the_infer_route_is_405_allowing_post(http: httpx.Client) -> None:
    response = http.head(DIGITS)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert int(response.headers["content-length"]) > 0 and response.content == b""


def test_service_answers_head_with_the_get_length_and_no_body(service: Service) -> None:
    got = service.handle("GET", "/v2/models/digits-cnn", {}, b"")
    head = service.handle("HEAD", "/v2/models/digits-cnn", {}, b"")
    assert (head.status, head.body) == (200, b"")
    assert head.headers["content-length"] == str(len(got.body))
    assert "content-length" not in got.headers  # a GET's length is the transport's to write


# --- Content-Encoding ------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # RFC 1950 zlib, what HTTP's deflate means
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # a raw RFC 1951 stream, as some clients send
        ("identity", lambda data: data),
        ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data))),
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "identity", "gzip-twice"],
)
def test_compressed_json_request_is_inflated_and_answered(
    http: httpx.Client, digit_7: np.ndarray, coding: str, compress
) -> None:
    body = _digit_body(digit_7)
    plain = http.post(DIGITS, content=body, headers={"content-type": "application/json"})
    response = http.post(
        DIGITS, content=compress(body), headers={"content-type": "application/json", "content-encoding": coding}
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == plain.json()["outputs"]
    assert int(np.argmax(response.json()["outputs"][1]["data"])) == 7


@pytest.mark.integration
def test_gzip_binary_request_keeps_its_header_length_of_the_inflated_body(http: httpx.Client, digits_split) -> None:
    x = digits_split.x_test[:4]
    body, headers = encode_request({"image": x}, binary=True)
    response = http.post(DIGITS, content=gzip.compress(body), headers={**headers, "content-encoding": "gzip"})
    assert response.status_code == 200, response.text


@pytest.mark.integration
@pytest.mark.parametrize(
    ("coding", "body", "status", "message"),
    [
        ("gzip", b"\x1f\x8b\x08\x00 this is not deflate data at all", 400, "request body is not valid gzip data"),
        ("gzip", b'{"inputs": []}', 400, "request body is not valid gzip data"),
        ("gzip", gzip.compress(b'{"inputs": [1, 2, 3]}' * 50)[:-30], 400, "truncated gzip data"),
        ("gzip", gzip.compress(b'{"inputs": []}') + b"garbage", 400, "7 bytes after the end of its gzip data"),
        ("deflate", b"\x78\x9c definitely not deflate", 400, "request body is not valid deflate data"),
        ("br", b"\x0b\x02\x80{}\x03", 415, "Content-Encoding 'br' is not supported"),
        ("gzip, zstd", b"{}", 415, "Content-Encoding 'zstd' is not supported"),
    ],
    ids=["corrupt-gzip", "plain-json-said-gzip", "truncated-gzip", "trailing-garbage", "corrupt-deflate", "br", "zstd"],
)
def test_bad_or_unknown_content_encoding_is_a_4xx_naming_it(
    http: httpx.Client, coding: str, body: bytes, status: int, message: str
) -> None:
    response = http.post(DIGITS, content=body, headers={"content-type": "application/json", "content-encoding": coding})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"], response.json()
    if status == 415:
        assert response.headers["accept-encoding"] == "gzip, deflate"


@pytest.fixture(scope="module")
def roomy_server(serving_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`sdk serve` with a 4 MiB body limit: a 1 MB gzip bomb passes the size check and must be caught inflating."""
    running = start_server(serving_root, tmp_path_factory.mktemp("roomy-logs"), "--max-body-bytes", str(4 << 20))
    yield running
    running.stop()


@pytest.mark.integration
def test_gzip_bomb_is_refused_with_413_without_inflating_past_the_limit(
    roomy_server: RunningServer, digit_7: np.ndarray
) -> None:
    bomb = _gzip_bomb(1)
    assert len(bomb) < 4 << 20  # the compressed body itself is within the limit
    pid = roomy_server.process.pid
    with httpx.Client(base_url=roomy_server.url, timeout=60) as http:
        assert http.get("/v2/health/ready").status_code == 200
        before = _memory_kib(pid)
        response = http.post(
            DIGITS, content=bomb, headers={"content-type": "application/json", "content-encoding": "gzip"}
        )
        after = _memory_kib(pid)
        assert response.status_code == 413, response.text
        assert response.json()["error"].startswith("request body inflates to more than 4194304 bytes (gzip)")
        # Peak resident memory grew by far less than the 1 GiB the bomb holds: at most the limit, the compressed
        # body and allocator slack (64 MiB, against the 1024 MiB a full inflate would take).
        assert after["VmHWM"] - max(before["VmHWM"], before["VmRSS"]) < 64 * 1024, (before, after)
        # and the server goes on serving
        ok = http.post(DIGITS, content=_digit_body(digit_7), headers={"content-type": "application/json"})
        assert ok.status_code == 200


def test_gzip_bomb_helper_builds_a_gzip_stream_of_one_gib_of_zeros() -> None:
    """The bomb the server test sends is real gzip: it inflates to zeros and its trailer records 1 GiB."""
    bomb = _gzip_bomb(1)
    head = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(bomb, 1 << 20)
    assert head == bytes(1 << 20) and 0.5e6 < len(bomb) < 1.5e6
    assert struct.unpack("<I", bomb[-4:])[0] == (1 << 30) & 0xFFFFFFFF


# --- "outputs": [] ----------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_empty_outputs_list_is_a_400_saying_to_omit_the_key(http: httpx.Client, digit_7: np.ndarray) -> None:
    document = json.loads(_digit_body(digit_7))
    response = http.post(
        DIGITS, content=json.dumps({**document, "outputs": []}), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert '"outputs": [] asks for no outputs' in error and 'omit the "outputs" key to get every output' in error
    everything = http.post(DIGITS, content=json.dumps(document), headers={"content-type": "application/json"})
    assert [o["name"] for o in everything.json()["outputs"]] == ["logits", "probabilities"]
