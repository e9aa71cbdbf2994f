"""Fetching an adapted artifact as a delta (#18 item 2): where its reused files are looked for in S3, which local
files may stand in for a download, and the S3 cache (a function's MODEL_URI) taking the base it already holds."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

import sdk
from sdk.adaptation import adapt
from sdk.artifacts import read_manifest
from sdk.artifacts.integrity import sha256_file
from sdk.artifacts.s3 import S3Store
from sdk.artifacts.s3_download import stored_keys, take_local
from sdk.artifacts.store import BUILTIN_ROOT, held_files
from tests.sdk.serving.moto_server import MOTO_ENV, moto_server, upload_folder

BUCKET = "aiaas-delta"
BASE = BUILTIN_ROOT / "digits-cnn" / "1"


@pytest.fixture(scope="module")
def adapted(digits_split, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in digits CNN adapted to digits 5-9 (five examples each) as ``digits-upper@1``; read-only."""
    rng = np.random.default_rng(1)
    chosen = np.concatenate([rng.permutation(np.flatnonzero(digits_split.y_train == c))[:5] for c in range(5, 10)])
    folder = tmp_path_factory.mktemp("delta")
    np.savez(
        folder / "data.npz", x=digits_split.x_train[chosen].reshape(len(chosen), -1), y=digits_split.y_train[chosen]
    )
    return adapt("digits-cnn", folder / "data.npz", folder / "adapted", name="digits-upper", seed=1).path


def test_a_reused_file_is_looked_for_in_the_base_folder_first(adapted: Path) -> None:
    manifest = read_manifest(adapted)
    assert stored_keys("models/digits-upper/1/", manifest) == {
        "model.onnx": ("models/digits-cnn/1/model.onnx", "models/digits-upper/1/model.onnx"),
        "head.onnx": ("models/digits-upper/1/head.onnx",),
    }
    # A folder outside a store's <name>/<version>/ layout has no base folder beside it: its own files only.
    assert stored_keys("copies/upper/", manifest)["model.onnx"] == ("copies/upper/model.onnx",)
    assert stored_keys("models/digits-cnn/1/", read_manifest(BASE)) == {
        "model.onnx": ("models/digits-cnn/1/model.onnx",)
    }


def test_a_local_file_is_linked_only_when_its_bytes_match(tmp_path: Path) -> None:
    source = tmp_path / "base" / "model.onnx"
    source.parent.mkdir()
    shutil.copyfile(BASE / "model.onnx", source)
    sha256, size = sha256_file(source), source.stat().st_size
    assert take_local(source, tmp_path / "new" / "model.onnx", sha256=sha256, size=size)
    assert os.path.samefile(source, tmp_path / "new" / "model.onnx")
    changed = bytearray(source.read_bytes())
    changed[10] ^= 0xFF
    (tmp_path / "changed.onnx").write_bytes(bytes(changed))
    assert not take_local(tmp_path / "changed.onnx", tmp_path / "other.onnx", sha256=sha256, size=size)
    assert not take_local(tmp_path / "absent.onnx", tmp_path / "other.onnx", sha256=sha256, size=size)
    assert not (tmp_path / "other.onnx").exists()


def test_held_files_are_the_base_and_other_versions_but_never_an_unfinished_folder(
    adapted: Path, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    shutil.copytree(BASE, root / "digits-cnn" / "1")
    shutil.copytree(adapted, root / "digits-upper" / "0")  # an earlier version of the adapted model
    (root / "digits-upper" / ".partial-2").mkdir()  # an interrupted pull: no manifest, never a source
    (root / "digits-upper" / ".partial-2" / "model.onnx").write_bytes(b"half")
    manifest = read_manifest(adapted)
    assert manifest.base is not None
    held = held_files([root], manifest)
    head_sha = next(f.sha256 for f in manifest.files if f.file == "head.onnx")
    assert held[manifest.base.files["model.onnx"]] == root / "digits-cnn" / "1" / "model.onnx"
    assert held[head_sha] == root / "digits-upper" / "0" / "head.onnx"
    assert all(".partial-" not in str(path) for path in held.values())
    assert held_files([tmp_path / "nothing-here"], manifest) == {}


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
        yield client


@pytest.mark.integration
def test_the_s3_cache_takes_a_reused_file_from_the_cached_base(
    s3: Any, adapted: Path, tmp_path: Path, digit_7: np.ndarray
) -> None:
    """A function serving a store root fetches the base, then the adapted model without its base's bytes again."""
    upload_folder(s3, BUCKET, "models/digits-cnn/1/", BASE)
    for name in ("head.onnx", "manifest.json"):  # the delta layout `sdk deploy` writes
        s3.put_object(Bucket=BUCKET, Key=f"models/digits-upper/1/{name}", Body=(adapted / name).read_bytes())
    got: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda params, **_: got.append(params["url_path"]))
    store = S3Store(f"s3://{BUCKET}/models/", client=s3, cache_dir=tmp_path / "cache")
    base = store.resolve("digits-cnn@1")
    got.clear()
    upper = store.resolve("digits-upper@1")
    assert any(path.endswith("head.onnx") for path in got) and not any(path.endswith("model.onnx") for path in got)
    assert os.path.samefile(upper.path / "model.onnx", base.path / "model.onnx")
    with sdk.load(upper.path) as model:
        probabilities = model({"image": digit_7})["probabilities"]
        assert (model.manifest.labels or ())[int(probabilities.argmax())] == "7"
