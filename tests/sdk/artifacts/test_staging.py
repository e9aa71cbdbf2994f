"""Stage, verify, rename into place: what a failure leaves behind, and when a copy still counts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sdk.artifacts.manifest import MANIFEST_FILE, read_manifest
from sdk.artifacts.staging import STAGING_PREFIX, holds, staged, staging_folder
from sdk.errors import CloudUnavailable, IntegrityError


def _fill(staging: Path, source: Path) -> None:
    for name, _, _ in read_manifest(source).all_files():
        shutil.copy2(source / name, staging / name)


def test_a_verified_folder_replaces_a_damaged_copy_in_one_rename(digits_artifact: Path, tmp_path: Path) -> None:
    target = tmp_path / "m" / "1"
    target.mkdir(parents=True)
    (target / "model.onnx").write_bytes(b"damaged")
    manifest_bytes = (digits_artifact / MANIFEST_FILE).read_bytes()
    assert not holds(target, manifest_bytes)
    with staged(target, manifest_bytes) as staging:
        _fill(staging, digits_artifact)
    assert holds(target, manifest_bytes) and holds(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["1"]  # no staging, no old copy left


def test_a_copy_with_other_manifest_bytes_does_not_count(artifact_copy: Path) -> None:
    assert holds(artifact_copy)
    assert not holds(artifact_copy, (artifact_copy / MANIFEST_FILE).read_bytes() + b" ")
    (artifact_copy / "model.onnx").write_bytes(b"tampered")
    assert not holds(artifact_copy)


@pytest.mark.parametrize("resumable", [False, True])
def test_a_file_that_does_not_verify_never_reaches_the_target(
    digits_artifact: Path, tmp_path: Path, resumable: bool
) -> None:
    target, manifest_bytes = tmp_path / "m" / "1", (digits_artifact / MANIFEST_FILE).read_bytes()
    with (
        pytest.raises(IntegrityError, match="model.onnx"),
        staged(target, manifest_bytes, resumable=resumable) as staging,
    ):
        _fill(staging, digits_artifact)
        (staging / "model.onnx").write_bytes(b"tampered")
    assert list(target.parent.iterdir()) == []  # even a resumable staging folder is dropped: nothing is kept


def test_an_interrupted_resumable_fill_keeps_what_landed(digits_artifact: Path, tmp_path: Path) -> None:
    target = tmp_path / "m" / "1"
    manifest_bytes = (digits_artifact / MANIFEST_FILE).read_bytes()
    with pytest.raises(CloudUnavailable), staged(target, manifest_bytes, resumable=True) as staging:
        _fill(staging, digits_artifact)
        raise CloudUnavailable("the network went away")
    assert not target.exists()
    assert staging_folder(target).name == f"{STAGING_PREFIX}1" and (staging_folder(target) / "model.onnx").is_file()
    with staged(target, manifest_bytes, resumable=True) as staging:
        assert (staging / "model.onnx").is_file()  # the next try starts from it
    assert holds(target, manifest_bytes) and not staging_folder(target).exists()


def test_a_plain_fill_leaves_nothing_when_interrupted(digits_artifact: Path, tmp_path: Path) -> None:
    target, manifest_bytes = tmp_path / "m" / "1", (digits_artifact / MANIFEST_FILE).read_bytes()
    with pytest.raises(KeyboardInterrupt), staged(target, manifest_bytes) as staging:
        _fill(staging, digits_artifact)
        raise KeyboardInterrupt
    assert list(target.parent.iterdir()) == []
