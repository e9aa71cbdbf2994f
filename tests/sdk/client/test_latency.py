from __future__ import annotations

from pathlib import Path

import pytest

from sdk.client import LatencyModel, LatencyPolicy, Route


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_unmeasured_route_has_no_prediction() -> None:
    assert LatencyModel().predict("m", Route.LOCAL) is None


def test_ewma_follows_recent_samples_and_high_percentile_tracks_the_tail() -> None:
    model = LatencyModel(LatencyPolicy(alpha=0.5))
    for ms in [10.0] * 9 + [100.0]:
        model.observe("m", Route.LOCAL, ms)
    p = model.predict("m", Route.LOCAL)
    assert p is not None and p.expected_ms == pytest.approx(55.0)
    assert p.high_ms == 10.0  # p90 of 10 samples: the 9th smallest
    model.observe("m", Route.LOCAL, 100.0)
    assert model.predict("m", Route.LOCAL).high_ms == 100.0


def test_cloud_prediction_adds_payload_over_bandwidth() -> None:
    model = LatencyModel(LatencyPolicy(default_bandwidth_bps=1e6))
    model.observe("m", Route.CLOUD, 10.0)
    assert model.predict("m", Route.CLOUD, 0).expected_ms == pytest.approx(10.0)
    assert model.predict("m", Route.CLOUD, 500_000).expected_ms == pytest.approx(510.0)


def test_bandwidth_is_learned_from_large_payloads() -> None:
    model = LatencyModel(LatencyPolicy(default_bandwidth_bps=1e6))
    model.observe("m", Route.CLOUD, 60.0, payload_bytes=1_000_000, network_ms=50.0)
    assert model.bandwidth_bps == pytest.approx(20e6) and model.bandwidth_measured
    model.observe("m", Route.CLOUD, 60.0, payload_bytes=100, network_ms=50.0)  # too small to tell
    assert model.bandwidth_bps == pytest.approx(20e6)


def test_idle_cloud_carries_a_cold_start_penalty_learned_from_cold_calls() -> None:
    clock = Clock()
    model = LatencyModel(LatencyPolicy(cloud_idle_s=60, default_cold_start_ms=1000, alpha=0.5), clock=clock)
    for _ in range(5):
        model.observe("m", Route.CLOUD, 10.0)
    assert not model.predict("m", Route.CLOUD).cold
    clock.now += 120
    assert model.is_cold("m")
    cold = model.predict("m", Route.CLOUD)
    assert cold.cold and cold.expected_ms == pytest.approx(1010.0)
    model.observe("m", Route.CLOUD, 410.0, cold=True)  # the cold call took 400 ms more than usual
    assert model.cold_start_ms == pytest.approx(700.0)
    assert model.predict("m", Route.CLOUD).expected_ms == pytest.approx(10.0)  # steady state untouched


def test_estimates_survive_a_restart(tmp_path: Path) -> None:
    model = LatencyModel()
    for ms in (5.0, 6.0, 7.0):
        model.observe("digits-cnn", Route.LOCAL, ms)
    model.observe("digits-cnn", Route.CLOUD, 20.0)
    path = tmp_path / "latency.json"
    model.save(path)
    again = LatencyModel()
    assert again.load(path)
    assert again.predict("digits-cnn", Route.LOCAL) == model.predict("digits-cnn", Route.LOCAL)
    assert again.predict("digits-cnn", Route.CLOUD) == model.predict("digits-cnn", Route.CLOUD)


def test_unreadable_state_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{")
    assert not LatencyModel().load(tmp_path / "bad.json")
    assert not LatencyModel().load(tmp_path / "missing.json")


def test_a_regime_change_resets_the_estimate_instead_of_crawling() -> None:
    model = LatencyModel(LatencyPolicy(alpha=0.2))
    for _ in range(20):
        model.observe("m", Route.CLOUD, 400.0)  # a slow period
    for _ in range(2):
        model.observe("m", Route.CLOUD, 10.0)
    assert model.predict("m", Route.CLOUD).expected_ms > 200  # two fast samples could be noise
    model.observe("m", Route.CLOUD, 12.0)
    recovered = model.predict("m", Route.CLOUD)
    assert recovered.expected_ms == pytest.approx(32 / 3) and recovered.high_ms == 12.0
