"""The privacy rule through the real client, a real `sdk serve` and the counting proxy: the strictest of every source
that speaks (the call, AIAAS_PRIVACY, the client's default, every floor this device knows for the model's name, the
cloud's published floor), and an unknown floor keeps the data home. Each case here once let data reach the cloud."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from sdk import AsyncClient
from sdk.artifacts import LayeredStore, LocalStore, builtin_store
from sdk.client import Route
from sdk.client.decision import PrivacySource
from sdk.errors import LocalUnavailable, PrivacyViolation
from tests.sdk.client import models
from tests.sdk.client.conftest import edge_store

pytestmark = pytest.mark.integration

DIGIT = {"image": np.full((1, 1, 8, 8), 0.5, np.float32)}
X = {"x": np.ones((1, models.WIDTH), np.float32)}
JSON = {"content-type": "application/json"}


def use_store(client, *stores) -> None:
    client.store = LayeredStore(list(stores))
    client.local.store = client.store


# --- 1. a private client default is not lowered by the call -----------------------------------------------------


@pytest.mark.parametrize(
    ("how", "source"),
    [
        ("argument", PrivacySource.CLIENT_DEFAULT),
        ("environment", PrivacySource.ENVIRONMENT),
        ("environment-beside-a-public-argument", PrivacySource.ENVIRONMENT),
        ("config-file-beside-a-public-argument", PrivacySource.CLIENT_DEFAULT),
    ],
)
def test_a_private_client_default_is_not_lowered_by_a_public_call(
    make_client, proxy, monkeypatch, tmp_path, how, source
) -> None:
    settings: dict[str, str] = {}
    if how == "argument":
        settings["privacy"] = "private"
    elif how.startswith("environment"):
        monkeypatch.setenv("AIAAS_PRIVACY", "private")
        if how.endswith("argument"):
            settings["privacy"] = "public"
    else:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"privacy": "private"}))
        monkeypatch.setenv("AIAAS_CONFIG", str(config))
        settings["privacy"] = "public"
    client = make_client(**settings)
    for mode in ("prefer_cloud", "auto", "prefer_local"):
        result = client.predict("digits-cnn", DIGIT, privacy="public", mode=mode)
        assert result.route is Route.LOCAL, mode
        assert (result.decision.privacy.value, result.decision.privacy_source) == ("private", source)
        assert result.decision.to_dict()["privacy_source"] == source.value
    with pytest.raises(PrivacyViolation, match="private because"):
        client.predict("digits-cnn", DIGIT, privacy="public", mode="cloud_only")
    assert proxy.count == 0  # not even a metadata read


def test_the_async_client_keeps_a_private_default_too(edge_roots, proxy) -> None:
    async def call():
        async with AsyncClient(
            proxy.url, privacy="private", store=edge_store(edge_roots, "ok"), persist_latency=False
        ) as client:
            return await client.predict("digits-cnn", DIGIT, privacy="public", mode="prefer_cloud")

    result = asyncio.run(call())
    assert result.route is Route.LOCAL and result.decision.privacy_source is PrivacySource.CLIENT_DEFAULT
    assert proxy.count == 0


def test_sdk_predict_keeps_aiaas_privacy_private_over_a_public_flag(proxy, monkeypatch, tmp_path) -> None:
    from typer.testing import CliRunner

    from sdk.cli import app

    sample = tmp_path / "digit.npy"
    np.save(sample, DIGIT["image"])
    monkeypatch.setenv("AIAAS_PRIVACY", "private")
    args = ["predict", "digits-cnn", "-i", str(sample), "--endpoint", proxy.url, "--privacy", "public"]
    result = CliRunner().invoke(app, [*args, "--mode", "prefer_cloud", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)["decision"]
    assert (decision["route"], decision["privacy"], decision["privacy_source"]) == ("local", "private", "environment")
    assert proxy.count == 0


# --- 2. every floor the device knows for the name, not only the exact reference's -----------------------------


def private_copy(root: Path, version: str = "1", floor: str = "private") -> Path:
    """The cloud's 'twin' (one layer, public there) as this device holds it, with the floor ``floor``."""
    folder = models.twin(root / f".build-{version}", layers=1)
    target = root / "twin" / version
    shutil.copytree(folder, target)
    shutil.rmtree(root / f".build-{version}")
    manifest = json.loads((target / "manifest.json").read_text())
    manifest.update(version=version, privacy_floor=floor)
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


@pytest.mark.parametrize("ref", ["twin@latest", "twin@7", "twin@staging"])
def test_a_private_version_on_the_device_keeps_an_alias_or_version_it_lacks_home(
    make_client, proxy, tmp_path, ref
) -> None:
    private_copy(tmp_path / "device")
    client = make_client("missing")
    use_store(client, LocalStore(tmp_path / "device"))
    with pytest.raises(LocalUnavailable, match="not sent to the cloud") as caught:
        client.predict(ref, X, privacy="public", mode="prefer_cloud")
    assert "twin/1 on this device has privacy floor private" in caught.value.message
    assert proxy.count == 0  # the cloud says public for 'twin', and was not even asked


