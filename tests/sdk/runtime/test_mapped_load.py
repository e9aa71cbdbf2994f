"""Large artifacts load from verified, memory-mapped shards: same answers as the single-file model, and a missing,
altered or mislisted shard stops the load (naming it) before any session is built."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sdk import load
from sdk.artifacts.external import external_tensors
from sdk.artifacts.manifest import DataFile, read_manifest, write_manifest
from sdk.compile.external import ExternalDataConfig, externalize
from sdk.errors import ArtifactError, IntegrityError
from sdk.runtime import onnx_backend
from sdk.runtime.config import RuntimeConfig

TINY = ExternalDataConfig(threshold=0, shard_bytes=128 * 1024, min_tensor_bytes=512)


def externalized_copy(digits_artifact: Path, target: Path) -> Path:
    """The shipped digits CNN with its weights moved into several external-data shards."""
    shutil.copytree(digits_artifact, target)
    manifest = read_manifest(target)
    artifact = manifest.artifact(precision="fp32")
    graph, shards = externalize((target / artifact.file).read_bytes(), file=artifact.file, config=TINY)
    import hashlib

    (target / artifact.file).write_bytes(graph)
    listed = []
    for name, data in shards:
        (target / name).write_bytes(data)
        listed.append(DataFile(file=name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)))
    changed = dataclasses.replace(
        artifact, sha256=hashlib.sha256(graph).hexdigest(), bytes=len(graph), external=tuple(listed)
    )
    write_manifest(target, dataclasses.replace(manifest, artifacts=(changed,)))
    return target


@pytest.fixture(scope="module")
def large(digits_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return externalized_copy(digits_artifact, tmp_path_factory.mktemp("large") / "digits-cnn" / "1")


@pytest.fixture
def large_copy(large: Path, tmp_path: Path) -> Path:
    target = tmp_path / "digits-cnn" / "1"
    shutil.copytree(large, target)
    return target


def test_the_externalized_digits_model_has_several_shards_and_a_small_graph(large: Path) -> None:
    artifact = read_manifest(large).artifacts[0]
    assert len(artifact.external) >= 2
    assert artifact.bytes < 20_000  # the graph: the weights live in the shards
    assert all(d.bytes <= TINY.shard_bytes for d in artifact.external)
    tables = external_tensors((large / artifact.file).read_bytes())
    assert {t.location for t in tables} == {d.file for d in artifact.external}


def test_a_mapped_large_model_answers_exactly_as_the_single_file_model(
    large: Path, digits_artifact: Path, digit_7: np.ndarray
) -> None:
    config = RuntimeConfig(warmup_runs=1)
    batch = np.stack([digit_7, digit_7 * 0.5]).reshape(2, 1, 8, 8).astype(np.float32)
    with load(large, config=config) as mapped, load(digits_artifact, config=config) as single:
        got, want = mapped({"image": batch}), single({"image": batch})
        shards = len(read_manifest(large).artifacts[0].external)
        assert any(f"MB of weights used in place from {shards} mapped shards" in n for n in mapped.info.notes)
    # Same weights, but no prepacked GEMM (sdk.runtime.mapped): float sums may round differently in the last bits.
    np.testing.assert_allclose(got["logits"], want["logits"], rtol=0, atol=1e-5)
    assert (got["logits"].argmax(axis=1) == want["logits"].argmax(axis=1)).all()


def test_the_session_runs_on_the_mapped_pages_not_a_copy(large: Path) -> None:
    with load(large, config=RuntimeConfig(warmup_runs=0)) as model:
        weights = model.backend._weights  # type: ignore[attr-defined]
        pinned = model.backend._pinned  # type: ignore[attr-defined]
        for array, value in zip(weights.arrays.values(), pinned):
            assert not array.flags.writeable and not array.flags.owndata  # a read-only view over the mapping
            assert value.data_ptr() == array.ctypes.data


def test_a_tampered_shard_byte_is_refused_naming_the_shard_before_any_session(
    large_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shard = read_manifest(large_copy).artifacts[0].external[-1]
    data = bytearray((large_copy / shard.file).read_bytes())
    data[len(data) // 2] ^= 0x01
    (large_copy / shard.file).write_bytes(bytes(data))
    sessions: list[object] = []
    monkeypatch.setattr(onnx_backend.OnnxRuntimeBackend, "__init__", lambda *a, **k: sessions.append(a))
    with pytest.raises(IntegrityError, match=f"{shard.file} failed its sha256 check") as caught:
        load(large_copy, config=RuntimeConfig(warmup_runs=0))
    assert caught.value.file == shard.file and sessions == []


def test_a_missing_shard_is_a_clear_integrity_error(large_copy: Path) -> None:
    shard = read_manifest(large_copy).artifacts[0].external[0]
    (large_copy / shard.file).unlink()
    with pytest.raises(IntegrityError, match=f"{shard.file} is missing from the artifact folder"):
        load(large_copy, config=RuntimeConfig(warmup_runs=0))


def test_a_truncated_shard_is_refused_with_both_sizes(large_copy: Path) -> None:
    shard = read_manifest(large_copy).artifacts[0].external[0]
    data = (large_copy / shard.file).read_bytes()
    (large_copy / shard.file).write_bytes(data[:-100])
    with pytest.raises(IntegrityError, match=rf"{shard.file} is truncated: {shard.bytes - 100} bytes"):
        load(large_copy, config=RuntimeConfig(warmup_runs=0))


def test_shards_swapped_between_names_fail_their_checks(large_copy: Path) -> None:
    first, second = read_manifest(large_copy).artifacts[0].external[:2]
    a, b = (large_copy / first.file).read_bytes(), (large_copy / second.file).read_bytes()
    (large_copy / first.file).write_bytes(b)
    (large_copy / second.file).write_bytes(a)
    with pytest.raises(IntegrityError, match=f"{first.file} (is truncated|is larger|failed its sha256)"):
        load(large_copy, config=RuntimeConfig(warmup_runs=0))


def test_a_graph_that_refers_to_an_unlisted_shard_is_refused(large_copy: Path) -> None:
    manifest = read_manifest(large_copy)
    artifact = manifest.artifacts[0]
    dropped = dataclasses.replace(artifact, external=artifact.external[:-1])
    write_manifest(large_copy, dataclasses.replace(manifest, artifacts=(dropped,)))
    (large_copy / artifact.external[-1].file).unlink()
    with pytest.raises(IntegrityError, match=f"refers to '{artifact.external[-1].file}', which the manifest does"):
        load(large_copy, config=RuntimeConfig(warmup_runs=0))


def test_openvino_refuses_an_externalized_artifact_clearly(large: Path) -> None:
    from sdk.runtime.model import open_backend

    artifact = read_manifest(large).artifacts[0]
    openvino = dataclasses.replace(artifact, target={**artifact.target, "runtime": "openvino"})
    with pytest.raises(ArtifactError, match="external data, which the OpenVINO backend does not load"):
        open_backend(large, openvino, RuntimeConfig(warmup_runs=0))


def test_the_shards_are_listed_in_the_manifest_json_and_read_back(large: Path) -> None:
    document = json.loads((large / "manifest.json").read_text())
    listed = document["artifacts"][0]["external"]
    assert [sorted(d) for d in listed] == [["bytes", "file", "sha256"]] * len(listed)
    assert read_manifest(large).all_files()[1:] == [(d["file"], d["sha256"], d["bytes"]) for d in listed]
