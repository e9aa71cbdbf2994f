"""A newcomer's first mistakes get the error that names them: a misspelt model, an unsigned model under trusted keys.

Privacy is unchanged by any of this: a model whose floor cannot be learned still never gets data sent anywhere.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sdk import Client
from sdk.artifacts import LayeredStore, LocalStore, builtin_store
from sdk.errors import CloudUnavailable, IntegrityError, LocalUnavailable, ModelNotFound
from tests.sdk.client import models
from tests.sdk.client.conftest import edge_store

pytestmark = pytest.mark.integration

DIGIT = np.full((1, 1, 8, 8), 0.5, np.float32)


@pytest.mark.parametrize("mode", ["auto", "prefer_cloud", "cloud_only", "local_only"])
def test_a_misspelt_model_with_an_endpoint_is_model_not_found_with_a_suggestion(make_client, proxy, mode) -> None:
    with pytest.raises(ModelNotFound, match=r"unknown model 'digit-cnn'.*did you mean 'digits-cnn'\?") as caught:
        make_client().predict("digit-cnn", {"image": DIGIT}, mode=mode)
    assert caught.value.hint and "digits-cnn" in caught.value.hint  # the models this device and the cloud know
    assert proxy.infer_count() == 0


def test_the_suggestion_can_come_from_the_models_the_cloud_serves(make_client, proxy) -> None:
    """'missing' has no models at all: the close match 'secret' is one the cloud's 404 names."""
    with pytest.raises(ModelNotFound, match=r"did you mean 'secret'\?") as caught:
        make_client("missing").predict("secrte", {"x": np.ones((1, 1024), np.float32)})
    hint = caught.value.hint or ""
    assert "in the cloud:" in hint and "on this device: none" in hint
    assert proxy.infer_count() == 0


def test_a_model_nobody_knows_without_a_close_match_names_what_exists(make_client, proxy) -> None:
    with pytest.raises(ModelNotFound, match="unknown model 'zzz-qqq'") as caught:
        make_client().predict("zzz-qqq", {"image": DIGIT})
    assert "did you mean" not in caught.value.message and "digits-cnn" in (caught.value.hint or "")


def test_an_unreachable_cloud_still_keeps_an_unknown_floor_home(make_client, proxy) -> None:
    """Not a 404: the cloud could not say, so the floor is unknown and nothing is sent (the error stays a cloud one)."""
    proxy.fail_always(503, {"retry-after": "0"})
    with pytest.raises(CloudUnavailable, match="privacy floor is unknown"):
        make_client("missing", max_attempts=1).predict("digit-cnn", {"image": DIGIT})
    assert proxy.infer_count() == 0


@pytest.fixture
def trusted_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("cryptography")
    from sdk.artifacts import signing

    _, public, _ = signing.create_keys(tmp_path / "keys")
    monkeypatch.setenv("AIAAS_TRUSTED_KEYS", str(public))
    return public


def test_an_unsigned_model_under_trusted_keys_without_endpoint_raises_the_refusal(trusted_keys, edge_roots) -> None:
    with (
        Client(store=edge_store(edge_roots, "ok"), persist_latency=False) as client,
        pytest.raises(IntegrityError, match="not signed, and this device loads only signed models") as caught,
    ):
        client.predict("digits-cnn", {"image": DIGIT})
    assert caught.value.hint and "sdk sign" in caught.value.hint


def test_a_private_call_refused_under_trusted_keys_carries_the_refusal_and_its_fix(trusted_keys, edge_roots) -> None:
    with (
        Client(store=edge_store(edge_roots, "ok"), persist_latency=False) as client,
        pytest.raises(LocalUnavailable, match="not signed") as caught,
    ):
        client.predict("digits-cnn", {"image": DIGIT}, privacy="private")
    assert isinstance(caught.value.__cause__, IntegrityError)
    assert caught.value.hint and "sdk sign" in caught.value.hint


def test_an_unsigned_local_only_model_the_cloud_lacks_raises_the_refusal(trusted_keys, make_client, proxy, tmp_path):
    """The device holds 'solo' (unsigned, refused); the cloud has never heard of it: the refusal is what to fix."""
    root = tmp_path / "device"
    folder = models.digits_copy(root)
    solo = root / "solo" / "1"
    shutil.copytree(folder, solo)
    shutil.rmtree(root / "digits-cnn")
    manifest = json.loads((solo / "manifest.json").read_text())
    manifest["name"] = "solo"
    (solo / "manifest.json").write_text(json.dumps(manifest))
    client = make_client("missing")
    client.store = LayeredStore([LocalStore(root), builtin_store()])
    client.local.store = client.store
    with pytest.raises(IntegrityError, match="solo is not signed"):
        client.predict("solo", {"image": DIGIT})
    assert proxy.infer_count() == 0
