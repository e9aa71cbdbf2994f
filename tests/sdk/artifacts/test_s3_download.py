"""`download_verified` (resume, redo, refuse), the serving fetch resuming through it, and the S3 store's read-only
lookups, against a moto server."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from sdk.artifacts.s3 import S3Store, fetch_artifact
from sdk.artifacts.s3_download import PART_SUFFIX, download_verified
from sdk.artifacts.staging import STAGING_PREFIX, holds
from sdk.errors import CloudUnavailable, IntegrityError, ModelNotFound
from tests.sdk.serving.moto_server import MOTO_ENV, moto_server, upload_folder

pytestmark = pytest.mark.integration
BUCKET = "aiaas-downloads"
DATA = bytes(range(256)) * 64  # 16 KiB
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=MOTO_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=MOTO_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="blob", Body=DATA)
        yield client


def _ranges(client: Any) -> list[str | None]:
    """The Range header of each GetObject made through ``client`` from now on."""
    seen: list[str | None] = []

    def handler(params: dict[str, Any], **_: Any) -> None:
        seen.append(params["headers"].get("Range"))

    client.meta.events.register("before-call.s3.GetObject", handler)
    return seen


def test_an_interrupted_download_resumes_where_it_stopped(s3: Any, tmp_path: Path) -> None:
    target = tmp_path / "blob"
    (tmp_path / f"blob{PART_SUFFIX}").write_bytes(DATA[:5000])
    ranges, progress = _ranges(s3), list[int]()
    assert download_verified(s3, BUCKET, "blob", target, sha256=SHA, size=len(DATA), on_bytes=progress.append)
    assert target.read_bytes() == DATA and not (tmp_path / f"blob{PART_SUFFIX}").exists()
    assert ranges == ["bytes=5000-"] and sum(progress) == len(DATA)


def test_a_bad_partial_file_is_fetched_again_from_the_start(s3: Any, tmp_path: Path) -> None:
    (tmp_path / f"blob{PART_SUFFIX}").write_bytes(b"x" * 5000)  # the wrong bytes: the resumed file cannot verify
    ranges, progress = _ranges(s3), list[int]()
    assert download_verified(
        s3, BUCKET, "blob", tmp_path / "blob", sha256=SHA, size=len(DATA), on_bytes=progress.append
    )
    assert (tmp_path / "blob").read_bytes() == DATA
    assert ranges == ["bytes=5000-", None] and sum(progress) == len(DATA)


def test_a_verified_file_is_not_fetched_again(s3: Any, tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(DATA)
    ranges = _ranges(s3)
    assert not download_verified(s3, BUCKET, "blob", tmp_path / "blob", sha256=SHA, size=len(DATA))
    assert ranges == []


@pytest.mark.parametrize(
    ("sha256", "size", "message"),
    [
        ("0" * 64, len(DATA), "failed its sha256 check"),
        (SHA, len(DATA) - 10, "manifest records"),  # the object is larger than the manifest says
    ],
)
def test_an_object_that_does_not_match_is_refused_and_leaves_nothing(
    s3: Any, tmp_path: Path, sha256: str, size: int, message: str
) -> None:
    with pytest.raises(IntegrityError, match=message):
        download_verified(s3, BUCKET, "blob", tmp_path / "blob", sha256=sha256, size=size)
    assert list(tmp_path.iterdir()) == []


def test_the_store_resolves_versions_and_reads_manifests_without_downloading(
    s3: Any, tmp_path: Path, digits_artifact: Path
) -> None:
    upload_folder(s3, BUCKET, "models/digits-cnn/1/", digits_artifact)
    upload_folder(s3, BUCKET, "models/digits-cnn/2/", digits_artifact)
    s3.put_object(Bucket=BUCKET, Key="models/digits-cnn/aliases/live.json", Body=json.dumps({"version": "1"}))
    store = S3Store(f"s3://{BUCKET}/models", client=s3, cache_dir=tmp_path / "cache")
    assert store.resolve_version("digits-cnn") == "1"  # a bare name is what deploy serves: the live alias
    assert store.resolve_version("digits-cnn@live") == "1"
    assert store.version_uri("digits-cnn", "1") == f"s3://{BUCKET}/models/digits-cnn/1/"
    assert store.manifest("digits-cnn", "1").name == "digits-cnn"
    assert store.manifest_bytes("digits-cnn", "1") == (digits_artifact / "manifest.json").read_bytes()
    assert not (tmp_path / "cache").exists()  # nothing was downloaded
    with pytest.raises(ModelNotFound, match="has no version or alias 'staging'"):
        store.resolve_version("digits-cnn@staging")


class _CutBody:
    """An object body whose connection drops (a read timeout) after ``limit`` bytes."""

    def __init__(self, body: Any, limit: int) -> None:
        self.body, self.limit, self.given = body, limit, 0

    def read(self, size: int = -1) -> bytes:
        if self.given >= self.limit:
            raise ReadTimeoutError(endpoint_url="http://moto")
        room = self.limit - self.given
        chunk = bytes(self.body.read(room if size is None or size < 0 else min(size, room)))
        self.given += len(chunk)
        return chunk


def _cut_once(client: Any, key_suffix: str, limit: int) -> None:
    """The next GetObject of a key ending in ``key_suffix`` loses its connection after ``limit`` bytes."""
    armed = [True]

    def handler(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if armed[0] and "Body" in parsed and str(context.get("s3_key", "")).endswith(key_suffix):
            armed[0] = False
            parsed["Body"] = _CutBody(parsed["Body"], limit)

    def remember_key(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["s3_key"] = params.get("Key", "")

    client.meta.events.register("provide-client-params.s3.GetObject", remember_key)
    client.meta.events.register("after-call.s3.GetObject", handler)


def test_an_interrupted_serving_fetch_resumes_and_verifies(s3: Any, tmp_path: Path, digits_artifact: Path) -> None:
    upload_folder(s3, BUCKET, "resume/digits-cnn/1/", digits_artifact)
    uri = f"s3://{BUCKET}/resume/digits-cnn/1/"
    target = tmp_path / BUCKET / "resume" / "digits-cnn" / "1"
    staging = target.parent / f"{STAGING_PREFIX}1"
    _cut_once(s3, "model.onnx", 5000)
    with pytest.raises(CloudUnavailable, match="S3 is unreachable"):
        fetch_artifact(uri, client=s3, cache_dir=tmp_path)
    assert not target.exists()  # nothing half-done is visible
    assert (staging / f"model.onnx{PART_SUFFIX}").stat().st_size == 5000  # what landed is kept for the next try
    ranges = _ranges(s3)
    assert fetch_artifact(uri, client=s3, cache_dir=tmp_path) == target
    assert ranges == [None, "bytes=5000-"]  # the manifest, then the rest of the model only
    assert holds(target, (digits_artifact / "manifest.json").read_bytes())  # every sha256 checked
    assert (target / "model.onnx").read_bytes() == (digits_artifact / "model.onnx").read_bytes()
    assert not staging.exists()


def test_a_resumed_part_that_does_not_verify_is_fetched_again(s3: Any, tmp_path: Path, digits_artifact: Path) -> None:
    upload_folder(s3, BUCKET, "redo/digits-cnn/1/", digits_artifact)
    staging = tmp_path / BUCKET / "redo" / "digits-cnn" / f"{STAGING_PREFIX}1"
    staging.mkdir(parents=True)
    (staging / f"model.onnx{PART_SUFFIX}").write_bytes(b"x" * 5000)  # bytes that are not the object's
    ranges = _ranges(s3)
    folder = fetch_artifact(f"s3://{BUCKET}/redo/digits-cnn/1/", client=s3, cache_dir=tmp_path)
    assert ranges == [None, "bytes=5000-", None]
    assert holds(folder, (digits_artifact / "manifest.json").read_bytes())
