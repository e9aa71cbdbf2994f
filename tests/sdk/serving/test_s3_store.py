"""The S3 model store against a moto server: listing, aliases, verified download into the cache, error mapping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import numpy as np
import pytest

from sdk.artifacts.s3 import S3Store, fetch_artifact, is_artifact_uri, parse_s3_uri
from sdk.errors import CloudUnavailable, ConfigError, IntegrityError, ModelNotFound
from sdk.protocol.codec import decode_response, encode_request
from sdk.serving.config import ServeConfig
from sdk.serving.repository import ArtifactFolderStore, ModelRepository, open_model_store
from sdk.serving.service import Service
from tests.sdk.serving.builders import pair_model
from tests.sdk.serving.moto_server import MOTO_ENV, moto_server, upload_folder

pytestmark = pytest.mark.integration
BUCKET = "aiaas-models"


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory):
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture
def s3(moto_url: str, monkeypatch: pytest.MonkeyPatch, digits_artifact: Path, tmp_path: Path):
    """A bucket with digits-cnn 1 and pair 1 + 2 under models/, and pair's 'live' alias on version 1."""
    for key, value in {**MOTO_ENV, "AWS_ENDPOINT_URL": moto_url}.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3")
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
        upload_folder(client, BUCKET, "models/digits-cnn/1/", digits_artifact)
        for version in ("1", "2"):
            upload_folder(client, BUCKET, f"models/pair/{version}/", pair_model(tmp_path / "src", version))
        client.put_object(Bucket=BUCKET, Key="models/pair/aliases/live.json", Body=json.dumps({"version": "1"}))
    return client


def test_uri_parsing() -> None:
    assert parse_s3_uri("s3://b/models/") == ("b", "models/")
    assert parse_s3_uri("s3://b") == ("b", "")
    with pytest.raises(ConfigError, match="not an S3 URI"):
        parse_s3_uri("/tmp/models")


def test_store_lists_resolves_and_downloads_verified(s3, tmp_path: Path) -> None:
    store = S3Store(f"s3://{BUCKET}/models/", client=s3, cache_dir=tmp_path / "cache")
    assert store.names() == ["digits-cnn", "pair"]
    assert store.versions("pair") == ["1", "2"]
    assert store.aliases("pair") == {"live": {"version": "1"}}
    assert store.resolve("pair").version == "1"  # a bare name resolves through the live alias (what deploy serves)
    live = store.resolve("pair@live")
    assert live.version == "1" and live.path == tmp_path / "cache" / BUCKET / "models" / "pair" / "1"
    assert (live.path / "model.onnx").is_file() and live.manifest().name == "pair"
    with pytest.raises(ModelNotFound, match="no model named 'resnet'"):
        store.resolve("resnet")
    with pytest.raises(ModelNotFound, match="has no version or alias '9'"):
        store.resolve("pair@9")


def test_cached_copy_is_reused_and_a_tampered_one_fetched_again(s3, tmp_path: Path) -> None:
    uri = f"s3://{BUCKET}/models/digits-cnn/1/"
    folder = fetch_artifact(uri, client=s3, cache_dir=tmp_path)
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    assert fetch_artifact(uri, client=s3, cache_dir=tmp_path) == folder
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp  # not downloaded again
    (folder / "model.onnx").write_bytes(b"tampered in the cache")
    fetch_artifact(uri, client=s3, cache_dir=tmp_path)
    assert (folder / "model.onnx").stat().st_size > 1000


def test_tampered_object_never_reaches_the_cache(s3, tmp_path: Path, digits_artifact: Path) -> None:
    upload_folder(s3, BUCKET, "models/bad/1/", digits_artifact)
    data = bytearray((digits_artifact / "model.onnx").read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    s3.put_object(Bucket=BUCKET, Key="models/bad/1/model.onnx", Body=bytes(data))
    with pytest.raises(IntegrityError, match="model.onnx failed its sha256 check"):
        fetch_artifact(f"s3://{BUCKET}/models/bad/1/", client=s3, cache_dir=tmp_path)
    assert not (tmp_path / BUCKET / "models" / "bad" / "1").exists()
    assert [p.name for p in (tmp_path / BUCKET / "models" / "bad").iterdir()] == []


def test_service_over_an_s3_store_root_and_an_s3_artifact(s3, tmp_path: Path, digit_7: np.ndarray) -> None:
    root = open_model_store(f"s3://{BUCKET}/models/", cache_dir=tmp_path)
    assert isinstance(root, S3Store)
    service = Service(ModelRepository(root, models=["digits-cnn", "pair@live"]), config=ServeConfig()).start()
    body, headers = encode_request({"image": digit_7}, binary=True)
    response = service.handle("POST", "/v2/models/digits-cnn/infer", headers, body)
    assert int(decode_response(response.body, response.headers)[0]["logits"].argmax()) == 7
    single = open_model_store(f"s3://{BUCKET}/models/pair/2", cache_dir=tmp_path)
    assert isinstance(single, ArtifactFolderStore) and single.names() == ["pair"] and single.versions("pair") == ["2"]
    assert is_artifact_uri(f"s3://{BUCKET}/models/pair/2/") and not is_artifact_uri(f"s3://{BUCKET}/models/")


def test_botocore_errors_become_ours(s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="the bucket does not exist"):
        S3Store("s3://no-such-bucket/models/", client=s3).names()
    with pytest.raises(ModelNotFound, match="does not exist"):
        fetch_artifact(f"s3://{BUCKET}/models/nothing/1/", client=s3, cache_dir=tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(CloudUnavailable, match="S3 is unreachable"):
        S3Store(f"s3://{BUCKET}/models/").names()


def test_without_boto3_the_error_names_the_aws_extra() -> None:
    code = (
        "import sys; sys.modules['boto3'] = None\n"
        "from sdk.artifacts.s3 import S3Store\n"
        "try:\n    S3Store('s3://b/models/')\n"
        "except Exception as e:\n    print(type(e).__name__, e.hint)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'MissingDependency pip install "aiaas-sdk[aws]"'
