"""`pull`: the edge resolves the cloud's alias objects, verifies before anything is visible, works offline."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config

import sdk
from sdk.artifacts import LocalStore, open_store
from sdk.artifacts.s3 import S3Store
from sdk.deploy import pull
from sdk.errors import CloudUnavailable, IntegrityError, ModelNotFound
from tests.sdk.deploy.conftest import BUCKET, STORE_URI, Cloud, count_calls

pytestmark = pytest.mark.integration


def _local() -> LocalStore:
    return LocalStore(os.environ["AIAAS_STORE"])


def _offline_store() -> S3Store:
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1),
    )
    return S3Store(STORE_URI, client=client)


@pytest.fixture
def deployed(cloud: Cloud, make_artifact) -> Cloud:
    """digits-cnn 1 then 2 on alias 'live'."""
    for version in ("1", "2"):
        assert cloud.deployer().deploy(make_artifact(version)).ok
    return cloud


def test_pull_by_alias_gets_the_version_the_cloud_serves(deployed: Cloud, digit_7: np.ndarray) -> None:
    source = S3Store(STORE_URI, client=deployed.s3)
    result = pull("digits-cnn@live", source=source, local=_local())
    assert (result.status, result.version, result.alias) == ("pulled", "2", "live")
    assert result.version == deployed.alias_object()["version"]
    assert result.path == Path(os.environ["AIAAS_STORE"]) / "digits-cnn" / "2"
    assert sorted(p.name for p in result.path.iterdir()) == ["manifest.json", "model.onnx"]
    assert open_store().resolve("digits-cnn@live").version == "2"  # the store sdk predict and sdk.Client read
    model = sdk.load("digits-cnn@live")
    assert model.manifest.version == "2"
    assert int(model.predict({"image": digit_7})["logits"].argmax()) == 7
    # The cloud rolls back; the edge follows on the next pull.
    assert deployed.deployer().rollback("digits-cnn").ok
    result = pull("digits-cnn@live", source=source, local=_local())
    assert (result.status, result.version) == ("pulled", "1")
    assert open_store().resolve("digits-cnn@live").version == "1"
    assert [h["version"] for h in _local().aliases("digits-cnn")["live"]["history"]] == ["2"]


def test_a_second_pull_downloads_nothing_and_works_offline(deployed: Cloud) -> None:
    source = S3Store(STORE_URI, client=deployed.s3)
    assert pull("digits-cnn@live", source=source, local=_local()).status == "pulled"
    gets = count_calls(deployed.s3, "GetObject")
    again = pull("digits-cnn@live", source=source, local=_local())
    assert again.status == "present" and again.bytes == 0
    assert gets["GetObject"] == 2  # the alias object and the manifest; no model bytes
    offline = pull("digits-cnn@live", source=_offline_store(), local=_local())
    assert (offline.status, offline.version) == ("offline", "2")
    assert "already here, verified" in offline.detail
    with pytest.raises(CloudUnavailable, match="not in .* yet") as caught:
        pull("digits-cnn@1", source=_offline_store(), local=_local())
    assert caught.value.hint == "connect to the network (or the store) and pull again"


def test_a_tampered_object_is_refused_and_never_cached(deployed: Cloud) -> None:
    key = "models/digits-cnn/2/model.onnx"
    data = bytearray(deployed.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data[-1] ^= 0xFF  # same size, other bytes
    deployed.s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(data))
    with pytest.raises(IntegrityError, match="failed its sha256 check"):
        pull("digits-cnn@live", source=S3Store(STORE_URI, client=deployed.s3), local=_local())
    local = _local()
    assert local.versions("digits-cnn") == [] and local.aliases("digits-cnn") == {}
    leftovers = [p for p in (local.root / "digits-cnn").rglob("*") if p.is_file()]
    assert leftovers == []
    with pytest.raises(ModelNotFound):
        open_store(include_builtin=False).resolve("digits-cnn@live")


def test_a_damaged_local_copy_is_replaced_on_the_next_pull(deployed: Cloud) -> None:
    source = S3Store(STORE_URI, client=deployed.s3)
    result = pull("digits-cnn@2", source=source, local=_local())
    assert result.alias is None  # a version, not an alias: nothing to mirror
    (result.path / "model.onnx").write_bytes(b"damaged")
    again = pull("digits-cnn@2", source=source, local=_local())
    assert again.status == "pulled" and (again.path / "model.onnx").stat().st_size > 1000
