"""The client's own overhead is cut without weakening a promise: the privacy rule still decides every call from its
sources as they are now (only its answer for the very same sources is reused), the latency model's high percentile
is still that of the window, and a bad model reference is still refused every time (benchmarks/router.py measures)."""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdk import Client
from sdk.artifacts import LocalStore
from sdk.client import Privacy, Route
from sdk.client.latency import LatencyModel, _Stats
from sdk.client.privacy import PrivacySource
from sdk.errors import CloudUnavailable, ModelNotFound


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    made = Client(store=LocalStore(tmp_path), local_only=True, persist_latency=False)
    yield made
    made.close()


def set_floors(client: Client, name: str, floors: dict[str, str] | Exception) -> None:
    """What the device's store says after a pull or an edit, once its lookup TTL has passed."""
    client.local._floors[name] = (time.monotonic(), floors)


def test_privacy_rule_answer_is_reused_for_the_very_same_sources(client: Client) -> None:
    first = client._privacy("digits-cnn", None)
    assert client._privacy("digits-cnn", None) is first
    assert client._privacy("digits-cnn", Privacy.PRIVATE) is not first  # the call's own level is a source
    assert client._privacy("digits-cnn", Privacy.PRIVATE).private


def test_a_floor_read_anew_decides_the_next_call(client: Client) -> None:
    set_floors(client, "digits-cnn", {"digits-cnn/1": "public"})
    assert not client._privacy("digits-cnn", None).private
    set_floors(client, "digits-cnn", {"digits-cnn/1": "public", "digits-cnn/2": "private"})
    verdict = client._privacy("digits-cnn", None)
    assert verdict.private and verdict.source is PrivacySource.LOCAL_FLOOR and "digits-cnn/2" in verdict.why


def test_a_cloud_document_read_anew_decides_the_next_call(client: Client) -> None:
    public = {"parameters": {"privacy_floor": "public"}}
    assert not client._privacy("digits-cnn", None, public).private
    assert client._privacy("digits-cnn", None, public) is client._privacy("digits-cnn", None, public)
    private = client._privacy("digits-cnn", None, {"parameters": {"privacy_floor": "private"}})
    assert private.private and private.source is PrivacySource.CLOUD_FLOOR


def test_an_unreadable_source_is_decided_afresh_on_every_call(client: Client) -> None:
    set_floors(client, "digits-cnn", OSError("the store could not be listed"))
    first = client._privacy("digits-cnn", None)
    assert first.private and first.source is PrivacySource.UNKNOWN_FLOOR
    assert client._privacy("digits-cnn", None) is not first
    set_floors(client, "digits-cnn", {})
    error = CloudUnavailable("the metadata could not be read")
    unknown = client._privacy("digits-cnn", None, error)
    assert unknown.private and client._privacy("digits-cnn", None, error) is not unknown


def test_a_bad_model_reference_is_refused_on_every_call(client: Client) -> None:
    for _ in range(2):
        with pytest.raises(ModelNotFound, match="is not a model reference"):
            client.predict("Not A Model", [1.0])


def test_high_percentile_follows_the_window_sample_by_sample() -> None:
    rng = random.Random(7)
    stats = _Stats(samples=deque(maxlen=16))
    for step in range(600):
        regime = 1.0 if (step // 150) % 2 == 0 else 8.0  # jumps that restart the window
        stats.add(rng.lognormvariate(0, 0.4) * regime, 0.2, float(step))
        ordered = sorted(stats.samples)
        for q in (0.5, 0.9, 0.99):
            assert stats.high(q) == ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], step


def test_high_percentile_of_a_loaded_state_is_that_of_its_samples(tmp_path: Path) -> None:
    saved = LatencyModel()
    for ms in (5.0, 1.0, 3.0, 2.0, 4.0):
        saved.observe("m", Route.LOCAL, ms)
    saved.save(tmp_path / "latency.json")
    loaded = LatencyModel()
    loaded.load(tmp_path / "latency.json")
    prediction = loaded.predict("m", Route.LOCAL)
    assert prediction is not None and prediction.high_ms == 5.0
    loaded.observe("m", Route.LOCAL, 9.0)
    after = loaded.predict("m", Route.LOCAL)
    assert after is not None and after.high_ms == 9.0
