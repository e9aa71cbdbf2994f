"""Content-defined chunks: how an update moves only the bytes that changed, below the file level.

A large file is cut where a rolling hash of the last ``WINDOW`` bytes has its top ``mask_bits`` bits zero (a moving
sum of a fixed random 64-bit value per byte, computed with numpy: two passes per block), with chunks kept between a
minimum and a maximum size. A cut depends only on nearby bytes, so changing or inserting bytes moves the cuts near
the change and no others: a new head, a fine-tuned layer or a resized tensor changes a few chunks, not the file's
tail. Fixed-size blocks would match for in-place edits but lose every chunk after an insertion (an ONNX file
re-saved with one tensor of a new size shifts everything behind it).

The chunk size grows with the artifact (``TIERS``, by the bytes of all the files the index covers): about 48 KiB on
average below 512 MiB, about 384 KiB up to 8 GiB, about 1.5 MiB beyond. Every chunk is one request to the store: the
large tier's 2.46 GB model (3.2 GB with its int8 file, in 10 external-data shards of ~245 MB and the int8 file) was
~50,000 PUTs to deploy at 48 KiB, and as many GETs to pull. The size of the whole artifact decides, not each file's:
a large model is sharded, and each shard alone is small. The price: an artifact whose indexed size crosses a tier's
bound between two versions is cut differently, so that one update shares no chunks with the previous version (the
next ones do again). The writer records nothing more (a reader never cuts: it takes the index's offsets, so an index
of any tier reads with any version of this module); ``local_chunks`` cuts a local file that no index describes with
the tier of its folder's manifest. A chunk an index lists may be at most ``LARGEST_CHUNK`` bytes
(the largest tier's maximum): a longer one is refused, which bounds what one fetch holds in memory.

Each chunk is addressed by its sha256 and stored once per store (``<store root>.chunks/<sha256>``: a name no model
can have). The index (``chunks.json``: per file its sha256, size and ``[offset, length, sha256]`` chunks) is listed
in the manifest's ``files`` with purpose ``chunk-index``, so the signature covers it, and a reader that predates it
still parses the manifest. An index whose chunks overlap, leave a gap, exceed ``LARGEST_CHUNK`` or disagree with the
file's size is refused, naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import mmap
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.integrity import describe_file
from sdk.artifacts.manifest import (
    MANIFEST_FILE,
    SHA256_PATTERN,
    ExtraFile,
    Manifest,
    read_manifest_bytes,
    write_manifest,
)
from sdk.errors import ConfigError, ManifestError

INDEX_FILE = "chunks.json"
INDEX_PURPOSE = "chunk-index"
ALGORITHM = "gear-sum-v1"
STORE_FOLDER = ".chunks/"  # under the store root; a leading dot: never a model name
WINDOW = 48
MIN_FILE = 1 << 20  # smaller files travel whole: a chunk index would save little
_BLOCK = 8 << 20


@record
class Tier:
    """How files of ``min_file`` bytes or more are cut: a cut where the hash's top ``mask_bits`` bits are zero,
    chunks of ``min_chunk``..``max_chunk`` bytes (about ``min_chunk + 2**mask_bits`` on average)."""

    min_file: int
    mask_bits: int
    min_chunk: int
    max_chunk: int


TIERS = (
    Tier(0, 15, 16 << 10, 256 << 10),  # ~48 KiB: up to ~11k chunks at 512 MiB
    Tier(512 << 20, 18, 128 << 10, 2 << 20),  # ~384 KiB: 2.46 GB in ~6.4k chunks (~52k at 48 KiB)
    Tier(8 << 30, 20, 512 << 10, 8 << 20),  # ~1.5 MiB: 32 GiB in ~22k chunks
)
MASK_BITS, MIN_CHUNK, MAX_CHUNK = TIERS[0].mask_bits, TIERS[0].min_chunk, TIERS[0].max_chunk  # the smallest files'
LARGEST_CHUNK = max(t.max_chunk for t in TIERS)  # what an index may list: a longer chunk is refused


def tier_for(size: int) -> Tier:
    """The tier that cuts the files of an artifact whose indexed files hold ``size`` bytes together."""
    return [t for t in TIERS if size >= t.min_file][-1]


def indexed_bytes(manifest: Manifest, *, min_file: int = MIN_FILE) -> int:
    """The bytes of the manifest's files a chunk index covers (those of ``min_file`` bytes or more): its tier's size."""
    return sum(size for name, _, size in manifest.all_files() if size >= min_file and name != INDEX_FILE)


def _table() -> np.ndarray:
    """256 fixed 64-bit values, derived from sha256 so they never change with a numpy release."""
    words = [hashlib.sha256(b"aiaas-chunks-v1:%d" % i).digest()[:8] for i in range(256)]
    return np.array([int.from_bytes(w, "little") for w in words], dtype=np.uint64)


_GEAR = _table()


@record
class Chunk:
    offset: int
    length: int
    sha256: str


@record
class FileChunks:
    """One file of the index: its whole-file sha256 and size, and its chunks in order."""

    file: str
    sha256: str
    bytes: int
    chunks: tuple[Chunk, ...]


@record
class ChunkIndex:
    files: Mapping[str, FileChunks]
    algorithm: str = ALGORITHM

    def to_json(self) -> bytes:
        body = {
            "algorithm": self.algorithm,
            "files": {
                f.file: {
                    "sha256": f.sha256,
                    "bytes": f.bytes,
                    "chunks": [[c.offset, c.length, c.sha256] for c in f.chunks],
                }
                for f in self.files.values()
            },
        }
        return json.dumps(body, separators=(",", ":")).encode("utf-8")


# --- cutting ----------------------------------------------------------------------------------------------------


def _candidates(view: memoryview, mask_bits: int) -> Iterator[int]:
    """End offsets (exclusive) where the rolling hash allows a cut, in order, block by block."""
    size = len(view)
    shift = np.uint64(64 - mask_bits)
    for start in range(0, size, _BLOCK):
        lead = min(start, WINDOW)  # the previous bytes that the block's first windows reach back into
        data = np.frombuffer(view[start - lead : min(start + _BLOCK, size)], dtype=np.uint8)
        sums = np.cumsum(_GEAR[data], dtype=np.uint64)  # wraps modulo 2**64, as a rolling sum may
        rolled = sums[WINDOW:] - sums[:-WINDOW]  # the sum over bytes (i - WINDOW, i]
        hits = np.flatnonzero((rolled >> shift) == 0) + WINDOW + 1  # end offset within data
        for end in (hits[hits > lead] + (start - lead)).tolist():
            yield int(end)


def cut(view: memoryview, tier: Tier | None = None) -> list[tuple[int, int]]:
    """(offset, length) of the chunks of ``view``: deterministic, each within the tier's bounds but the last. The
    tier is the one for ``view``'s own size unless given (an artifact's files take the artifact's tier)."""
    size = len(view)
    tier = tier or tier_for(size)
    ends = np.fromiter(_candidates(view, tier.mask_bits), dtype=np.int64)
    out: list[tuple[int, int]] = []
    start = 0
    while start < size:
        i = int(np.searchsorted(ends, start + tier.min_chunk, side="left"))
        end = int(ends[i]) if i < len(ends) and ends[i] <= start + tier.max_chunk else start + tier.max_chunk
        end = min(end, size)
        out.append((start, end - start))
        start = end
    return out


