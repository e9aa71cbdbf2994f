"""``read_verified_padded`` (the runtime's read of a model it aligns in place, #20 item 1) refuses what
``read_verified`` refuses, with the same error, and hands back the verified bytes with room after them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sdk.artifacts.integrity import read_verified, read_verified_padded
from sdk.errors import IntegrityError

DATA = bytes(range(256)) * 1000


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "model.onnx").write_bytes(DATA)
    return tmp_path


def test_the_verified_bytes_lie_at_the_start_of_a_longer_buffer(folder: Path) -> None:
    buffer = read_verified_padded(folder, "model.onnx", hashlib.sha256(DATA).hexdigest(), len(DATA), slack=64)
    assert len(buffer) == len(DATA) + 64 and buffer[: len(DATA)].tobytes() == DATA


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda data: data[:-10], "model.onnx is truncated"),
        (lambda data: data + b"x", "model.onnx is larger than recorded"),
        (lambda data: data[:100] + bytes([data[100] ^ 1]) + data[101:], "model.onnx failed its sha256 check"),
    ],
)
def test_a_changed_file_is_refused_as_read_verified_refuses_it(folder: Path, change, message: str) -> None:
    (folder / "model.onnx").write_bytes(change(DATA))
    digest = hashlib.sha256(DATA).hexdigest()
    for read in (read_verified, lambda *a: read_verified_padded(*a, slack=64)):
        with pytest.raises(IntegrityError, match=message):
            read(folder, "model.onnx", digest, len(DATA))


def test_a_missing_file_or_a_folder_in_its_place_is_refused(folder: Path) -> None:
    digest = hashlib.sha256(DATA).hexdigest()
    with pytest.raises(IntegrityError, match="missing from the artifact folder"):
        read_verified_padded(folder, "other.onnx", digest, len(DATA), slack=64)
    (folder / "dir.onnx").mkdir()
    with pytest.raises(IntegrityError, match="is a directory"):
        read_verified_padded(folder, "dir.onnx", digest, len(DATA), slack=64)
