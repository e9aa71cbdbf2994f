"""Chunk-level deltas (#19 item 4) against the moto server: deploy and pull move only the chunks that changed.

The artifact is the built-in digits CNN with a 3 MiB weights file beside it, indexed with every file chunked (so the
model that is loaded at the end was itself assembled from chunks). Bytes are counted on the wire of a real boto3
client (botocore's send and receive hooks: what a PUT sends, what a GetObject answers).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sdk
from sdk.artifacts import LocalStore, read_manifest, write_manifest
from sdk.artifacts.chunks import INDEX_FILE, STORE_FOLDER, ChunkIndex, FileChunks, add_chunk_index, chunk_file
from sdk.artifacts.integrity import describe_file
from sdk.artifacts.s3 import S3Store, fetch_artifact
from sdk.artifacts.staging import staging_folder
from sdk.deploy import pull
from sdk.errors import IntegrityError, ManifestError
from tests.sdk.deploy.conftest import BUCKET, STORE_URI, Cloud, count_calls
from tests.sdk.deploy.test_delta_deploy import Traffic

pytestmark = pytest.mark.integration

WEIGHTS = "weights.bin"
CHUNKS = f"models/{STORE_FOLDER}"


def _weights(seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()


def _changed(data: bytes) -> bytes:
    """A 'fine-tune' in place (4 KiB rewritten at 1 MiB) and a resized tensor (1 KiB inserted at 2 MiB)."""
    out = bytearray(data)
    out[1 << 20 : (1 << 20) + 4096] = bytes(4096)
    return bytes(out[: 2 << 20]) + b"\x07" * 1024 + bytes(out[2 << 20 :])


@pytest.fixture
def chunked(make_artifact: Callable[..., Path]) -> Callable[..., Path]:
    def make(version: str, weights: bytes) -> Path:
        folder = make_artifact(version, extra={WEIGHTS: weights})
        add_chunk_index(folder, min_file=0)
        return folder

    return make


def _local() -> LocalStore:
    return LocalStore(os.environ["AIAAS_STORE"])


def _source(cloud: Cloud) -> S3Store:
    return S3Store(STORE_URI, client=cloud.s3)


def _chunk_keys(cloud: Cloud) -> list[str]:
    return [k for k in cloud.keys(CHUNKS)]


def _sum(counts: Counter[str], prefix: str) -> int:
    return sum(n for key, n in counts.items() if key.startswith(prefix))


def test_deploy_then_pull_of_a_changed_version_moves_only_the_changed_chunks(
    cloud: Cloud, chunked: Callable[..., Path], digit_7: np.ndarray
) -> None:
    traffic = Traffic(cloud.s3)
    first = chunked("1", _weights())
    assert cloud.deployer().deploy(first).ok
    whole = sum(size for _, _, size in read_manifest(first).all_files())
    assert _sum(traffic.sent, CHUNKS) >= whole - (16 << 10)  # the first version: every chunk once (not the index)
    assert not [k for k in cloud.keys("models/digits-cnn/1/") if k.endswith((WEIGHTS, "model.onnx"))]
    assert pull("digits-cnn@1", source=_source(cloud), local=_local()).status == "pulled"

    traffic.reset()
    second = chunked("2", _changed(_weights()))
    report = cloud.deployer().deploy(second)
    assert report.ok
    sent = _sum(traffic.sent, CHUNKS)
    assert 0 < sent <= 4 * (256 << 10)  # the chunks around the two changes, nothing else
    assert sent < 0.2 * (3 << 20)
    traffic.reset()
    result = pull("digits-cnn@2", source=_source(cloud), local=_local())
    fetched = _sum(traffic.received, CHUNKS)
    index = (second / INDEX_FILE).stat().st_size  # the index travels whole
    assert result.status == "pulled" and result.bytes == fetched + index
    assert _sum(traffic.received, "models/digits-cnn/2/") == index + (second / "manifest.json").stat().st_size
    assert 0 < fetched <= sent  # the device had the rest in version 1
    assert (result.path / WEIGHTS).read_bytes() == _changed(_weights())
    model = sdk.load(result.path)  # model.onnx was assembled from chunks too, and verified whole
    try:
        assert int(model({"image": digit_7})["logits"].argmax()) == 7
    finally:
        model.close()


def test_a_version_whose_chunks_are_all_stored_uploads_none(cloud: Cloud, chunked: Callable[..., Path]) -> None:
    assert cloud.deployer().deploy(chunked("1", _weights())).ok
    traffic = Traffic(cloud.s3)
    assert cloud.deployer().deploy(chunked("2", _weights())).ok  # same bytes, new version
    assert _sum(traffic.sent, CHUNKS) == 0
    assert _sum(traffic.sent, "models/digits-cnn/2/") < 64 << 10  # the index and the manifest


def test_a_tampered_chunk_is_fetched_again_once_then_refused(cloud: Cloud, chunked: Callable[..., Path]) -> None:
    assert cloud.deployer().deploy(chunked("1", _weights())).ok
    index = chunk_file(chunked("1", _weights()) / WEIGHTS)
    key = f"{CHUNKS}{index.chunks[3].sha256}"
    cloud.s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * index.chunks[3].length)
    gets: Counter[str] = Counter()
    cloud.s3.meta.events.register("before-call.s3.GetObject", lambda params, **_: gets.update([params["url_path"]]))
    with pytest.raises(IntegrityError, match=r"weights.bin: its chunk at offset \d+ .* failed its sha256 check twice"):
        pull("digits-cnn@1", source=_source(cloud), local=_local())
    assert sum(n for path, n in gets.items() if path.endswith(index.chunks[3].sha256)) == 2
    target = Path(os.environ["AIAAS_STORE"]) / "digits-cnn" / "1"
    assert not target.exists() and not staging_folder(target).exists()  # nothing partial kept or visible


class OnceCorrupted:
    """The store's client, but the first answer for one key comes back damaged (a fault moto cannot cause)."""

    def __init__(self, client: Any, key: str) -> None:
        self.client, self.key, self.done = client, key, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        answer = self.client.get_object(**kwargs)
        if kwargs["Key"] == self.key and not self.done:
            self.done = True
            data = bytearray(answer["Body"].read())
            data[0] ^= 0xFF
            answer["Body"] = _Body(bytes(data))
        return answer


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        out, self.data = (self.data, b"") if n < 0 else (self.data[:n], self.data[n:])
        return out