def chunk_file(path: Path, *, file: str | None = None, tier: Tier | None = None) -> FileChunks:
    """Cut ``path`` into chunks (``tier``: its artifact's; else the one for the file's own size) and hash each one
    (and the whole file) from one memory map."""
    name = file or path.name
    size = path.stat().st_size
    if size == 0:
        return FileChunks(name, hashlib.sha256(b"").hexdigest(), 0, ())
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            whole = hashlib.sha256()
            chunks = []
            for offset, length in cut(view, tier):
                piece = view[offset : offset + length]
                whole.update(piece)
                chunks.append(Chunk(offset, length, hashlib.sha256(piece).hexdigest()))
                piece.release()
            return FileChunks(name, whole.hexdigest(), size, tuple(chunks))
        finally:
            view.release()


# --- the index in an artifact folder -----------------------------------------------------------------------------


def index_entry(manifest: Manifest) -> ExtraFile | None:
    """The manifest's chunk index file, or None (an artifact without one travels file by file)."""
    entries = [f for f in manifest.files if f.purpose == INDEX_PURPOSE]
    if len(entries) > 1:
        raise ManifestError(f"{manifest.ref} lists {len(entries)} chunk indexes ({INDEX_PURPOSE}); at most one")
    return entries[0] if entries else None


def add_chunk_index(folder: str | Path, *, min_file: int = MIN_FILE) -> Manifest:
    """Write ``chunks.json`` for the folder's files of ``min_file`` bytes or more and list it in the manifest.

    Run it before signing (``sdk keys sign``): it rewrites the manifest, so a signed one is refused. Idempotent: an
    index already listed is rebuilt from the files as they are.
    """
    root = Path(folder)
    manifest, raw = read_manifest_bytes(root)
    if b'"signature"' in raw and "signature" in json.loads(raw):
        raise ConfigError(
            f"{manifest.ref} is signed; a chunk index changes its manifest",
            hint="add the chunk index first, then sign the folder",
        )
    others = tuple(f for f in manifest.files if f.purpose != INDEX_PURPOSE)
    manifest = dataclasses.replace(manifest, files=others)
    tier = tier_for(indexed_bytes(manifest, min_file=min_file))
    entries = [chunk_file(root / n, file=n, tier=tier) for n, _, size in manifest.all_files() if size >= min_file]
    index = ChunkIndex({e.file: e for e in entries})
    (root / INDEX_FILE).write_bytes(index.to_json())
    sha256, size = describe_file(root / INDEX_FILE)
    entry = ExtraFile(file=INDEX_FILE, sha256=sha256, bytes=size, purpose=INDEX_PURPOSE)
    manifest = dataclasses.replace(manifest, files=(*others, entry))
    write_manifest(root, manifest)
    return manifest


