"""Downloading from S3, verified and resumable: one object (``download_verified``) and one artifact folder.

The one download path of the SDK: the server's S3 cache (``fetch_artifact``) and ``sdk models pull`` both come here.
Each file lands in ``<file>.part`` inside a staging folder beside the target; an interrupted download resumes with a
ranged GET, every file is checked against its sha256 and size as it lands, and the folder is renamed into place only
once all of it verifies (``sdk.artifacts.staging``).

Deltas: a file the local side already holds with the same sha256 (``held``: e.g. the base's folder of an adapted
artifact) is hard-linked, or copied, into the staging folder after its bytes are hashed again, and is not downloaded.
A file an adapted artifact reuses from its base may be stored in the base's folder of the same store rather than in
its own (``stored_keys``: how ``sdk deploy`` ships a delta); both places are tried, and the bytes are verified
against the adapted artifact's own manifest wherever they come from.

Chunks (``sdk.artifacts.chunks``): a file the manifest's chunk index lists is not stored whole but as
content-addressed chunks under ``<store root>.chunks/``. It is assembled in ``<file>.part`` in the staging folder:
chunks found in local files (``held``'s files: the previous version, the base) are copied, the others fetched (a few
at a time), each checked against its sha256 as it lands (a bad one is fetched once more, then refused), and the whole
file is checked against the manifest's sha256 before it is renamed. An interrupted assembly keeps every chunk that
landed: the next try hashes the ``.part`` chunk by chunk and fetches only what is missing or torn.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import islice
from pathlib import Path
from typing import Any

from sdk.artifacts.aws_errors import aws_errors
from sdk.artifacts.chunks import (
    STORE_FOLDER,
    Chunk,
    FileChunks,
    index_entry,
    local_chunks,
    parse_index,
    read_local_chunk,
)
from sdk.artifacts.integrity import sha256_file
from sdk.artifacts.manifest import MANIFEST_FILE, Manifest
from sdk.artifacts.staging import staged
from sdk.errors import IntegrityError, ModelNotFound

PART_SUFFIX = ".part"
_DOWNLOAD_CHUNK = 1 << 20
CHUNK_FETCHERS = 8  # chunks fetched at once: each is one small GET, so latency, not bandwidth, bounds a serial fetch


def download_folder(
    client: Any,
    bucket: str,
    prefix: str,
    target: Path,
    manifest_bytes: bytes,
    *,
    on_file: Callable[[str, int], None] | None = None,
    on_bytes: Callable[[int], None] | None = None,
    held: Mapping[str, Path] | None = None,
) -> int:
    """Make ``target`` the verified copy of the artifact folder at ``s3://bucket/prefix`` that ``manifest_bytes``
    describes; returns the bytes of the files that had to move (files already staged by an interrupted try, or
    taken from ``held``, do not).

    ``held`` maps a sha256 to a local file that may hold those bytes (checked before use); ``on_file(name, size)`` is
    called before each file, ``on_bytes(n)`` as bytes arrive or are taken locally (negative when bytes shown are taken
    back).
    """
    manifest = Manifest.from_json(manifest_bytes, origin=f"s3://{bucket}/{prefix}{MANIFEST_FILE}")
    keys = stored_keys(prefix, manifest)
    entry = index_entry(manifest)
    chunks_at = chunk_folder(prefix, manifest) if entry is not None else None
    moved = 0
    with staged(target, manifest_bytes, resumable=True) as staging:
        chunked: Mapping[str, FileChunks] = {}
        local: dict[str, tuple[Path, int, int]] | None = None
        files = manifest.all_files()
        if entry is not None and chunks_at is not None:  # the index first: it says how the other files travel
            files = [(entry.file, entry.sha256, entry.bytes)] + [f for f in files if f[0] != entry.file]
        for name, sha256, size in files:
            if on_file is not None:
                on_file(name, size)
            path = (held or {}).get(sha256)
            if path is not None and take_local(path, staging / name, sha256=sha256, size=size):
                if on_bytes is not None:
                    on_bytes(size)
            elif name in chunked and chunks_at is not None:
                if local is None:
                    local = local_chunks((held or {}).values())
                moved += fetch_chunked(client, bucket, chunks_at, staging / name, chunked[name], local, on_bytes)
            elif _download_any(client, bucket, keys[name], staging / name, sha256, size, on_bytes, name):
                moved += size
            if entry is not None and chunks_at is not None and name == entry.file:
                origin = f"s3://{bucket}/{prefix}{entry.file}"
                chunked = parse_index((staging / name).read_bytes(), manifest, origin=origin).files
    return moved


def chunk_folder(prefix: str, manifest: Manifest) -> str | None:
    """Where the store at ``<root><name>/<version>/`` keeps chunks (``<root>.chunks/``); None for another layout."""
    own = f"{manifest.name}/{manifest.version}/"
    return f"{prefix[: len(prefix) - len(own)]}{STORE_FOLDER}" if prefix.endswith(own) else None


def base_folder(prefix: str, manifest: Manifest) -> str | None:
    """The key prefix of an adapted artifact's base in the same store (``<root><base>/<version>/``), when the
    artifact is stored as ``<root><name>/<version>/``; None for any other artifact."""
    own = f"{manifest.name}/{manifest.version}/"
    if manifest.base is None or not prefix.endswith(own):
        return None
    return f"{prefix[: len(prefix) - len(own)]}{manifest.base.name}/{manifest.base.version}/"


def stored_keys(prefix: str, manifest: Manifest) -> dict[str, tuple[str, ...]]:
    """file -> the keys it may be stored under, in the order to try: a file an adapted artifact reuses from its base
    (same name, same sha256) lives in the base's folder when the deploy shipped a delta, else in its own folder."""
    base = base_folder(prefix, manifest)
    reused = manifest.base.files if manifest.base is not None else {}
    out: dict[str, tuple[str, ...]] = {}
    for name, sha256, _ in manifest.all_files():
        own = f"{prefix}{name}"
        out[name] = (f"{base}{name}", own) if base is not None and reused.get(name) == sha256 else (own,)
    return out