def test_a_chunk_damaged_once_in_transit_is_fetched_again_and_the_pull_succeeds(
    cloud: Cloud, chunked: Callable[..., Path]
) -> None:
    folder = chunked("1", _weights())
    assert cloud.deployer().deploy(folder).ok
    key = f"{CHUNKS}{chunk_file(folder / WEIGHTS).chunks[5].sha256}"
    flaky = OnceCorrupted(cloud.s3, key)
    result = pull("digits-cnn@1", source=S3Store(STORE_URI, client=flaky), local=_local())
    assert flaky.done and result.status == "pulled"
    assert (result.path / WEIGHTS).read_bytes() == _weights()


def test_a_missing_chunk_is_a_clear_error_naming_the_file(cloud: Cloud, chunked: Callable[..., Path]) -> None:
    folder = chunked("1", _weights())
    assert cloud.deployer().deploy(folder).ok
    cloud.s3.delete_object(Bucket=BUCKET, Key=f"{CHUNKS}{chunk_file(folder / WEIGHTS).chunks[0].sha256}")
    with pytest.raises(IntegrityError, match="weights.bin is incomplete in the store: its chunk at offset 0") as caught:
        pull("digits-cnn@1", source=_source(cloud), local=_local())
    assert caught.value.file == WEIGHTS
    assert not (Path(os.environ["AIAAS_STORE"]) / "digits-cnn" / "1").exists()


