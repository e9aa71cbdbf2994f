"""Content-defined chunks (#19 item 4): deterministic cuts, local effect of edits, and the index's validation."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sdk.artifacts import ExtraFile, describe_file, read_manifest, write_manifest
from sdk.artifacts.chunks import (
    INDEX_FILE,
    INDEX_PURPOSE,
    LARGEST_CHUNK,
    MAX_CHUNK,
    MIN_CHUNK,
    TIERS,
    ChunkIndex,
    Tier,
    add_chunk_index,
    chunk_file,
    cut,
    index_entry,
    local_chunks,
    parse_index,
    read_index,
    read_local_chunk,
    tier_for,
)
from sdk.artifacts.integrity import verify_artifact
from sdk.artifacts.store import BUILTIN_ROOT
from sdk.errors import ConfigError, IntegrityError, ManifestError


@pytest.fixture(scope="module")
def data() -> bytes:
    return np.random.default_rng(0).integers(0, 256, 4 << 20, dtype=np.uint8).tobytes()


def _hashes(blob: bytes) -> list[str]:
    return [hashlib.sha256(blob[o : o + n]).hexdigest() for o, n in cut(memoryview(blob))]


def test_cuts_are_deterministic_contiguous_and_within_bounds(data: bytes) -> None:
    pieces = cut(memoryview(data))
    assert pieces == cut(memoryview(bytes(data)))
    assert pieces[0][0] == 0 and sum(n for _, n in pieces) == len(data)
    assert all(o1 + n1 == o2 for (o1, n1), (o2, _) in itertools.pairwise(pieces))
    assert all(MIN_CHUNK <= n <= MAX_CHUNK for _, n in pieces[:-1])
    assert 20 < len(pieces) < 200  # about 48 KiB on average: content decides, not a fixed size


def test_an_insertion_changes_only_the_chunks_near_it(data: bytes) -> None:
    edited = data[: 2 << 20] + b"a resized tensor" * 64 + data[2 << 20 :]
    before = set(_hashes(data))
    new = [h for h in _hashes(edited) if h not in before]
    assert 1 <= len(new) <= 2  # fixed-size blocks would lose every block after the insertion
    rewritten = bytearray(data)
    rewritten[100_000:104_096] = bytes(4096)
    assert len([h for h in _hashes(bytes(rewritten)) if h not in before]) <= 2


def test_constant_bytes_are_cut_at_the_size_bounds() -> None:
    zeros = bytes(3 * MAX_CHUNK + 5)
    lengths = [n for _, n in cut(memoryview(zeros))]
    assert sum(lengths) == len(zeros) and all(MIN_CHUNK <= n <= MAX_CHUNK for n in lengths[:-1])


@pytest.fixture
def indexed(tmp_path: Path, data: bytes) -> Path:
    folder = tmp_path / "digits-cnn"
    shutil.copytree(BUILTIN_ROOT / "digits-cnn" / "1", folder)
    (folder / "weights.bin").write_bytes(data)
    manifest = read_manifest(folder)
    sha256, size = describe_file(folder / "weights.bin")
    extra = ExtraFile(file="weights.bin", sha256=sha256, bytes=size, purpose="test")
    write_manifest(folder, dataclasses.replace(manifest, files=(extra,)))
    add_chunk_index(folder)
    return folder


def test_the_index_is_a_manifest_file_so_its_hash_and_signature_cover_it(indexed: Path) -> None:
    manifest = read_manifest(indexed)
    entry = index_entry(manifest)
    assert entry is not None and (entry.file, entry.purpose) == (INDEX_FILE, INDEX_PURPOSE)
    index = read_index(indexed, manifest)
    assert index is not None and list(index.files) == ["weights.bin"]  # model.onnx is under 1 MiB: travels whole
    assert index.files["weights.bin"] == chunk_file(indexed / "weights.bin", file="weights.bin")
    verify_artifact(indexed, manifest)
    raw = json.loads((indexed / INDEX_FILE).read_bytes())
    raw["files"]["weights.bin"]["chunks"][0][2] = "0" * 64
    (indexed / INDEX_FILE).write_text(json.dumps(raw))
    with pytest.raises(IntegrityError, match=INDEX_FILE):
        verify_artifact(indexed, manifest)


def _with_chunks(indexed: Path, chunks: list[list[object]]) -> bytes:
    raw = json.loads((indexed / INDEX_FILE).read_bytes())
    raw["files"]["weights.bin"]["chunks"] = chunks
    return json.dumps(raw).encode()


def test_an_index_with_overlapping_chunks_is_refused_naming_the_file(indexed: Path) -> None:
    good = json.loads((indexed / INDEX_FILE).read_bytes())["files"]["weights.bin"]["chunks"]
    overlapping = [good[0], [good[1][0] - 10, good[1][1] + 10, good[1][2]], *good[2:]]
    with pytest.raises(ManifestError, match=r"chunk index of weights.bin: chunks overlap at offset \d+"):
        parse_index(_with_chunks(indexed, overlapping), read_manifest(indexed))


def test_an_index_with_a_gap_or_a_wrong_size_is_refused_naming_the_file(indexed: Path) -> None:
    good = json.loads((indexed / INDEX_FILE).read_bytes())["files"]["weights.bin"]["chunks"]
    manifest = read_manifest(indexed)
    with pytest.raises(ManifestError, match=r"chunk index of weights.bin: a gap from offset \d+ to \d+"):
        parse_index(_with_chunks(indexed, [good[0], *good[2:]]), manifest)
    with pytest.raises(
        ManifestError, match=r"chunk index of weights.bin: chunks cover \d+ bytes, the file has 4194304"
    ):
        parse_index(_with_chunks(indexed, good[:-1]), manifest)
    raw = json.loads((indexed / INDEX_FILE).read_bytes())
    raw["files"]["weights.bin"]["bytes"] = 5
    with pytest.raises(ManifestError, match="the chunk index of weights.bin disagrees with the manifest"):
        parse_index(json.dumps(raw).encode(), manifest)
    raw = json.loads((indexed / INDEX_FILE).read_bytes())
    raw["files"]["other.bin"] = raw["files"].pop("weights.bin")
    with pytest.raises(ManifestError, match="indexes 'other.bin', which the manifest of digits-cnn@1 does not list"):
        parse_index(json.dumps(raw).encode(), manifest)


def test_a_chunk_longer_than_any_tier_cuts_is_refused_before_anything_is_fetched(indexed: Path) -> None:
    """A chunk is fetched whole into memory: an index listing one past ``LARGEST_CHUNK`` is refused when read."""
    size = LARGEST_CHUNK + 1
    sha = json.loads((indexed / INDEX_FILE).read_bytes())["files"]["weights.bin"]["chunks"][0][2]
    with pytest.raises(ManifestError, match=rf"weights.bin at offset 0 is {size} bytes; chunks are at most"):
        parse_index(_with_chunks(indexed, [[0, size, sha]]), read_manifest(indexed))
    assert max(t.max_chunk for t in TIERS) == LARGEST_CHUNK


def test_a_malformed_chunk_entry_is_refused() -> None:
    manifest = read_manifest(BUILTIN_ROOT / "digits-cnn" / "1")
    body = ChunkIndex({}).to_json()
    assert parse_index(body, manifest).files == {}
    sha, size = manifest.artifacts[0].sha256, manifest.artifacts[0].bytes
    bad = {"algorithm": "gear-sum-v1", "files": {"model.onnx": {"sha256": sha, "bytes": size, "chunks": [[0, size]]}}}
    with pytest.raises(ManifestError, match=r"a chunk of model.onnx must be \[offset, length, sha256\]"):
        parse_index(json.dumps(bad).encode(), manifest)
    with pytest.raises(ManifestError, match="not a chunk index this SDK reads"):
        parse_index(b'{"algorithm": "fixed-4k", "files": {}}', manifest)


def test_a_signed_manifest_is_not_rewritten(indexed: Path) -> None:
    raw = json.loads((indexed / "manifest.json").read_bytes())
    raw["signature"] = {"algorithm": "ed25519", "key_id": "0" * 16, "value": "AA=="}
    (indexed / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="is signed; a chunk index changes its manifest"):
        add_chunk_index(indexed)


def test_local_chunks_come_from_the_folders_own_index_and_are_checked_when_read(indexed: Path) -> None:
    found = local_chunks([indexed / "weights.bin", indexed / "model.onnx"])
    entry = chunk_file(indexed / "weights.bin")
    assert all(found[c.sha256] == (indexed / "weights.bin", c.offset, c.length) for c in entry.chunks)
    assert len(found) >= len(entry.chunks) + 1  # model.onnx, not in the index, was cut here
    first = entry.chunks[0]
    assert read_local_chunk(found[first.sha256], first.sha256) is not None
    with open(indexed / "weights.bin", "r+b") as handle:
        handle.write(b"changed")
    assert read_local_chunk(found[first.sha256], first.sha256) is None  # a changed local file is never taken


def test_the_tier_follows_the_file_size_and_grows_with_it() -> None:
    assert tier_for(0) is TIERS[0] and tier_for((512 << 20) - 1) is TIERS[0]
    assert tier_for(512 << 20) is TIERS[1] and tier_for(2_460_000_000) is TIERS[1]
    assert tier_for(8 << 30) is TIERS[2] and tier_for(1 << 40) is TIERS[2]
    assert [t.min_file for t in TIERS] == sorted(t.min_file for t in TIERS)
    assert all(a.max_chunk < b.max_chunk and a.mask_bits < b.mask_bits for a, b in itertools.pairwise(TIERS))
    assert (TIERS[0].min_chunk, TIERS[0].max_chunk) == (MIN_CHUNK, MAX_CHUNK)


@pytest.fixture(scope="module")
def big_data() -> bytes:
    return np.random.default_rng(1).integers(0, 256, 24 << 20, dtype=np.uint8).tobytes()


def test_a_larger_tier_cuts_fewer_larger_chunks_and_keeps_edits_local(big_data: bytes) -> None:
    """The 2.46 GB tier on 24 MiB of random bytes: chunks within its bounds, ~384 KiB on average (8x fewer requests
    than the smallest tier), and an insertion still changes only the chunks around it."""
    tier = TIERS[1]
    pieces = cut(memoryview(big_data), tier)
    assert sum(n for _, n in pieces) == len(big_data)
    assert all(tier.min_chunk <= n <= tier.max_chunk for _, n in pieces[:-1])
    average = len(big_data) / len(pieces)
    assert 250 << 10 < average < 600 << 10, average
    small = cut(memoryview(big_data), TIERS[0])
    assert len(small) > 5 * len(pieces)

    def hashes(blob: bytes) -> list[str]:
        return [hashlib.sha256(blob[o : o + n]).hexdigest() for o, n in cut(memoryview(blob), tier)]

    edited = big_data[: 12 << 20] + b"a new layer" * 1000 + big_data[12 << 20 :]
    before = set(hashes(big_data))
    assert 1 <= len([h for h in hashes(edited) if h not in before]) <= 2


def test_chunk_file_and_local_chunks_cut_a_file_with_its_own_sizes_tier(
    tmp_path: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the second tier starting at 2 MiB, a 4 MiB file is cut by it (and an index built before, at the smaller
    tier, is still read as written: readers take offsets, they do not cut)."""
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    small = chunk_file(path)
    import sdk.artifacts.chunks as chunks

    lowered = (TIERS[0], Tier(2 << 20, 18, 128 << 10, 2 << 20), TIERS[2])
    monkeypatch.setattr(chunks, "TIERS", lowered)
    large = chunk_file(path)
    assert large.sha256 == small.sha256 and len(large.chunks) < len(small.chunks) / 4
    assert all(128 << 10 <= c.length <= 2 << 20 for c in large.chunks[:-1])
    assert set(local_chunks([path])) == {c.sha256 for c in large.chunks}


