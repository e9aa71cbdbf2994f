"""The floor a server publishes comes from the manifest it verified and loaded, never from a second read of the file
on disk: with AIAAS_TRUSTED_KEYS, a manifest edited after signing publishes nothing, and the client sends nothing.

A real `sdk serve` with trusted keys, behind the counting proxy: 'vault' versions 1 and 2 are signed with floor
private; the server loads version 2 at start. Then both manifests are edited on disk to say public.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.sdk.client import models
from tests.sdk.client.proxy import FaultProxy
from tests.sdk.serving.conftest import RunningServer, start_server

pytestmark = pytest.mark.integration

X = {"x": np.ones((1, models.WIDTH), np.float32)}


def signed_vault(root: Path, version: str, key: Path) -> Path:
    from sdk.artifacts import signing

    built = models.twin(root / f".build-{version}", layers=1)
    folder = root / "vault" / version
    shutil.copytree(built, folder)
    shutil.rmtree(root / f".build-{version}")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(name="vault", version=version, privacy_floor="private")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    signing.sign_folder(folder, key)
    return folder


def lower_the_floor(folder: Path) -> None:
    """What an attacker with write access to the server's store does: the signature no longer matches."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["privacy_floor"] = "public"
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def vault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    pytest.importorskip("cryptography")
    from sdk.artifacts import signing

    keys = tmp_path_factory.mktemp("vault-keys")
    key, public, _ = signing.create_keys(keys)
    root = tmp_path_factory.mktemp("vault-store")
    folders = [signed_vault(root, version, key) for version in ("1", "2")]
    logs = tmp_path_factory.mktemp("vault-logs")
    args = ("--model", "vault", "--max-queue-delay-ms", "0")  # vault alone (the built-in models are not signed)
    server = start_server(root, logs, *args, env={"AIAAS_TRUSTED_KEYS": str(public)})
    for folder in folders:  # after the start: version 2 is loaded (verified), version 1 is not
        lower_the_floor(folder)
    yield server
    server.stop()


@pytest.fixture
def vault_proxy(vault_server: RunningServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(vault_server.url)
    yield proxy
    proxy.close()


def test_a_version_that_fails_verification_publishes_no_floor(vault_server, vault_proxy, make_client) -> None:
    answer = httpx.get(f"{vault_server.url}/v2/models/vault/versions/1", timeout=30)
    assert answer.status_code == 422, answer.text
    assert "signature" in answer.json()["error"] and "privacy_floor" not in answer.text
    from sdk.errors import IntegrityError

    client = make_client("missing", endpoint=vault_proxy.url)
    with pytest.raises(IntegrityError, match="signature"):  # the server's own answer, before any data went
        client.predict("vault@1", X, privacy="public", mode="prefer_cloud")
    assert vault_proxy.infer_count() == 0 and vault_proxy.count == 1


def test_the_published_floor_is_the_loaded_manifests_not_the_files(vault_server, vault_proxy, make_client) -> None:
    answer = httpx.get(f"{vault_server.url}/v2/models/vault", timeout=30)
    assert answer.status_code == 200 and answer.json()["parameters"]["privacy_floor"] == "private"
    from sdk.errors import LocalUnavailable

    client = make_client("missing", endpoint=vault_proxy.url)
    with pytest.raises(LocalUnavailable, match="the cloud publishes privacy floor 'private'"):
        client.predict("vault", X, privacy="public", mode="prefer_cloud")
    assert vault_proxy.infer_count() == 0
