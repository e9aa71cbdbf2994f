"""No file is loaded before its bytes match the manifest; a mismatch names the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sdk.runtime.model as runtime_model
from sdk import load
from sdk.artifacts import read_manifest, verify_artifact
from sdk.errors import IntegrityError


@pytest.fixture
def no_session(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record any attempt to build a session: a tampered file must never reach the runtime."""
    built: list[bytes] = []

    def refuse(data: bytes, *args: object, **kwargs: object) -> None:
        built.append(data)
        raise AssertionError("a session was built from unverified bytes")

    monkeypatch.setattr(runtime_model, "OnnxRuntimeBackend", refuse)
    return built


def test_intact_artifact_verifies(digits_artifact: Path) -> None:
    verify_artifact(digits_artifact, read_manifest(digits_artifact))


def test_tampered_file_is_refused_and_never_loaded(artifact_copy: Path, no_session: list[bytes]) -> None:
    model = artifact_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.onnx failed its sha256 check") as info:
        load(artifact_copy)
    assert info.value.file == "model.onnx"
    assert no_session == []


def test_truncated_file_is_refused(artifact_copy: Path, no_session: list[bytes]) -> None:
    model = artifact_copy / "model.onnx"
    model.write_bytes(model.read_bytes()[:1000])
    with pytest.raises(IntegrityError, match=r"model.onnx is truncated: 1000 bytes"):
        load(artifact_copy)
    assert no_session == []


def test_missing_file_is_refused(artifact_copy: Path, no_session: list[bytes]) -> None:
    (artifact_copy / "model.onnx").unlink()
    with pytest.raises(IntegrityError, match="model.onnx is missing"):
        load(artifact_copy)


def test_wrong_sha_in_manifest_is_refused(artifact_copy: Path, no_session: list[bytes]) -> None:
    path = artifact_copy / "manifest.json"
    data = json.loads(path.read_text())
    data["artifacts"][0]["sha256"] = "0" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="model.onnx failed its sha256 check"):
        load(artifact_copy)
    assert no_session == []


def test_verify_artifact_checks_extra_files_too(artifact_copy: Path) -> None:
    from sdk.artifacts import ExtraFile, write_manifest
    from sdk.artifacts.integrity import describe_file

    (artifact_copy / "vocab.txt").write_text("a\nb\n")
    sha, size = describe_file(artifact_copy / "vocab.txt")
    manifest = read_manifest(artifact_copy)
    write_manifest(
        artifact_copy,
        type(manifest)(**{**manifest.__dict__, "files": (ExtraFile(file="vocab.txt", sha256=sha, bytes=size),)}),
    )
    verify_artifact(artifact_copy, read_manifest(artifact_copy))
    (artifact_copy / "vocab.txt").write_text("a\nc\n")
    with pytest.raises(IntegrityError, match="vocab.txt"):
        load(artifact_copy)