def test_chunks_that_all_verify_but_assemble_into_another_file_fail_the_whole_file_check(
    cloud: Cloud, chunked: Callable[..., Path], tmp_path: Path
) -> None:
    """The index of a file lists the chunks of another file of the same size: every chunk verifies, the whole
    file does not (the manifest's sha256 is the last word)."""
    honest = chunked("1", _weights())
    assert cloud.deployer().deploy(chunked("9", _weights(seed=9))).ok  # the impostor's chunks are in the store
    impostor = chunk_file(honest.parent / "digits-cnn-9" / WEIGHTS)
    manifest = read_manifest(honest)
    real = chunk_file(honest / WEIGHTS)
    lying = ChunkIndex({WEIGHTS: FileChunks(WEIGHTS, real.sha256, real.bytes, impostor.chunks)})
    (honest / INDEX_FILE).write_bytes(lying.to_json())
    sha256, size = describe_file(honest / INDEX_FILE)
    files = tuple(
        dataclasses.replace(f, sha256=sha256, bytes=size) if f.file == INDEX_FILE else f for f in manifest.files
    )
    write_manifest(honest, dataclasses.replace(manifest, files=files))
    for path in sorted(honest.iterdir()):
        if path.name not in (WEIGHTS,):
            cloud.s3.put_object(Bucket=BUCKET, Key=f"models/digits-cnn/1/{path.name}", Body=path.read_bytes())
    with pytest.raises(IntegrityError, match="weights.bin failed its sha256 check once assembled"):
        pull("digits-cnn@1", source=_source(cloud), local=_local())
    assert not (Path(os.environ["AIAAS_STORE"]) / "digits-cnn" / "1").exists()


class Killed(BaseException):
    """Stands in for SIGKILL in-process: not an error the pull may catch."""


def test_an_interrupted_pull_keeps_its_landed_chunks_and_fetches_only_the_rest(
    cloud: Cloud, chunked: Callable[..., Path]
) -> None:
    folder = chunked("1", _weights())
    assert cloud.deployer().deploy(folder).ok
    traffic = Traffic(cloud.s3)
    shown = [0]

    class Dies:
        def begin(self, total: int, files: int) -> None: ...
        def file(self, name: str, size: int) -> None: ...
        def end(self) -> None: ...

        def advance(self, n: int) -> None:
            shown[0] += n
            if shown[0] > (3 << 20) // 2:
                raise Killed

    with pytest.raises(Killed):
        pull("digits-cnn@1", source=_source(cloud), local=_local(), progress=Dies())
    first = _sum(traffic.received, CHUNKS)
    total = sum(size for _, _, size in read_manifest(folder).all_files())
    traffic.reset()
    result = pull("digits-cnn@1", source=_source(cloud), local=_local())
    again = _sum(traffic.received, CHUNKS)
    assert result.status == "pulled" and (result.path / WEIGHTS).read_bytes() == _weights()
    missing = total - shown[0]  # what had not landed (chunks fetched but not yet written when it died are lost)
    assert again <= 1.02 * missing + (256 << 10)  # what was missing, and at most a chunk torn by the kill
    assert first + again < 1.1 * total


def test_an_artifact_without_a_chunk_index_still_deploys_and_pulls_file_by_file(
    cloud: Cloud, make_artifact: Callable[..., Path]
) -> None:
    folder = make_artifact("1", extra={WEIGHTS: _weights()})
    assert cloud.deployer().deploy(folder).ok
    assert f"models/digits-cnn/1/{WEIGHTS}" in cloud.keys("models/digits-cnn/") and not _chunk_keys(cloud)
    gets = count_calls(cloud.s3, "GetObject")
    result = pull("digits-cnn@1", source=_source(cloud), local=_local())
    assert result.status == "pulled" and (result.path / WEIGHTS).read_bytes() == _weights()
    assert gets["GetObject"] <= 5  # alias, manifest, and each file whole


def test_rollback_verifies_a_chunked_version_by_its_chunks_and_refuses_one_with_a_chunk_missing(
    cloud: Cloud, chunked: Callable[..., Path]
) -> None:
    first = chunked("1", _weights())
    for folder in (first, chunked("2", _changed(_weights())), chunked("3", _weights(seed=3))):
        assert cloud.deployer().deploy(folder).ok
    report = cloud.deployer().rollback("digits-cnn")  # to 2: its files are chunks only, and all there
    assert report.ok, report.summary()
    assert cloud.alias_object()["version"] == "2"
    only_in_1 = chunk_file(first / WEIGHTS).chunks[8]  # before the edits: not shared with version 2
    cloud.s3.delete_object(Bucket=BUCKET, Key=f"{CHUNKS}{only_in_1.sha256}")
    refused = cloud.deployer().rollback("digits-cnn", to="1")
    assert isinstance(refused.error, IntegrityError) and refused.error.file == WEIGHTS
    assert "digits-cnn/1/weights.bin does not match the sha256 its manifest records" in refused.error.message
    assert cloud.alias_object()["version"] == "2"