def test_a_private_version_makes_every_version_of_the_name_private(make_client, proxy, tmp_path) -> None:
    private_copy(tmp_path / "device", "1", floor="public")
    private_copy(tmp_path / "device", "2", floor="private")
    client = make_client("missing")
    use_store(client, LocalStore(tmp_path / "device"))
    result = client.predict("twin@1", X, privacy="public", mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.privacy_source is PrivacySource.LOCAL_FLOOR
    assert "twin/2" in result.decision.explanation
    assert proxy.count == 0


def test_a_private_version_in_a_lower_layer_of_the_store_counts(make_client, proxy, tmp_path) -> None:
    private_copy(tmp_path / "cache", "1", floor="public")
    private_copy(tmp_path / "shipped", "1", floor="private")
    client = make_client("missing")
    use_store(client, LocalStore(tmp_path / "cache"), LocalStore(tmp_path / "shipped"))
    result = client.predict("twin", X, privacy="public", mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.privacy.value == "private"
    assert proxy.count == 0


def test_a_device_that_cannot_tell_the_floor_keeps_the_data_home(make_client, proxy, tmp_path) -> None:
    folder = private_copy(tmp_path / "device", floor="public")
    (folder / "manifest.json").write_text("{ not json")
    client = make_client("missing")
    use_store(client, LocalStore(tmp_path / "device"), builtin_store())
    with pytest.raises(LocalUnavailable, match="cannot tell its privacy floor"):
        client.predict("twin@latest", X, privacy="public", mode="prefer_cloud")
    assert proxy.count == 0


# --- 3. a floor the cloud publishes but the client does not understand is unknown: nothing is sent -------------


def metadata_with_floor(cloud_url: str, model: str, floor: object) -> bytes:
    document = httpx.get(f"{cloud_url}/v2/models/{model}", timeout=10).json()
    document["parameters"]["privacy_floor"] = floor
    return json.dumps(document).encode()


UNRECOGNISED = ["PRIVATE", "Private", " private", "private ", True, "confidential", None, 1, ["private"], ""]


@pytest.mark.parametrize("floor", UNRECOGNISED, ids=repr)
def test_an_unrecognised_cloud_floor_keeps_the_data_of_a_cloud_only_model_home(
    make_client, proxy, cloud, floor
) -> None:
    proxy.fail_next((200, JSON, metadata_with_floor(cloud.url, "twin", floor)))  # then the real server answers
    client = make_client("missing")
    with pytest.raises(LocalUnavailable, match="not understood"):
        client.predict("twin", X, privacy="public", mode="prefer_cloud")
    assert proxy.infer_count() == 0 and proxy.count == 1


@pytest.mark.parametrize(
    ("floor", "source"),
    [
        ("private", PrivacySource.CLOUD_FLOOR),
        ("PRIVATE", PrivacySource.UNKNOWN_FLOOR),
        (True, PrivacySource.UNKNOWN_FLOOR),
    ],
    ids=repr,
)
def test_the_cloud_floor_counts_for_a_model_the_device_has_too(make_client, proxy, cloud, floor, source) -> None:
    """The device's digits-cnn says public; the cloud's metadata says private (or something not understood)."""
    proxy.fail_next((200, JSON, metadata_with_floor(cloud.url, "digits-cnn", floor)))
    client = make_client()
    result = client.predict("digits-cnn", DIGIT, privacy="public", mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.privacy_source is source
    assert [(a.route, a.ok) for a in result.decision.attempts] == [(Route.CLOUD, False), (Route.LOCAL, True)]
    assert proxy.infer_count() == 0
    with pytest.raises(PrivacyViolation, match="not sent"):
        client.predict("digits-cnn", DIGIT, privacy="public", mode="cloud_only")  # the floor is cached
    assert proxy.infer_count() == 0


def test_a_cloud_that_publishes_no_floor_is_silent(make_client, proxy, cloud) -> None:
    """A third-party OIP server publishes no floor: the other sources decide (here: public, so the data may go)."""
    document = httpx.get(f"{cloud.url}/v2/models/twin", timeout=10).json()
    del document["parameters"]["privacy_floor"]
    proxy.fail_next((200, JSON, json.dumps(document).encode()))
    result = make_client("missing").predict("twin", X, privacy="public", mode="prefer_cloud")
    assert result.route is Route.CLOUD and result.decision.privacy.value == "public"
    assert result.decision.privacy_source is PrivacySource.CALL


def test_a_call_the_cloud_floor_made_private_fails_as_a_private_one_when_the_edge_fails(make_client, proxy, cloud):
    proxy.fail_next((200, JSON, metadata_with_floor(cloud.url, "digits-cnn", "private")))
    client = make_client("tampered")  # the device's digits-cnn fails its sha256 check when loaded
    with pytest.raises(LocalUnavailable, match=r"not sent to the cloud \(the cloud publishes privacy floor 'private'"):
        client.predict("digits-cnn", DIGIT, privacy="public", mode="prefer_cloud")
    assert proxy.infer_count() == 0
