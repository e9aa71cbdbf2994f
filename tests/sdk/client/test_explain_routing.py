"""`Client.explain`: the privacy rule of `predict`, applied to a whole explanation, through a real `sdk serve` behind
the counting proxy (the cloud) and the real edge runtime (the device).

A private explanation sends nothing at all (no perturbed input, no metadata read); a public one routed to the cloud
is ONE request to the endpoint's /explain extension; edge and cloud agree on the attributions for the same seed; an
endpoint that does not claim the extension leaves the explanation to the device.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk import AsyncClient, Client
from sdk.client import Mode, Privacy, Reason, Route
from sdk.client.audit import default_audit_dir, read_records
from sdk.errors import CloudBadResponse, CloudUnavailable, DeadlineExceeded, InvalidInput, LocalUnavailable
from tests.sdk.client.conftest import edge_store
from tests.sdk.client.proxy import FaultProxy
from tests.sdk.serving.conftest import RunningServer, start_server

pytestmark = pytest.mark.integration
pytest.importorskip("PIL", reason='image input needs pip install "aiaas-sdk[images]"')

SAMPLES = Path(__file__).resolve().parents[3] / "models" / "digits_cnn" / "samples"
PNG = (SAMPLES / "digit_7.png").read_bytes()
BUDGET: dict[str, Any] = {"max_evals": 96, "max_calls": 4}  # small: these tests are about where it runs, not how well


def digit() -> dict[str, np.ndarray]:
    return {"image": np.load(SAMPLES / "digit_7.npy").astype(np.float32).reshape(1, 1, 8, 8)}


def posts(proxy: FaultProxy) -> list[str]:
    with proxy.lock:
        return [path for method, path, _ in proxy.requests if method == "POST"]


def decisions(client: Client) -> list[dict]:
    client.audit.flush()
    return [r for r in read_records(default_audit_dir()) if r.get("kind") == "decision"]


@pytest.fixture(scope="module")
def plain_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultProxy]:
    """A real `sdk serve` with explanations turned off (it claims no 'explain' extension), behind a counting proxy."""
    root = tmp_path_factory.mktemp("plain-cloud")
    server: RunningServer = start_server(root, tmp_path_factory.mktemp("plain-logs"), env={"AIAAS_EXPLAIN": "false"})
    proxy = FaultProxy(server.url)
    yield proxy
    proxy.close()
    server.stop()


@pytest.mark.parametrize("source", ["call", "client_default", "environment"])
@pytest.mark.parametrize("mode", [Mode.AUTO, Mode.PREFER_CLOUD])
def test_a_private_explanation_runs_on_the_device_and_sends_nothing(
    make_client: Callable[..., Client], proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, source: str, mode: Mode
) -> None:
    if source == "environment":
        monkeypatch.setenv("AIAAS_PRIVACY", "private")
    client = make_client(privacy="private" if source == "client_default" else None)
    asked = Privacy.PRIVATE if source == "call" else None
    explanation = client.explain("digits-cnn", PNG, privacy=asked, mode=mode, **BUDGET)
    assert explanation.ran_on == "device" and explanation.evaluations > 50 and explanation.calls > 1
    decision = explanation.decision
    assert decision.route is Route.LOCAL and decision.reason is Reason.PRIVATE
    assert decision.privacy.value == "private" and decision.privacy_source.value == source
    assert proxy.count == 0  # not one perturbed input, not even a metadata read
    record = decisions(client)[-1]
    assert (record["call"], record["route"], record["sent_bytes"], record["endpoint"]) == ("explain", "local", 0, None)


def test_a_private_explanation_fails_on_the_device_rather_than_reach_the_cloud(
    make_client: Callable[..., Client], proxy: FaultProxy
) -> None:
    client = make_client("missing")
    with pytest.raises(LocalUnavailable, match="private"):
        client.explain("digits-cnn", PNG, privacy="private", mode="prefer_cloud", **BUDGET)
    assert proxy.count == 0


def test_a_public_explanation_in_the_cloud_is_one_request_to_explain(
    make_client: Callable[..., Client], proxy: FaultProxy
) -> None:
    client = make_client()
    explanation = client.explain("digits-cnn", PNG, privacy="public", mode="cloud_only", **BUDGET)
    assert explanation.ran_on == "cloud" and explanation.decision.route is Route.CLOUD
    assert explanation.calls > 1 and explanation.evaluations > 50  # many runtime calls and inputs in the cloud...
    assert posts(proxy) == ["/v2/models/digits-cnn/explain"]  # ...one request from the client
    item = explanation.items[0]
    assert item.target["label"] == "7" and item.grid == (8, 8) and len(item.units) == 64
    record = decisions(client)[-1]
    assert record["call"] == "explain" and record["route"] == "cloud" and record["sent_bytes"] == len(PNG)
    assert record["endpoint"] == proxy.url


@pytest.mark.parametrize("inputs", [PNG, digit()], ids=["png", "tensor"])
def test_edge_and_cloud_give_the_same_attributions_for_the_same_seed(
    make_client: Callable[..., Client], inputs: object
) -> None:
    client = make_client()
    options = {**BUDGET, "method": "kernel_shap", "seed": 3}
    edge = client.explain("digits-cnn", inputs, privacy="public", mode="local_only", **options)
    cloud = client.explain("digits-cnn", inputs, privacy="public", mode="cloud_only", **options)
    assert (edge.ran_on, cloud.ran_on) == ("device", "cloud")
    assert edge.method == cloud.method == "kernel_shap" and edge.seed == cloud.seed == 3
    np.testing.assert_allclose(cloud.items[0].attributions, edge.items[0].attributions, rtol=1e-6, atol=1e-9)
    assert cloud.items[0].units == edge.items[0].units and cloud.evaluations == edge.evaluations
    other = client.explain("digits-cnn", inputs, privacy="public", mode="cloud_only", **{**options, "seed": 4})
    assert not np.allclose(other.items[0].attributions, edge.items[0].attributions)  # the seed reached the server


def test_options_travel_to_the_cloud_target_included(make_client: Callable[..., Client]) -> None:
    client = make_client()
    explanation = client.explain("digits-cnn", PNG, privacy="public", mode="cloud_only", target=3, **BUDGET)
    assert explanation.items[0].target == {"kind": "class", "index": 3, "label": "3"}
    with pytest.raises(InvalidInput, match="target"):
        client.explain("digits-cnn", PNG, privacy="public", mode="cloud_only", target=12, **BUDGET)


def test_a_cloud_that_does_not_offer_explanations_leaves_them_to_the_device(
    edge_roots: dict[str, Path], plain_cloud: FaultProxy
) -> None:
    plain_cloud.reset()
    with Client(plain_cloud.url, store=edge_store(edge_roots, "ok"), exploration_rate=0.0, persist_latency=False) as c:
        explanation = c.explain("digits-cnn", PNG, privacy="public", mode="prefer_cloud", **BUDGET)
        assert explanation.ran_on == "device" and explanation.decision.reason is Reason.FALLBACK
        refused, answered = explanation.decision.attempts
        assert (refused.route, refused.ok, answered.route, answered.ok) == (Route.CLOUD, False, Route.LOCAL, True)
        assert "does not offer explanations" in (refused.message or "")
        # and a prediction still goes to that cloud: only explanations are refused
        assert c.predict("digits-cnn", digit(), privacy="public", mode="cloud_only").route is Route.CLOUD
    assert posts(plain_cloud) == ["/v2/models/digits-cnn/infer"]  # no explain request, only the prediction


def test_a_model_only_in_a_cloud_without_explanations_is_a_clear_error(
    edge_roots: dict[str, Path], plain_cloud: FaultProxy
) -> None:
    plain_cloud.reset()
    client = Client(plain_cloud.url, store=edge_store(edge_roots, "missing"), persist_latency=False)
    with client, pytest.raises(CloudUnavailable, match="does not offer explanations") as caught:
        client.explain("digits-cnn", PNG, privacy="public", **BUDGET)
    assert "sdk models pull digits-cnn" in (caught.value.hint or "")
    assert posts(plain_cloud) == []


def test_a_sagemaker_endpoint_is_not_asked_to_explain(edge_roots: dict[str, Path], proxy: FaultProxy) -> None:
    """A SageMaker endpoint has one route (/invocations) and no server metadata: explanations stay on the device,
    and not even a probe is sent for them."""
    store = edge_store(edge_roots, "ok")
    with Client(proxy.url, endpoint_kind="sagemaker", auth="none", store=store, persist_latency=False) as client:
        explanation = client.explain("digits-cnn", PNG, privacy="public", mode="prefer_cloud", **BUDGET)
        assert explanation.ran_on == "device" and "SageMaker" in (explanation.decision.attempts[0].message or "")
        assert proxy.count == 0
        assert client.predict("digits-cnn", digit(), privacy="public", mode="cloud_only").route is Route.CLOUD
    assert posts(proxy) == ["/invocations"]


def test_a_failed_cloud_explanation_falls_back_to_the_device(
    make_client: Callable[..., Client], proxy: FaultProxy
) -> None:
    client = make_client()
    client.explain("digits-cnn", PNG, privacy="public", mode="cloud_only", **BUDGET)  # metadata and /v2 read once
    proxy.fail_always(500)
    explanation = client.explain("digits-cnn", PNG, privacy="public", mode="prefer_cloud", **BUDGET)
    assert explanation.ran_on == "device" and explanation.decision.reason is Reason.FALLBACK
    assert [a.route for a in explanation.decision.attempts] == [Route.CLOUD, Route.LOCAL]
    assert posts(proxy)[-1] == "/v2/models/digits-cnn/explain"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"explanation": {"method": 3}}', "explanation.items is missing"),
        (b'{"model_name": "digits-cnn"}', "no 'explanation' object"),
        (b"<html>login</html>", "not JSON"),
    ],
)
def test_a_malformed_explain_answer_is_a_bad_response_naming_the_field(
    make_client: Callable[..., Client], proxy: FaultProxy, body: bytes, field: str
) -> None:
    client = make_client()
    client.explain("digits-cnn", PNG, privacy="public", mode="cloud_only", **BUDGET)
    proxy.fail_always(200, {}, body)
    with pytest.raises(CloudBadResponse, match=field):
        client.explain("digits-cnn", PNG, privacy="public", mode="cloud_only", **BUDGET)


def test_bad_options_are_refused_before_anything_is_sent(make_client: Callable[..., Client], proxy: FaultProxy) -> None:
    client = make_client()
    with pytest.raises(InvalidInput, match="'max_evals' is 1; the minimum is 3"):
        client.explain("digits-cnn", PNG, privacy="public", max_evals=1)
    with pytest.raises(InvalidInput, match="'method' is 'lime'"):
        client.explain("digits-cnn", PNG, privacy="public", method="lime")
    with pytest.raises(InvalidInput, match="privacy='privat'"):
        client.explain("digits-cnn", PNG, privacy="privat")  # type: ignore[arg-type]
    assert proxy.count == 0


def test_a_timeout_that_has_passed_is_a_deadline_error(make_client: Callable[..., Client], proxy: FaultProxy) -> None:
    client = make_client()
    with pytest.raises(DeadlineExceeded, match="timeout"):
        client.explain("digits-cnn", PNG, privacy="private", timeout_s=1e-9)
    assert proxy.count == 0


def test_the_async_client_explains_too(edge_roots: dict[str, Path], proxy: FaultProxy) -> None:
    async def main() -> tuple[str, str]:
        async with AsyncClient(proxy.url, store=edge_store(edge_roots, "ok"), persist_latency=False) as client:
            private = await client.explain("digits-cnn", PNG, privacy="private", **BUDGET)
            public = await client.explain("digits-cnn", PNG, privacy="public", mode="cloud_only", **BUDGET)
            return private.ran_on, public.ran_on

    assert asyncio.run(main()) == ("device", "cloud")
    assert posts(proxy) == ["/v2/models/digits-cnn/explain"]
