"""`sdk compile` writes a chunk index for its large files (AIAAS_CHUNK_INDEX_MIN_BYTES), listed in the manifest, so a
later update ships below the file level; small models travel file by file as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdk import load
from sdk.artifacts import read_manifest, verify_artifact
from sdk.artifacts.chunks import INDEX_FILE, read_index
from sdk.compile import compile_source
from sdk.compile.sources import from_torch_factory

FACTORY = f"{Path(__file__).with_name('test_external_data.py')}:make_wide"


def _compile(out: Path, patch: pytest.MonkeyPatch, min_bytes: str | None) -> Path:
    if min_bytes is not None:
        patch.setenv("AIAAS_CHUNK_INDEX_MIN_BYTES", min_bytes)
    return compile_source(from_torch_factory(FACTORY, None, "wide"), out, precisions="fp32").folder


def test_a_file_over_the_threshold_gets_a_chunk_index_the_manifest_covers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _compile(tmp_path / "wide", monkeypatch, str(32 * 1024))
    manifest = read_manifest(folder)
    assert [f.file for f in manifest.files if f.purpose == "chunk-index"] == [INDEX_FILE]
    index = read_index(folder, manifest)
    assert index is not None and set(index.files) == {"model.onnx"}
    chunks = index.files["model.onnx"].chunks
    assert len(chunks) >= 2 and sum(c.length for c in chunks) == manifest.artifact().bytes
    verify_artifact(folder, manifest)  # chunks.json is one of the files the manifest vouches for
    assert load(folder).manifest.ref == "wide@1"


@pytest.mark.parametrize("min_bytes", [None, "0"], ids=["default-8MiB", "off"])
def test_a_small_model_or_the_setting_off_writes_no_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, min_bytes: str | None
) -> None:
    folder = _compile(tmp_path / "wide", monkeypatch, min_bytes)
    assert not (folder / INDEX_FILE).exists()
    assert all(f.purpose != "chunk-index" for f in read_manifest(folder).files)
