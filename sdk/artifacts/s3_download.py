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
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sdk.artifacts.aws_errors import aws_errors
from sdk.artifacts.integrity import sha256_file
from sdk.artifacts.manifest import MANIFEST_FILE, Manifest
from sdk.artifacts.staging import staged
from sdk.errors import IntegrityError, ModelNotFound

PART_SUFFIX = ".part"
_DOWNLOAD_CHUNK = 1 << 20


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
    moved = 0
    with staged(target, manifest_bytes, resumable=True) as staging:
        for name, sha256, size in manifest.all_files():
            if on_file is not None:
                on_file(name, size)
            local = (held or {}).get(sha256)
            if local is not None and take_local(local, staging / name, sha256=sha256, size=size):
                if on_bytes is not None:
                    on_bytes(size)
                continue
            if _download_any(client, bucket, keys[name], staging / name, sha256, size, on_bytes, name):
                moved += size
    return moved


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
