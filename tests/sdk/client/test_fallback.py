"""Availability: cloud faults fall back to the edge (public calls), local faults to the cloud; the breaker."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from sdk.client import Reason, Route
from sdk.client.breaker import State
from sdk.errors import InvalidInput

pytestmark = pytest.mark.integration

DIGIT = np.full((1, 1, 8, 8), 0.5, np.float32)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_public_call_goes_to_the_cloud_when_asked(make_client, proxy) -> None:
    result = make_client().predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")
    assert result.route is Route.CLOUD and proxy.infer_count() == 1
    assert result.decision.reason is Reason.MODE
    local = make_client().predict("digits-cnn", {"image": DIGIT}, mode="local_only")
    np.testing.assert_allclose(result["probabilities"], local["probabilities"], atol=1e-6)


@pytest.mark.parametrize("scope", ["infer", "all"])  # "all": the metadata read (the cloud's floor) fails first
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ((500, {}), "cloud_unavailable"),
        ((503, {"retry-after": "0"}), "overloaded"),
        ((429, {"retry-after": "0"}), "overloaded"),
    ],
)
def test_cloud_faults_fall_back_to_the_edge(make_client, proxy, fault, code, scope) -> None:
    proxy.scope = scope
    proxy.fail_always(*fault)
    result = make_client(max_attempts=2).predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.reason is Reason.FALLBACK
    chain = result.decision.attempts
    assert [(a.route, a.ok) for a in chain] == [(Route.CLOUD, False), (Route.LOCAL, True)]
    assert chain[0].error == code
    expected_tries = 1 if fault[0] == 500 else 2  # 500 is a real fault: no retry; 429/503 are retried
    if scope == "infer":
        assert proxy.infer_count() == expected_tries
    else:  # the floor could not be read: no data went, and the decision says why the call ended private
        assert proxy.infer_count() == 0 and proxy.count == expected_tries
        assert result.decision.privacy.value == "private" and result.decision.privacy_source.value == "unknown_floor"


def test_connection_refused_falls_back(make_client) -> None:
    result = make_client(endpoint=closed_port_url(), max_attempts=2).predict(
        "digits-cnn", {"image": DIGIT}, mode="prefer_cloud"
    )
    assert result.route is Route.LOCAL and result.decision.attempts[0].error == "cloud_unavailable"


def test_timeout_falls_back(make_client, proxy) -> None:
    proxy.delay_s = 1.0
    start = time.perf_counter()
    result = make_client(timeout_s=0.3).predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.attempts[0].error == "deadline_exceeded"
    assert time.perf_counter() - start < 1.0


def test_503_with_retry_after_is_retried_and_then_served_by_the_cloud(make_client, proxy) -> None:
    proxy.scope = "infer"
    proxy.fail_next((503, {"retry-after": "0.2"}))
    start = time.perf_counter()
    result = make_client().predict("digits-cnn", {"image": DIGIT}, mode="cloud_only")
    assert result.route is Route.CLOUD and proxy.infer_count() == 2
    assert time.perf_counter() - start >= 0.2  # Retry-After honoured


def test_retries_stay_within_the_budget(make_client, proxy) -> None:
    proxy.scope = "infer"
    proxy.fail_always(503, {"retry-after": "5"})
    start = time.perf_counter()
    result = make_client(timeout_s=1.0, max_attempts=5).predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")
    assert result.route is Route.LOCAL
    assert time.perf_counter() - start < 1.0 and proxy.infer_count() == 1  # a 5 s wait does not fit in 1 s


def test_local_faults_fall_back_to_the_cloud_for_public_calls(make_client, proxy) -> None:
    for edge, code in (("tampered", "integrity_error"), ("broken", "runtime_fault")):
        result = make_client(edge).predict("digits-cnn", {"image": DIGIT}, mode="prefer_local")
        assert result.route is Route.CLOUD, edge
        assert result.decision.attempts[0].error == code and result.decision.reason is Reason.FALLBACK
    missing = make_client("missing").predict("digits-cnn", {"image": DIGIT})
    assert missing.route is Route.CLOUD and missing.decision.reason is Reason.LOCAL_UNAVAILABLE


def test_invalid_input_is_not_retried_elsewhere(make_client, proxy) -> None:
    with pytest.raises(InvalidInput, match="input 'image'"):
        make_client().predict("digits-cnn", {"image": np.zeros((1, 8, 8), np.float32)}, mode="prefer_local")
    with pytest.raises(InvalidInput):
        make_client().predict("digits-cnn", {"image": np.zeros((1, 8, 8), np.float32)}, mode="cloud_only")
    assert proxy.infer_count() == 1  # the cloud said 400 once; nothing fell back


def test_breaker_opens_then_half_opens_and_closes_without_flapping(make_client, proxy) -> None:
    client = make_client(max_attempts=1, breaker_failures=3, breaker_cooldown_s=0.3)
    proxy.scope = "infer"
    proxy.fail_always(500)
    for _ in range(3):
        assert client.predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud").route is Route.LOCAL
    assert client.cloud.breaker.state is State.OPEN and proxy.infer_count() == 3
    result = client.predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.reason is Reason.CLOUD_UNAVAILABLE
    assert "circuit open" in result.decision.explanation and proxy.infer_count() == 3  # not even tried
    time.sleep(0.35)
    proxy.fail_always(500)  # (scope still "infer")
    client.predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")  # the half-open probe fails
    assert client.cloud.breaker.state is State.OPEN and proxy.infer_count() == 4
    proxy.reset()  # the cloud recovers
    time.sleep(0.65)  # the cooldown doubled after the failed probe
    routes = [client.predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud").route for _ in range(10)]
    assert routes == [Route.CLOUD] * 10 and client.cloud.breaker.state is State.CLOSED


def test_a_403_is_an_auth_fault_and_public_calls_fall_back(make_client, proxy) -> None:
    proxy.fail_always(403)
    result = make_client(max_attempts=1).predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.attempts[0].error == "unauthorized"


def test_metadata_lookups_count_against_the_breaker(make_client) -> None:
    from sdk.errors import CloudUnavailable

    client = make_client("missing", endpoint=closed_port_url(), max_attempts=3, breaker_failures=3)
    with pytest.raises(CloudUnavailable):
        client.predict("digits-cnn", DIGIT, mode="cloud_only")  # a bare array: needs the model's metadata first
    assert client.cloud.breaker.state is State.OPEN


def test_a_single_route_failure_keeps_its_own_error(edge_roots) -> None:
    from sdk import Client
    from sdk.errors import IntegrityError
    from tests.sdk.client.conftest import edge_store

    with (
        Client(store=edge_store(edge_roots, "tampered"), persist_latency=False) as client,
        pytest.raises(IntegrityError, match="model.onnx failed its sha256 check"),
    ):
        client.predict("digits-cnn", {"image": DIGIT})


def test_server_timing_teaches_the_client_the_bandwidth(make_client, proxy) -> None:
    client = make_client(binary_threshold_bytes=1024)
    batch = np.zeros((256, 1, 8, 8), np.float32)  # 64 KiB: enough to measure a transfer
    result = client.predict("digits-cnn", {"image": batch}, mode="cloud_only")
    assert "server" in result.decision.timings and "network" in result.decision.timings
    assert client.router.latency.bandwidth_measured