KILLER = """
import os, signal, sys
import boto3
from sdk.artifacts import LocalStore
from sdk.artifacts.s3 import S3Store, fetch_artifact
from sdk.deploy import pull

class DiesMidway:
    seen = 0
    def begin(self, total, files): ...
    def file(self, name, size): ...
    def end(self): ...
    def advance(self, n):
        DiesMidway.seen += n
        if DiesMidway.seen > int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)

client = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
pull("digits-cnn@1", source=S3Store(sys.argv[2], client=client), local=LocalStore(os.environ["AIAAS_STORE"]),
     progress=DiesMidway())
"""


def test_a_pull_killed_with_sigkill_leaves_nothing_loadable_and_resumes_with_the_missing_chunks(
    cloud: Cloud, chunked: Callable[..., Path]
) -> None:
    folder = chunked("1", _weights())
    assert cloud.deployer().deploy(folder).ok
    total = sum(size for _, _, size in read_manifest(folder).all_files())
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, cloud.url, STORE_URI, str(total // 3)], env=os.environ, timeout=120
    )
    assert killed.returncode == -9
    target = Path(os.environ["AIAAS_STORE"]) / "digits-cnn" / "1"
    assert not target.exists() and (staging_folder(target) / f"{WEIGHTS}.part").exists()
    with pytest.raises(ManifestError, match="is not an artifact folder"):
        sdk.load(str(target))  # nothing partial is loadable
    traffic = Traffic(cloud.s3)
    result = pull("digits-cnn@1", source=_source(cloud), local=_local())
    assert result.status == "pulled" and (result.path / WEIGHTS).read_bytes() == _weights()
    again = _sum(traffic.received, CHUNKS)
    # at most what the killed pull had not yet taken, plus the chunks in flight when it died (8 fetchers)
    assert again <= 1.02 * (total - total // 3) + 8 * (256 << 10)
    assert again < 0.9 * total


def test_a_servers_s3_cache_assembles_a_chunked_version_from_the_version_it_already_cached(
    cloud: Cloud, chunked: Callable[..., Path], tmp_path: Path
) -> None:
    for version, weights in (("1", _weights()), ("2", _changed(_weights()))):
        assert cloud.deployer().deploy(chunked(version, weights)).ok
    cache = tmp_path / "cache"
    fetch_artifact(f"s3://{BUCKET}/models/digits-cnn/1/", client=cloud.s3, cache_dir=cache)
    traffic = Traffic(cloud.s3)
    folder = fetch_artifact(f"s3://{BUCKET}/models/digits-cnn/2/", client=cloud.s3, cache_dir=cache)
    assert (folder / WEIGHTS).read_bytes() == _changed(_weights())
    assert 0 < _sum(traffic.received, CHUNKS) <= 4 * (256 << 10)


def test_a_deploy_of_an_index_with_overlapping_chunks_is_refused_naming_the_file_and_sends_nothing(
    cloud: Cloud, chunked: Callable[..., Path]
) -> None:
    folder = chunked("1", _weights())
    entry = chunk_file(folder / WEIGHTS)
    first, second, *rest = entry.chunks
    overlapping = (first, dataclasses.replace(second, offset=second.offset - 100, length=second.length + 100), *rest)
    index = ChunkIndex({WEIGHTS: dataclasses.replace(entry, chunks=overlapping)})
    (folder / INDEX_FILE).write_bytes(index.to_json())
    manifest = read_manifest(folder)
    sha256, size = describe_file(folder / INDEX_FILE)
    files = tuple(
        dataclasses.replace(f, sha256=sha256, bytes=size) if f.file == INDEX_FILE else f for f in manifest.files
    )
    write_manifest(folder, dataclasses.replace(manifest, files=files))
    report = cloud.deployer().deploy(folder)
    assert isinstance(report.error, ManifestError)
    assert f"chunk index of {WEIGHTS}: chunks overlap at offset {second.offset - 100}" in report.error.message
    assert cloud.keys("models/digits-cnn/") == [] and _chunk_keys(cloud) == []
