"""The cloud call's fast paths (issue #20 item 4) do what the general paths do: the request bytes the codec writes,
the arrays and meta it reads, the Server-Timing the pattern finds, the latency the model predicts, and the cookies
httpx keeps; anything unusual still takes the general path, with its own error. benchmarks/router.py measures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from sdk import Client
from sdk.artifacts import LocalStore
from sdk.client import Route
from sdk.client.answers import server_ms
from sdk.client.latency import LatencyModel
from sdk.errors import CloudBadResponse, MalformedRequest
from sdk.protocol import jsonio
from sdk.protocol.codec import decode_request, decode_response, encode_request, encode_response
from sdk.protocol.framing import HEADER_LENGTH
from sdk.protocol.plain import plain_request, plain_response
from tests.loopback import Loopback, QuietHandler

RNG = np.random.default_rng(3)
NUMERIC = ["float32", "float16", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


def arrays(dtype: str) -> dict[str, np.ndarray]:
    return {
        "a": (RNG.random((2, 3)) * 100).astype(dtype),
        "b": (RNG.random((3, 4)) * 100).astype(dtype).T,  # not contiguous: sent row-major all the same
        "c": np.array(7, dtype=dtype),  # rank 0
    }


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("dtype", NUMERIC)
def test_plain_request_writes_the_codecs_very_bytes(dtype: str, binary: bool) -> None:
    inputs = arrays(dtype)
    fast = plain_request(inputs, binary=binary)
    assert fast is not None
    assert fast == encode_request(inputs, binary=binary)
    request = decode_request(*fast)  # and the server reads it back
    for name, array in inputs.items():
        np.testing.assert_array_equal(request.inputs[name], array)


@pytest.mark.parametrize(
    "inputs",
    [
        {},
        {"x": np.array([True, False])},  # BOOL
        {"x": np.array([b"ab", b"c"], dtype=object)},  # BYTES
        {"x": np.array(["ab"])},
        {"x": np.arange(3, dtype=">f4")},  # big-endian: the codec swaps it
        {"x": [1.0, 2.0]},  # a list: the codec turns it into an array
        {"x": np.zeros(2, np.float32), "y": np.zeros(1, np.complex64)},
    ],
    ids=["empty", "bool", "bytes", "str", "big-endian", "list", "complex"],
)
def test_plain_request_leaves_anything_unusual_to_the_codec(inputs: dict[str, Any]) -> None:
    assert plain_request(inputs, binary=False) is None
    assert plain_request(inputs, binary=True) is None


def answer(binary: bool, **parameters: Any) -> tuple[bytes, dict[str, str]]:
    outputs: dict[str, np.ndarray] = {
        "logits": RNG.random((1, 10), dtype=np.float32),
        "ids": np.arange(4, dtype=np.int64).reshape(2, 2),
    }
    body, headers = encode_request({"x": np.zeros(1, np.float32)}, binary=binary)
    return encode_response(
        outputs, model_name="m", model_version="1", request=decode_request(body, headers), parameters=parameters
    )


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_plain_response_reads_what_decode_response_reads(binary: bool) -> None:
    body, headers = answer(binary, notes=["n"], count=2)
    fast = plain_response(body, headers.get(HEADER_LENGTH))
    assert fast is not None
    expected, meta = decode_response(body, headers)
    assert fast[1] == meta
    assert list(fast[0]) == list(expected)
    for name, array in fast[0].items():
        assert array.dtype == expected[name].dtype and array.shape == expected[name].shape
        np.testing.assert_array_equal(array, expected[name])


def test_plain_response_leaves_anything_unusual_to_the_general_path() -> None:
    body, headers = answer(True)
    length = headers[HEADER_LENGTH]
    json_body, _ = answer(False)
    for odd_body, odd_length in [
        (body, "0"),
        (body, str(len(body) + 1)),
        (body, "²"),
        (body, " 12"),
        (body, None),  # binary bytes after the JSON, and no length to cut them off
        (b"", None),
        (b'{"error": "model failed"}', None),
        (b'{"outputs": {}}', None),
        (b"[1, 2]", None),
        (b"\xff\xfe", None),
        (b"<html>login</html>", None),
        (json_body.replace(b'"data":[0', b'"data":[true'), None),  # numpy would read true as 1
        (json_body.replace(b"FP32", b"BOOL"), None),
        (body[:-1], length),  # the binary part is a byte short
    ]:
        assert plain_response(odd_body, odd_length) is None, (odd_body[:40], odd_length)


@pytest.mark.parametrize(
    ("header", "ms"),
    [
        ("infer;dur=1.609", 1.609),
        ("infer;dur=12", 12.0),
        ("infer;dur=2.5;desc=onnx", 2.5),
        ("queue;dur=0.5, infer;dur=3.25", 3.25),  # not first: the pattern finds it
        ("infer;dur=1.2.3", 1.2),  # used to raise ValueError out of a call that had succeeded
        ("infer;dur=²", None),
        ("infer;dur=", None),
        ("db;dur=4", None),
    ],
)
def test_server_timing_is_read_wherever_the_infer_entry_is(header: str, ms: float | None) -> None:
    assert server_ms(header) == ms


def test_both_predictions_at_once_are_each_routes_prediction() -> None:
    now = [1000.0]
    latency = LatencyModel(clock=lambda: now[0])
    assert latency.predict_both("m", local=True, cloud=True, payload_bytes=10) == (None, None)
    for ms in (2.0, 3.0, 9.0, 2.5):
        latency.observe("m", Route.LOCAL, ms)
        latency.observe("m", Route.CLOUD, ms * 2, payload_bytes=100_000)
    for payload in (0, 1_000_000):
        both = latency.predict_both("m", local=True, cloud=True, payload_bytes=payload)
        assert both == (latency.predict("m", Route.LOCAL), latency.predict("m", Route.CLOUD, payload))
    assert latency.predict_both("m", local=False, cloud=True)[0] is None
    assert latency.predict_both("m", local=True, cloud=False)[1] is None
    now[0] += latency.policy.cloud_idle_s + 1  # idle: a cold start joins the cloud's estimate
    cold = latency.predict_both("m", local=True, cloud=True, payload_bytes=5)[1]
    assert cold is not None and cold.cold and cold == latency.predict("m", Route.CLOUD, 5)


# --- a real endpoint on loopback that sets a cookie once ------------------------------------------------------------


class CookieServer:
    """An OIP endpoint serving model 'm' (public) that sets a cookie on its first inference answer, as a load
    balancer with sticky sessions does, and records the Cookie header of every request."""

    def __init__(self) -> None:
        self.cookies: list[str | None] = []
        self.body, self.headers = answer(False)
        server = self

        class Handler(QuietHandler):
            def _reply(self, body: bytes, extra: dict[str, str]) -> None:
                self.reply(200, {"content-type": "application/json", **extra}, body)

            def do_GET(self) -> None:
                metadata = {"name": "m", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}]}
                self._reply(jsonio.dumps({**metadata, "parameters": {"privacy_floor": "public"}}), {})

            def do_POST(self) -> None:
                self.body()
                server.cookies.append(self.headers.get("cookie"))
                first = len(server.cookies) == 1
                cookie = {"set-cookie": "AWSALB=sticky; Path=/"} if first else {}
                self._reply(server.body, {**server.headers, **cookie})

        self._server = Loopback(Handler)
        self.url = self._server.url

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def cookie_server() -> Iterator[CookieServer]:
    server = CookieServer()
    yield server
    server.close()


def test_a_cookie_an_answer_sets_still_rides_on_later_calls_and_others_are_not_parsed(
    cookie_server: CookieServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[int] = []
    original = httpx.Cookies.extract_cookies

    def counting(self: httpx.Cookies, response: httpx.Response) -> None:
        parsed.append(response.status_code)
        original(self, response)

    monkeypatch.setattr(httpx.Cookies, "extract_cookies", counting)
    with Client(cookie_server.url, store=LocalStore(tmp_path), persist_latency=False, exploration_rate=0.0) as client:
        for _ in range(3):
            result = client.predict("m", {"x": np.ones(2, np.float32)}, mode="cloud_only")
            assert result.route is Route.CLOUD and result.outputs["logits"].shape == (1, 10)
        assert client.cloud is not None and client.cloud._http.cookies.get("AWSALB") == "sticky"
    assert cookie_server.cookies == [None, "AWSALB=sticky", "AWSALB=sticky"]
    assert len(parsed) == 1  # the one answer that set a cookie; the metadata and the other answers set none


def test_a_binary_answer_cut_short_is_the_endpoints_fault_not_a_crash(
    cookie_server: CookieServer, tmp_path: Path
) -> None:
    body, cookie_server.headers = answer(True)
    cookie_server.body = body[:-1]  # a proxy that dropped the last byte; the JSON part still says 40 bytes
    with pytest.raises(MalformedRequest, match="binary"):  # the codec, read directly, names it too
        decode_response(cookie_server.body, cookie_server.headers)
    client = Client(cookie_server.url, store=LocalStore(tmp_path), persist_latency=False, max_attempts=1)
    with client, pytest.raises(CloudBadResponse, match="not an inference response"):
        client.predict("m", {"x": np.ones(2, np.float32)}, mode="cloud_only")
