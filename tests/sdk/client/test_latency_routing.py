"""`auto` follows the faster route as conditions change; a deadline the edge cannot meet goes to the cloud."""

from __future__ import annotations

import numpy as np
import pytest

from sdk.client import Reason, Route

pytestmark = pytest.mark.integration

X = np.ones((1, 1024), np.float32)


def share(routes: list[Route], route: Route) -> float:
    return sum(r is route for r in routes) / len(routes)


def test_auto_moves_to_the_edge_when_the_cloud_slows_and_back_when_it_speeds_up(make_client, proxy) -> None:
    client = make_client(exploration_rate=0.2)
    client.router._rng.seed(1)
    # The cloud's build of 'twin' is one layer, the edge's 600 (~60 ms): the cloud is far faster.
    for _ in range(5):
        client.predict("twin", {"x": X})
    fast_cloud = [client.predict("twin", {"x": X}).route for _ in range(20)]
    assert share(fast_cloud, Route.CLOUD) >= 0.7

    proxy.delay_s = 0.4  # the cloud becomes far slower than the edge
    slow_cloud = [client.predict("twin", {"x": X}).route for _ in range(30)]
    assert share(slow_cloud[-20:], Route.LOCAL) >= 0.7

    proxy.delay_s = 0.0  # and recovers: exploration notices, traffic moves back
    recovered = [client.predict("twin", {"x": X}).route for _ in range(40)]
    assert share(recovered[-20:], Route.CLOUD) >= 0.7


def test_a_deadline_the_edge_cannot_meet_sends_public_traffic_to_the_cloud(make_client, proxy) -> None:
    client = make_client()
    for mode in ("local_only", "cloud_only") * 5:
        client.predict("twin", {"x": X}, mode=mode)
    local = client.router.latency.predict("twin", Route.LOCAL)
    cloud = client.router.latency.predict("twin", Route.CLOUD, X.nbytes)
    deadline = local.high_ms - 1  # the edge's own p90 misses it; the cloud gets the most room it can have
    assert cloud.high_ms <= deadline  # the premise: only the cloud is predicted to make it
    result = client.predict("twin", {"x": X}, mode="prefer_local", deadline_ms=deadline)
    assert result.decision.planned[0] is Route.CLOUD and proxy.infer_count() == 6
    if result.route is Route.CLOUD:
        assert result.decision.reason is Reason.DEADLINE
    else:  # a loaded machine made the cloud late: the deadline bounded it, and the edge answered
        assert result.decision.attempts[0].error == "deadline_exceeded"


def test_a_deadline_only_the_edge_meets_keeps_traffic_local(make_client, proxy) -> None:
    client = make_client()
    digit = {"image": np.full((1, 1, 8, 8), 0.5, np.float32)}
    proxy.delay_s = 0.05
    for mode in ("local_only", "cloud_only") * 3:
        client.predict("digits-cnn", digit, mode=mode)
    result = client.predict("digits-cnn", digit, mode="prefer_cloud", deadline_ms=20)
    assert result.route is Route.LOCAL and result.decision.reason is Reason.DEADLINE
    assert proxy.infer_count() == 3


def test_decision_is_truthful(make_client, proxy) -> None:
    client = make_client()
    before = proxy.infer_count()
    result = client.predict("digits-cnn", {"image": np.zeros((2, 1, 8, 8), np.float32)}, mode="prefer_cloud")
    d = result.decision
    assert d.route is Route.CLOUD and proxy.infer_count() == before + 1
    assert d.planned == [Route.CLOUD, Route.LOCAL] and d.actual_ms > 0
    assert {"encode", "round_trip", "decode", "total", "route"} <= set(d.timings)
    assert d.timings["total"] >= d.actual_ms >= d.timings["round_trip"]
    as_dict = d.to_dict()
    assert as_dict["route"] == "cloud" and as_dict["fallback_chain"] == ["cloud:ok"]
    assert "cloud" in d.line() and "[mode]" in d.line()
    local = client.predict("digits-cnn", {"image": np.zeros((2, 1, 8, 8), np.float32)}, mode="local_only")
    assert local.decision.route is Route.LOCAL and proxy.infer_count() == before + 1
    assert {"load", "validate", "run"} <= set(local.decision.timings)


def test_large_tensors_go_binary_small_ones_json(make_client, proxy) -> None:
    client = make_client(binary_threshold_bytes=1024)
    small = client.predict("digits-cnn", {"image": np.zeros((1, 1, 8, 8), np.float32)}, mode="cloud_only")
    big = client.predict("digits-cnn", {"image": np.zeros((64, 1, 8, 8), np.float32)}, mode="cloud_only")
    assert small["logits"].shape == (1, 10) and big["logits"].shape == (64, 10)
    json_size, binary_size = proxy.requests[-2][2], proxy.requests[-1][2]
    assert binary_size < 64 * 64 * 4 + 1024  # raw float32 bytes plus a small JSON header
    assert json_size > 64 * 3  # JSON text for 64 numbers


def test_latency_estimates_persist_between_clients(make_client, tmp_path) -> None:
    state = tmp_path / "latency.json"
    first = make_client(persist_latency=True, latency_state=state)
    first.predict("digits-cnn", {"image": np.zeros((1, 1, 8, 8), np.float32)}, mode="local_only")
    first.close()
    second = make_client(persist_latency=True, latency_state=state)
    assert second.router.latency.predict("digits-cnn", Route.LOCAL) is not None


async def _async_calls(client, n: int):
    import asyncio

    digit = {"image": np.zeros((1, 1, 8, 8), np.float32)}
    return await asyncio.gather(*(client.predict("digits-cnn", digit, mode="prefer_cloud") for _ in range(n)))


def test_async_client_routes_concurrent_calls(proxy, edge_roots) -> None:
    import asyncio

    from sdk import AsyncClient
    from tests.sdk.client.conftest import edge_store

    async def run():
        async with AsyncClient(proxy.url, store=edge_store(edge_roots, "ok"), persist_latency=False) as client:
            return await _async_calls(client, 16)

    results = asyncio.run(run())
    assert all(r.route is Route.CLOUD for r in results) and proxy.infer_count() == 16


def test_saved_cloud_estimates_apply_only_to_the_endpoint_they_were_measured_on(tmp_path) -> None:
    from sdk.client import LatencyModel

    state = tmp_path / "latency.json"
    measured = LatencyModel()
    for _ in range(3):
        measured.observe("digits-cnn", Route.LOCAL, 1.0)
        measured.observe("digits-cnn", Route.CLOUD, 40.0, payload_bytes=1_000_000, network_ms=10.0)
    measured.save(state, endpoint="https://eu.example.com")
    same, other = LatencyModel(), LatencyModel()
    assert same.load(state, endpoint="https://eu.example.com")
    assert same.predict("digits-cnn", Route.CLOUD) is not None and same.bandwidth_measured
    assert other.load(state, endpoint="https://us.example.com")
    assert other.predict("digits-cnn", Route.CLOUD) is None and not other.bandwidth_measured
    assert other.predict("digits-cnn", Route.LOCAL) is not None  # the device's own figures still hold