def parse_index(data: bytes, manifest: Manifest, *, origin: str = INDEX_FILE) -> ChunkIndex:
    """The index in ``data``, checked against ``manifest``: each file it lists is one the manifest lists with the same
    sha256 and size, and its chunks cover it exactly, in order (no overlap, no gap, ending at its size)."""
    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{origin} is not valid JSON: {exc}") from exc
    if not isinstance(body, dict) or body.get("algorithm") != ALGORITHM or not isinstance(body.get("files"), dict):
        raise ManifestError(f"{origin}: not a chunk index this SDK reads (algorithm {ALGORITHM}, files)")
    listed = {name: (sha256, size) for name, sha256, size in manifest.all_files()}
    files = {}
    for name, entry in body["files"].items():
        if name not in listed or name == INDEX_FILE:
            raise ManifestError(f"{origin} indexes {name!r}, which the manifest of {manifest.ref} does not list")
        if not isinstance(entry, dict) or not isinstance(entry.get("chunks"), list):
            raise ManifestError(f"{origin}: the entry of {name} must hold sha256, bytes and chunks")
        if (entry.get("sha256"), entry.get("bytes")) != listed[name]:
            raise ManifestError(
                f"{origin}: the chunk index of {name} disagrees with the manifest "
                f"({entry.get('bytes')} bytes recorded, the manifest says {listed[name][1]})"
            )
        files[name] = FileChunks(name, listed[name][0], listed[name][1], _chunks(entry["chunks"], name, origin))
        check_coverage(files[name])
    return ChunkIndex(files)


def _chunks(items: list[Any], name: str, origin: str) -> tuple[Chunk, ...]:
    out = []
    for item in items:
        ok = isinstance(item, list) and len(item) == 3
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in item[:2])
        if not ok or not isinstance(item[2], str) or not SHA256_PATTERN.match(item[2]):
            raise ManifestError(f"{origin}: a chunk of {name} must be [offset, length, sha256], found {item!r}")
        if item[1] > LARGEST_CHUNK:
            raise ManifestError(
                f"{origin}: a chunk of {name} at offset {item[0]} is {item[1]} bytes; chunks are at most "
                f"{LARGEST_CHUNK} bytes (each is fetched whole into memory)"
            )
        out.append(Chunk(item[0], item[1], item[2]))
    return tuple(out)