def take_local(source: Path, destination: Path, *, sha256: str, size: int) -> bool:
    """Hard-link (or, across filesystems, copy) ``source`` to ``destination`` when its bytes match; False otherwise.

    The source is hashed first, so a local copy that was changed is never taken (the file is downloaded instead).
    """
    try:
        if not source.is_file() or source.stat().st_size != size or sha256_file(source) != sha256:
            return False
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.unlink(missing_ok=True)
        try:
            os.link(source, destination)
        except OSError:
            shutil.copyfile(source, destination)
    except OSError:
        return False
    return True


def _download_any(
    client: Any,
    bucket: str,
    keys: Sequence[str],
    destination: Path,
    sha256: str,
    size: int,
    on_bytes: Callable[[int], None] | None,
    name: str,
) -> bool:
    """``download_verified`` from the first of ``keys`` that exists; none: the stored artifact is incomplete."""
    for key in keys:
        try:
            return download_verified(
                client, bucket, key, destination, sha256=sha256, size=size, on_bytes=on_bytes, file=name
            )
        except ModelNotFound:
            continue
    where = " nor ".join(f"s3://{bucket}/{key}" for key in keys)
    raise IntegrityError(
        f"{name} is missing from the store: no object at {where}",
        file=name,
        hint="deploy the version again (and its base first, for an adapted artifact); nothing was made visible",
    )


def download_verified(
    client: Any,
    bucket: str,
    key: str,
    destination: Path,
    *,
    sha256: str,
    size: int,
    on_bytes: Callable[[int], None] | None = None,
    file: str | None = None,
) -> bool:
    """Download ``s3://bucket/key`` to ``destination``, checked against ``sha256`` and ``size``; True if bytes moved.

    The bytes land in ``destination + '.part'`` first and only a verified file is renamed into place, so a reader never
    sees a partial or tampered file. An interrupted download resumes where it stopped (a ranged GET); if the resumed
    file does not verify it is downloaded once more from the start, and a fresh download that still does not match
    raises ``IntegrityError`` (the stored object is not what the manifest vouches for) and leaves nothing behind.
    ``file`` is the name the messages use (the manifest's; default: the destination's name).
    """
    if destination.is_file() and destination.stat().st_size == size and sha256_file(destination) == sha256:
        return False
    part = destination.with_name(destination.name + PART_SUFFIX)
    destination.parent.mkdir(parents=True, exist_ok=True)
    resumed = part.is_file() and 0 < part.stat().st_size <= size
    if not resumed:
        part.unlink(missing_ok=True)
    for attempt in ("resume", "fresh") if resumed else ("fresh",):
        if attempt == "fresh" and part.exists():
            if on_bytes is not None and resumed:
                on_bytes(-part.stat().st_size)  # the progress shown for the discarded bytes is taken back
            part.unlink()
        _fetch_into(client, bucket, key, part, size=size, on_bytes=on_bytes)
        actual_size = part.stat().st_size
        if actual_size == size and sha256_file(part) == sha256:
            part.replace(destination)
            return True
    part.unlink(missing_ok=True)
    name = file or destination.name
    problem = "failed its sha256 check"
    if actual_size != size:
        state = "truncated" if actual_size < size else "larger than recorded"
        problem = f"is {state}: {actual_size} bytes, manifest records {size}"
    raise IntegrityError(
        f"{name} {problem} (s3://{bucket}/{key} is not what its manifest vouches for)",
        file=name,
        hint="the stored object was changed after it was deployed; deploy the version again (nothing was cached)",
    )