def test_an_artifact_is_cut_with_the_tier_of_all_its_indexed_files_together(
    tmp_path: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large model is sharded (the large tier's 2.46 GB model: ten ~245 MB shards), so the tier comes from the
    artifact's indexed bytes, not each file's: two 4 MiB files under a second tier from 6 MiB are both cut by it; and
    `local_chunks` cuts a file its folder's index does not describe with its manifest's tier."""
    import sdk.artifacts.chunks as chunks

    monkeypatch.setattr(chunks, "TIERS", (TIERS[0], Tier(6 << 20, 18, 128 << 10, 2 << 20), TIERS[2]))
    folder = tmp_path / "digits-cnn"
    shutil.copytree(BUILTIN_ROOT / "digits-cnn" / "1", folder)
    extras = []
    for i, name in enumerate(("shard0.bin", "shard1.bin")):
        (folder / name).write_bytes(data[i:] + data[:i])
        sha256, size = describe_file(folder / name)
        extras.append(ExtraFile(file=name, sha256=sha256, bytes=size, purpose="test"))
    write_manifest(folder, dataclasses.replace(read_manifest(folder), files=tuple(extras)))
    assert chunks.indexed_bytes(read_manifest(folder)) == 2 * len(data)
    index = read_index(folder, add_chunk_index(folder))
    assert index is not None and set(index.files) == {"shard0.bin", "shard1.bin"}
    for entry in index.files.values():
        assert all(128 << 10 <= c.length <= 2 << 20 for c in entry.chunks[:-1])
        assert len(entry.chunks) < len(chunk_file(folder / entry.file, tier=TIERS[0]).chunks) / 4
    # The same folder without its index: local_chunks cuts the shards with the manifest's tier, so a new version
    # finds the same chunks.
    (folder / INDEX_FILE).unlink()
    found = local_chunks([folder / "shard0.bin"])
    assert set(found) == {c.sha256 for c in index.files["shard0.bin"].chunks}
