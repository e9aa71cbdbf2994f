"""sha256 checks: no file is used before its bytes match what its manifest records.

``read_verified`` hashes the very bytes it returns, so what is checked is what is loaded (no window in which the file
could change between the check and the load). Messages name a file as the manifest does, relative to the artifact
folder, never by the machine's path: a server answers them to clients.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from sdk.artifacts.manifest import Manifest, safe_relative_file
from sdk.errors import IntegrityError

_CHUNK = 1 << 20


def sha256_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe_file(path: str | Path) -> tuple[str, int]:
    """(sha256, size) of a file, as a manifest records it."""
    return sha256_file(path), Path(path).stat().st_size


def _locate(folder: Path, name: str) -> Path:
    if not safe_relative_file(name):
        raise IntegrityError(f"manifest names {name!r}, which is outside the artifact folder", file=name)
    return folder / name


def _check_size(name: str, actual: int, expected: int) -> None:
    if actual != expected:
        state = "truncated" if actual < expected else "larger than recorded"
        raise IntegrityError(
            f"{name} is {state}: {actual} bytes, manifest records {expected}",
            file=name,
            hint="the file was modified or partly copied; fetch the artifact again",
        )


def _check_sha(name: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise IntegrityError(
            f"{name} failed its sha256 check: file has {actual[:16]}…, manifest records {expected[:16]}…",
            file=name,
            hint="the file was modified after it was compiled; fetch or recompile the artifact",
        )


def read_verified(folder: str | Path, name: str, sha256: str, size: int) -> bytes:
    """The bytes of ``folder/name``, after checking their size and sha256. Raises IntegrityError naming the file."""
    path = _locate(Path(folder), name)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise IntegrityError(f"{name} is missing from the artifact folder", file=name) from exc
    except IsADirectoryError as exc:
        raise IntegrityError(f"{name} is a directory, not a file", file=name) from exc
    _check_size(name, len(data), size)
    _check_sha(name, sha256_bytes(data), sha256)
    return data


def read_verified_padded(folder: str | Path, name: str, sha256: str, size: int, *, slack: int) -> Any:
    """``read_verified`` into a numpy uint8 buffer ``slack`` bytes longer than the file, the file at its start:
    room for the runtime to shift the bytes in place (``sdk.runtime.inplace``) instead of copying them. numpy's
    allocator also makes the read cheaper (it asks for huge pages: MiniLM int8's 58 MB read in ~47 ms, not ~61)."""
    import numpy as np  # the artifact layer needs no numpy otherwise

    path = _locate(Path(folder), name)
    try:
        with open(path, "rb") as handle:
            actual = os.fstat(handle.fileno()).st_size
            if actual != size:
                _check_size(name, actual, size)
            buffer: Any = np.empty(size + slack, dtype=np.uint8)
            view = memoryview(buffer)[:size]
            got = 0
            while got < size and (count := handle.readinto(view[got:])):
                got += count
            if got != size or handle.read(1):  # the file changed size while it was read
                _check_size(name, got if got != size else os.fstat(handle.fileno()).st_size, size)
    except FileNotFoundError as exc:
        raise IntegrityError(f"{name} is missing from the artifact folder", file=name) from exc
    except IsADirectoryError as exc:
        raise IntegrityError(f"{name} is a directory, not a file", file=name) from exc
    _check_sha(name, sha256_bytes(view), sha256)
    return buffer


def verify_file(folder: str | Path, name: str, sha256: str, size: int) -> None:
    """Check one file without keeping its bytes (streamed; for files too large to hold)."""
    path = _locate(Path(folder), name)
    if not path.is_file():
        raise IntegrityError(f"{name} is missing from the artifact folder", file=name)
    _check_size(name, path.stat().st_size, size)
    _check_sha(name, sha256_file(path), sha256)


def verify_artifact(folder: str | Path, manifest: Manifest) -> None:
    """Check every file the manifest lists. Raises IntegrityError on the first that does not match."""
    for name, sha256, size in manifest.all_files():
        verify_file(folder, name, sha256, size)
