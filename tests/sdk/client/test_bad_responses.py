"""An endpoint that answers, but not as an inference server does, is a cloud fault: not the caller's bad input.

The cloud is the real `sdk serve` behind the fault-injecting proxy, which answers garbage 200s, redirects and odd
statuses on demand; the edge is the real local runtime.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from sdk.client import Mode, Reason, Route
from sdk.client.breaker import State
from sdk.errors import CloudBadResponse, CloudUnavailable, InvalidInput, PrivacyViolation

pytestmark = pytest.mark.integration

DIGIT = np.full((1, 1, 8, 8), 0.5, np.float32)
HTML = {"content-type": "text/html"}
JSON = {"content-type": "application/json"}

GARBAGE_200S = {
    "html-login-page": (200, HTML, b"<html><body>Sign in to continue</body></html>"),
    "empty-body": (200, JSON, b""),
    "json-without-outputs": (200, JSON, b'{"model_name": "digits-cnn"}'),
    "outputs-not-a-list": (200, JSON, b'{"outputs": 3}'),
    "json-array": (200, JSON, b"[1, 2, 3]"),
    "error-object-with-200": (200, JSON, b'{"error": "something broke upstream"}'),
    "output-data-mismatch": (200, JSON, b'{"outputs": [{"name": "y", "shape": [4], "datatype": "FP32", "data": [1]}]}'),
    "binary-size-without-part": (
        200,
        JSON,
        b'{"outputs": [{"name": "y", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}',
    ),
}


@pytest.mark.parametrize("answer", GARBAGE_200S.values(), ids=GARBAGE_200S.keys())
def test_a_garbage_200_falls_back_to_the_edge_with_the_reason(make_client, proxy, answer) -> None:
    proxy.scope = "infer"  # the model's metadata (its floor) is read first, and answered well
    proxy.fail_next(answer)
    result = make_client(max_attempts=1).predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.reason is Reason.FALLBACK
    failed = result.decision.attempts[0]
    assert (failed.route, failed.ok, failed.error) == (Route.CLOUD, False, "cloud_bad_response")
    assert "HTTP 200" in failed.message and "not an inference response" in failed.message
    assert "cloud_bad_response" in result.decision.explanation
    assert proxy.infer_count() == 1  # a bad answer is not retried


def test_a_garbage_200_with_cloud_only_raises_the_cloud_fault_not_invalid_input(make_client, proxy) -> None:
    proxy.scope = "infer"
    proxy.fail_next(GARBAGE_200S["html-login-page"])
    with pytest.raises(CloudBadResponse, match="HTTP 200") as caught:
        make_client(max_attempts=1).predict("digits-cnn", {"image": DIGIT}, mode="cloud_only")
    assert isinstance(caught.value, CloudUnavailable) and not isinstance(caught.value, InvalidInput)
    assert caught.value.status == 502 and caught.value.hint
    assert isinstance(caught.value.__cause__, InvalidInput)  # the codec's own words, kept as the cause


def test_a_redirect_is_not_followed_and_falls_back(make_client, proxy) -> None:
    proxy.fail_always(302, {"location": "https://login.example.com/"})
    result = make_client(max_attempts=3).predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.reason is Reason.FALLBACK
    failed = result.decision.attempts[0]
    assert failed.error == "cloud_bad_response"
    assert "HTTP 302" in failed.message and "https://login.example.com/" in failed.message
    assert proxy.count == 1  # neither followed nor retried


@pytest.mark.parametrize("status", [301, 307, 405, 418, 424])
def test_a_status_no_inference_server_sends_is_a_cloud_fault(make_client, proxy, status) -> None:
    proxy.fail_always(status)
    with pytest.raises(CloudBadResponse, match=f"HTTP {status}"):
        make_client(max_attempts=1).predict("digits-cnn", {"image": DIGIT}, mode="cloud_only")


def test_a_protocol_400_is_still_the_callers_error(make_client, proxy) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_client().predict("digits-cnn", {"image": np.zeros((1, 8, 8), np.float32)}, mode="cloud_only")
    assert not isinstance(caught.value, CloudBadResponse) and "image" in caught.value.message


BAD_METADATA = {
    "json-array": b"[1, 2]",
    "json-string": b'"digits-cnn"',
    "not-json": b"<html>metadata?</html>",
    "inputs-not-a-list": b'{"name": "digits-cnn", "inputs": 5}',
    "input-without-name": b'{"name": "digits-cnn", "inputs": [{"datatype": "FP32"}]}',
    "parameters-a-list": b'{"name": "digits-cnn", "inputs": [{"name": "image", "datatype": "FP32"}], "parameters": []}',
}


@pytest.mark.parametrize("body", BAD_METADATA.values(), ids=BAD_METADATA.keys())
def test_odd_metadata_falls_back_to_the_edge(make_client, proxy, body) -> None:
    proxy.fail_next((200, JSON, body))  # the metadata read a bare array needs comes first
    result = make_client(max_attempts=1).predict("digits-cnn", DIGIT, mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.reason is Reason.FALLBACK
    failed = result.decision.attempts[0]
    assert failed.error == "cloud_bad_response" and "metadata" in failed.message
    assert proxy.infer_count() == 0


def test_odd_metadata_of_a_cloud_only_model_keeps_the_data_home(make_client, proxy) -> None:
    """The floor of a model this device lacks cannot be read from a garbage answer: unknown, it stays home."""
    proxy.fail_always(200, JSON, b'{"name": "twin", "parameters": ["privacy_floor", "public"]}')
    with pytest.raises(CloudUnavailable, match=r"privacy floor is unknown \(cloud_bad_response"):
        make_client("missing", max_attempts=1).predict("twin", {"x": np.ones((1, 1024), np.float32)})
    assert proxy.infer_count() == 0


def test_garbage_200s_open_the_circuit(make_client, proxy) -> None:
    client = make_client(max_attempts=1, breaker_failures=3, breaker_cooldown_s=60.0)
    proxy.scope = "infer"
    proxy.fail_always(*GARBAGE_200S["html-login-page"])
    for _ in range(3):
        assert client.predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud").route is Route.LOCAL
    assert client.cloud.breaker.state is State.OPEN and proxy.infer_count() == 3
    result = client.predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")
    assert result.decision.reason is Reason.CLOUD_UNAVAILABLE and "circuit open" in result.decision.explanation
    assert proxy.infer_count() == 3  # not even tried


def test_odd_metadata_counts_against_the_circuit(make_client, proxy) -> None:
    client = make_client(max_attempts=1, breaker_failures=2, breaker_cooldown_s=60.0, metadata_ttl_s=0.0)
    proxy.fail_always(200, JSON, b"[]")
    for _ in range(2):
        assert client.predict("digits-cnn", DIGIT, mode="prefer_cloud").route is Route.LOCAL
    assert client.cloud.breaker.state is State.OPEN


def test_a_failed_half_open_probe_with_a_garbage_200_reopens_the_circuit(make_client, proxy) -> None:
    client = make_client(max_attempts=1, breaker_failures=1, breaker_cooldown_s=0.05)
    proxy.scope = "infer"
    proxy.fail_always(*GARBAGE_200S["empty-body"])
    client.predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")
    assert client.cloud.breaker.state is State.OPEN
    while client.cloud.breaker.state is State.OPEN:  # wait out the cooldown (no assert on time)
        time.sleep(0.01)
    client.predict("digits-cnn", {"image": DIGIT}, mode="prefer_cloud")  # the probe gets the garbage too
    assert client.cloud.breaker.state is State.OPEN and proxy.infer_count() == 2


@pytest.mark.parametrize("mode", [m.value for m in Mode])
def test_a_private_call_sends_nothing_to_a_garbage_answering_cloud(make_client, proxy, mode) -> None:
    proxy.fail_always(*GARBAGE_200S["html-login-page"])
    client = make_client()
    try:
        result = client.predict("digits-cnn", DIGIT, privacy="private", mode=mode)
    except PrivacyViolation:
        assert mode == "cloud_only"
    else:
        assert result.route is Route.LOCAL and result.decision.reason is Reason.PRIVATE
    assert proxy.count == 0