def check_coverage(entry: FileChunks) -> None:
    """Refuse chunks that overlap, leave a gap, have no bytes or end anywhere but at the file's size."""
    at = 0
    for c in entry.chunks:
        if c.length <= 0:
            raise ManifestError(f"chunk index of {entry.file}: the chunk at offset {c.offset} has no bytes")
        if c.offset < at:
            raise ManifestError(
                f"chunk index of {entry.file}: chunks overlap at offset {c.offset} (the previous one ends at {at})"
            )
        if c.offset > at:
            raise ManifestError(f"chunk index of {entry.file}: a gap from offset {at} to {c.offset}")
        at = c.offset + c.length
    if at != entry.bytes:
        raise ManifestError(f"chunk index of {entry.file}: chunks cover {at} bytes, the file has {entry.bytes}")


def read_index(folder: Path, manifest: Manifest) -> ChunkIndex | None:
    """The folder's own chunk index, checked against its manifest (the index's sha256 is checked by the caller's
    verification of the folder); None for an artifact without one."""
    entry = index_entry(manifest)
    if entry is None:
        return None
    return parse_index((folder / entry.file).read_bytes(), manifest, origin=f"{manifest.ref}: {entry.file}")


# --- local sources of chunks --------------------------------------------------------------------------------------


def local_chunks(files: Iterable[Path]) -> dict[str, tuple[Path, int, int]]:
    """chunk sha256 -> (file, offset, length) for local files that may hold chunks of a new version (the previous
    version, an adapted artifact's base). A file's cuts come from its folder's own index when it lists the file with
    the file's current size, else from cutting it here. Candidates only: each chunk is hashed again when taken."""
    found: dict[str, tuple[Path, int, int]] = {}
    indexes: dict[Path, tuple[ChunkIndex | None, Tier | None]] = {}
    for path in dict.fromkeys(files):
        try:
            size = path.stat().st_size
            if size < MIN_CHUNK:
                continue
            folder = _owner(path)
            if folder not in indexes:
                indexes[folder] = _folder_index(folder)
            index, tier = indexes[folder]
            name = path.relative_to(folder).as_posix()
            entry = index.files.get(name) if index is not None else None
            if entry is None or entry.bytes != size:
                entry = chunk_file(path, tier=tier)
        except OSError:
            continue
        for c in entry.chunks:
            found.setdefault(c.sha256, (path, c.offset, c.length))
    return found


def _owner(path: Path) -> Path:
    """The artifact folder a file belongs to: the nearest parent holding a manifest (else its own folder)."""
    for parent in list(path.parents)[:4]:
        if (parent / MANIFEST_FILE).is_file():
            return parent
    return path.parent


def _folder_index(folder: Path) -> tuple[ChunkIndex | None, Tier | None]:
    """The folder's chunk index and the tier its manifest's files are cut with (None, None: no readable manifest)."""
    try:
        manifest, _ = read_manifest_bytes(folder)
    except (OSError, ManifestError):
        return None, None
    tier = tier_for(indexed_bytes(manifest))
    try:
        return read_index(folder, manifest), tier
    except (OSError, ManifestError):
        return None, tier


def read_local_chunk(source: tuple[Path, int, int], sha256: str, fds: dict[Path, int] | None = None) -> bytes | None:
    """The bytes of a local chunk when they still hash to ``sha256``; None otherwise. ``fds``: files kept open
    across calls (the caller closes them)."""
    path, offset, length = source
    try:
        if fds is None:
            with open(path, "rb") as handle:
                data = os.pread(handle.fileno(), length, offset)
        else:
            if path not in fds:
                fds[path] = os.open(path, os.O_RDONLY)
            data = os.pread(fds[path], length, offset)
    except OSError:
        return None
    return data if len(data) == length and hashlib.sha256(data).hexdigest() == sha256 else None