def _fetch_into(
    client: Any, bucket: str, key: str, part: Path, *, size: int, on_bytes: Callable[[int], None] | None
) -> None:
    """Append the object's bytes from ``len(part)`` on (a ranged GET when resuming)."""
    have = part.stat().st_size if part.exists() else 0
    if have >= size and size > 0:
        return
    arguments: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if have:
        arguments["Range"] = f"bytes={have}-"
        if on_bytes is not None:
            on_bytes(have)
    with aws_errors(f"s3://{bucket}/{key}", service="s3"):
        body = client.get_object(**arguments)["Body"]
        with part.open("ab") as handle:
            while chunk := body.read(_DOWNLOAD_CHUNK):
                handle.write(chunk)
                have += len(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
                if have > size:  # larger than the manifest says: stop here, the size check refuses it
                    break


# --- chunked files ----------------------------------------------------------------------------------------------


def fetch_chunked(
    client: Any,
    bucket: str,
    chunks_at: str,
    destination: Path,
    entry: FileChunks,
    local: Mapping[str, tuple[Path, int, int]],
    on_bytes: Callable[[int], None] | None = None,
) -> int:
    """Assemble ``destination`` from its chunks (verified one by one, then as a whole); returns the bytes fetched.

    Chunks already in ``<destination>.part`` (an interrupted try) or in ``local`` files are not fetched. A fetched
    chunk whose bytes do not match is fetched once more, then refused (``IntegrityError``); so is an assembled file
    whose sha256 is not the manifest's.
    """
    name = entry.file
    if destination.is_file() and destination.stat().st_size == entry.bytes and sha256_file(destination) == entry.sha256:
        return 0
    part = destination.with_name(destination.name + PART_SUFFIX)
    part.parent.mkdir(parents=True, exist_ok=True)
    resumed = part.is_file()
    moved = 0
    with open(part, "r+b" if resumed else "w+b") as handle:
        handle.truncate(entry.bytes)
        fd = handle.fileno()
        wanted: dict[str, list[Chunk]] = {}
        fds: dict[Path, int] = {}
        try:
            for c in entry.chunks:
                if resumed and _landed(fd, c):
                    _advance(on_bytes, c.length)
                    continue
                source = local.get(c.sha256)
                data = read_local_chunk(source, c.sha256, fds) if source is not None else None
                if data is not None:
                    os.pwrite(fd, data, c.offset)
                    _advance(on_bytes, c.length)
                    continue
                wanted.setdefault(c.sha256, []).append(c)
        finally:
            for local_fd in fds.values():
                os.close(local_fd)
        for sha256, data in _fetch_all(client, bucket, chunks_at, wanted, name):
            for c in wanted[sha256]:
                os.pwrite(fd, data, c.offset)
                _advance(on_bytes, c.length)
            moved += len(data)
    if sha256_file(part) != entry.sha256:
        part.unlink(missing_ok=True)
        raise IntegrityError(
            f"{name} failed its sha256 check once assembled: every chunk matched its index, the whole file does not "
            "match the manifest",
            file=name,
            hint="the chunk index does not describe this file; rebuild the artifact's index and deploy it again",
        )
    part.replace(destination)
    return moved


def _landed(fd: int, c: Chunk) -> bool:
    data = os.pread(fd, c.length, c.offset)
    return len(data) == c.length and hashlib.sha256(data).hexdigest() == c.sha256


def _advance(on_bytes: Callable[[int], None] | None, n: int) -> None:
    if on_bytes is not None:
        on_bytes(n)


def _fetch_all(
    client: Any, bucket: str, chunks_at: str, wanted: Mapping[str, list[Chunk]], name: str
) -> Iterator[tuple[str, bytes]]:
    """(sha256, verified bytes) of each wanted chunk, fetched ``CHUNK_FETCHERS`` at a time."""
    if not wanted:
        return
    todo = iter(wanted.values())
    with ThreadPoolExecutor(max_workers=min(CHUNK_FETCHERS, len(wanted))) as pool:

        def submit(count: int) -> set[Future[tuple[str, bytes]]]:
            return {pool.submit(_fetch_chunk, client, bucket, chunks_at, cs[0], name) for cs in islice(todo, count)}

        # a few more than the fetchers, written as each lands: a kill loses only the chunks in flight
        pending = submit(2 * CHUNK_FETCHERS)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                pending |= submit(len(done))
                for job in done:
                    yield job.result()
        finally:
            for job in pending:
                job.cancel()


def _fetch_chunk(client: Any, bucket: str, chunks_at: str, c: Chunk, name: str) -> tuple[str, bytes]:
    """One chunk, checked against its sha256; a mismatch is fetched once more, then refused."""
    key = f"{chunks_at}{c.sha256}"
    for _ in range(2):
        try:
            with aws_errors(f"s3://{bucket}/{key}", service="s3"):
                data = client.get_object(Bucket=bucket, Key=key)["Body"].read(c.length + 1)
        except ModelNotFound as exc:
            raise IntegrityError(
                f"{name} is incomplete in the store: its chunk at offset {c.offset} (s3://{bucket}/{key}) is missing",
                file=name,
                hint="deploy the version again; it uploads the chunks the store lacks",
            ) from exc
        if len(data) == c.length and hashlib.sha256(data).hexdigest() == c.sha256:
            return c.sha256, data
    raise IntegrityError(
        f"{name}: its chunk at offset {c.offset} (s3://{bucket}/{key}) failed its sha256 check twice",
        file=name,
        hint="the stored chunk was changed after it was deployed; deploy the version again to repair it",
    )
