"""`Client(..., transport=...)` and `sdk.testing`: the real serving core in this process, no socket, as the cloud."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from sdk import AsyncClient, Client
from sdk.artifacts.store import BUILTIN_ROOT
from sdk.client import Reason, Route
from sdk.testing import ServiceTransport, in_process

DIGIT = np.full((1, 1, 8, 8), 0.5, np.float32)
SETTINGS = {"exploration_rate": 0.0, "persist_latency": False, "max_attempts": 1, "timeout_s": 5.0}


@pytest.fixture(scope="module")
def cloud() -> Iterator[ServiceTransport]:
    with in_process(BUILTIN_ROOT / "digits-cnn" / "1") as transport:  # one artifact folder, as a function serves it
        yield transport


@pytest.fixture
def client(cloud: ServiceTransport) -> Iterator[Client]:
    cloud.reset()
    with Client(cloud.url, transport=cloud, **SETTINGS) as made:  # the edge: the built-in digits-cnn
        yield made


def test_cloud_only_calls_reach_the_real_service_and_match_the_local_route(client, cloud) -> None:
    remote = client.predict("digits-cnn", {"image": DIGIT}, mode="cloud_only")
    local = client.predict("digits-cnn", {"image": DIGIT}, mode="local_only")
    assert (remote.route, local.route) == (Route.CLOUD, Route.LOCAL)
    assert cloud.infer_count() == 1 and ("POST", "/v2/models/digits-cnn/infer") in cloud.requests
    assert "server" in remote.decision.timings  # the service's own Server-Timing header came back
    assert remote.outputs.keys() == local.outputs.keys()
    for name in local.outputs:
        np.testing.assert_allclose(remote[name], local[name], rtol=1e-6, atol=1e-7)


FAULTS = {
    "overloaded": (503, "overloaded"),
    "unreachable": (httpx.ConnectError("connection refused"), "cloud_unavailable"),
    "html-200": ((200, {"content-type": "text/html"}, b"<html>sign in</html>"), "cloud_bad_response"),
}


@pytest.mark.parametrize(("fault", "code"), FAULTS.values(), ids=FAULTS.keys())
def test_a_fault_injected_through_the_transport_makes_a_public_call_fall_back(client, cloud, fault, code) -> None:
    client.cloud.metadata("digits-cnn")  # the floor, read before any data goes: now the fault meets the inference
    cloud.fail_next(fault)
    result = client.predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.reason is Reason.FALLBACK
    assert [(a.route, a.ok, a.error) for a in result.decision.attempts] == [
        (Route.CLOUD, False, code),
        (Route.LOCAL, True, None),
    ]
    assert cloud.infer_count() == 1
    # The next call reaches the service again.
    assert client.predict("digits-cnn", {"image": DIGIT}, mode="cloud_only").route is Route.CLOUD


def test_a_private_call_sends_nothing_to_the_in_process_cloud(client, cloud) -> None:
    result = client.predict("digits-cnn", {"image": DIGIT}, privacy="private", mode="prefer_cloud")
    assert result.route is Route.LOCAL and cloud.requests == []


def test_one_transport_serves_clients_one_after_another(cloud) -> None:
    """httpx closes a client's transport with the client: the in-process service must outlive it."""
    for _ in range(2):
        with Client(cloud.url, transport=cloud, **SETTINGS) as client:
            assert client.predict("digits-cnn", {"image": DIGIT}, mode="cloud_only").route is Route.CLOUD


def test_the_async_client_takes_the_transport_too(cloud) -> None:
    import asyncio

    async def call() -> Route:
        async with AsyncClient(cloud.url, transport=cloud, **SETTINGS) as client:
            return (await client.predict("digits-cnn", {"image": DIGIT}, mode="cloud_only")).route

    assert asyncio.run(call()) is Route.CLOUD


def test_import_sdk_does_not_load_the_testing_helpers() -> None:
    names = ("sdk.testing", "sdk.serving.service", "sdk.serving.bootstrap", "httpx")
    code = f"import sys, json; import sdk; print(json.dumps([m for m in {names!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
