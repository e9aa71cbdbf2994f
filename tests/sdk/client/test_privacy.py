"""Private data never leaves the device: whatever the mode, the local failure, the cloud's state or the deadline."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest

from sdk.client import Mode, Reason, Route
from sdk.errors import LocalUnavailable, PrivacyViolation

pytestmark = pytest.mark.integration

DIGIT = np.full((1, 1, 8, 8), 0.5, np.float32)
CASES = list(
    itertools.product(
        [m.value for m in Mode],
        ["ok", "missing", "tampered", "broken"],
        ["up", "down", "slow"],
        [None, 0.001, 10_000.0],
    )
)


@pytest.mark.parametrize(("mode", "edge", "cloud_state", "deadline"), CASES)
def test_private_request_never_reaches_the_cloud(make_client, proxy, mode, edge, cloud_state, deadline) -> None:
    if cloud_state == "down":
        proxy.fail_always(503, {"retry-after": "0"})
    elif cloud_state == "slow":
        proxy.delay_s = 0.05
    client = make_client(edge, privacy="private")
    try:
        result = client.predict("digits-cnn", {"image": DIGIT}, mode=mode, deadline_ms=deadline)
    except PrivacyViolation:
        assert mode == "cloud_only"
    except LocalUnavailable as exc:
        assert edge != "ok" and "not sent to the cloud" in str(exc)
    else:
        assert edge == "ok" and mode != "cloud_only"
        assert result.route is Route.LOCAL and result.decision.reason is Reason.PRIVATE
        assert [a.route for a in result.decision.attempts] == [Route.LOCAL]
    assert proxy.count == 0


def test_manifest_floor_makes_a_public_call_private(make_client, proxy, edge_roots, tmp_path) -> None:
    import json
    import shutil

    from sdk.artifacts import LayeredStore, LocalStore

    root = tmp_path / "floor"
    shutil.copytree(edge_roots["ok"] / "twin", root / "twin")
    manifest_path = root / "twin" / "1" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["privacy_floor"] = "private"
    manifest_path.write_text(json.dumps(manifest))
    client = make_client()
    client.store = LayeredStore([LocalStore(root)])
    client.local.store = client.store
    result = client.predict("twin", {"x": np.ones((1, 1024), np.float32)}, privacy="public", mode="prefer_cloud")
    assert result.route is Route.LOCAL and result.decision.privacy.value == "private"
    assert proxy.count == 0


def test_private_values_never_reach_a_log(make_client, proxy, caplog) -> None:
    secret = np.full((1, 1, 8, 8), 0.123456, np.float32)
    caplog.set_level(logging.DEBUG)
    client = make_client("tampered", privacy="private")
    with pytest.raises(LocalUnavailable):
        client.predict("digits-cnn", {"image": secret})
    ok = make_client("ok", privacy="private")
    ok.predict("digits-cnn", {"image": secret})
    assert "0.123456" not in caplog.text and "0.12345" not in caplog.text
    assert proxy.count == 0


def test_a_model_only_in_the_cloud_keeps_its_private_floor(make_client, proxy) -> None:
    client = make_client("missing")
    x = {"x": np.ones((1, 1024), np.float32)}
    with pytest.raises(LocalUnavailable, match="not sent to the cloud"):
        client.predict("secret", x, privacy="public", mode="prefer_cloud")
    assert proxy.infer_count() == 0  # only its metadata was read; no data went
    assert client.predict("twin", x, privacy="public").route is Route.CLOUD  # a public model still goes


def test_an_unknown_floor_keeps_the_data_home(make_client, proxy) -> None:
    proxy.fail_always(503, {"retry-after": "0"})
    client = make_client("missing", max_attempts=1)
    from sdk.errors import CloudUnavailable

    with pytest.raises(CloudUnavailable, match="privacy floor is unknown"):
        client.predict("secret", {"x": np.ones((1, 1024), np.float32)}, privacy="public")
    assert proxy.infer_count() == 0


@pytest.mark.parametrize(("ttl", "reads"), [(3600.0, 1), (0.0, 2)])
def test_a_cloud_models_floor_is_read_again_once_its_metadata_is_stale(make_client, proxy, ttl, reads) -> None:
    """A long-lived client re-reads the floor: a model redeployed as private stops getting data within the TTL."""
    client = make_client("missing", metadata_ttl_s=ttl)
    x = {"x": np.ones((1, 1024), np.float32)}
    for _ in range(2):
        assert client.predict("twin", x, privacy="public").route is Route.CLOUD
    metadata_reads = [r for r in proxy.requests if r[0] == "GET" and r[1] == "/v2/models/twin"]
    assert len(metadata_reads) == reads and proxy.infer_count() == 2


def test_with_trusted_keys_a_lowered_floor_on_the_device_does_not_decide(
    make_client, proxy, tmp_path, monkeypatch
) -> None:
    """The device's copy of 'secret' was signed private, then edited to public: with trusted keys that copy is
    ignored whole, the floor comes from the cloud's metadata (private), and no data leaves."""
    pytest.importorskip("cryptography")
    import json

    from sdk.artifacts import LayeredStore, LocalStore, signing
    from tests.sdk.client import models

    key, public, _ = signing.create_keys(tmp_path / "keys")
    root = tmp_path / "device"
    folder = models.private_twin(root)
    signing.sign_folder(folder, key)
    document = json.loads((folder / "manifest.json").read_text())
    document["privacy_floor"] = "public"
    (folder / "manifest.json").write_text(json.dumps(document))
    monkeypatch.setenv("AIAAS_TRUSTED_KEYS", str(public))
    client = make_client("missing")
    client.store = LayeredStore([LocalStore(root)])
    client.local.store = client.store
    with pytest.raises(LocalUnavailable, match="not sent to the cloud"):
        client.predict("secret", {"x": np.ones((1, 1024), np.float32)}, privacy="public", mode="prefer_cloud")
    assert proxy.infer_count() == 0
