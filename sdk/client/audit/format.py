"""The decision log on disk: file names, how a record is hashed and chained, the head marker, signatures.

A log folder holds ``audit.jsonl`` (written now), ``audit.1.jsonl`` ... ``audit.N.jsonl`` (older, the highest
number oldest), ``audit.head.json`` (the head marker) and ``audit.lock``. Each line is one record in the project's
canonical JSON (``sdk.artifacts.signing.canonical``: sorted keys, no spaces), and the line's bytes are what is
hashed: ``prev`` of a record is the sha256 of the line before it (across files), ``GENESIS`` for the first one.

Record kinds: ``genesis`` (seq 0, the start of a log), ``decision`` (one call), ``rotation`` (the first line of
every later file: the previous file's last hash as ``prev``, its record count, and ``oldest_seq``, the first
sequence number rotation keeps), ``checkpoint`` (a signature over the chain head before it), ``recovery`` (the
writer dropped a record a crash cut in half), ``lost`` (records that could not be written), ``discontinuity`` (the
writer found the log's end disagreeing with its head marker: it was changed while nothing was writing).

The head marker names the last record written (``seq``, ``hash``) and, while a write is under way, the last record
that write will end with (``pending_seq``, ``pending_hash``). It is replaced before and after each write, so a
log whose end falls short of the marker lost records, while one that ends within the pending range was cut by a
crash. With a key, the marker and every checkpoint carry an Ed25519 signature (``key_id``, ``sig``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sdk.artifacts.signing import canonical

FORMAT = "aiaas-audit/1"
GENESIS = "0" * 64
ACTIVE = "audit.jsonl"
HEAD = "audit.head.json"
LOCK = "audit.lock"
NUMBERED = re.compile(r"^audit\.([1-9][0-9]*)\.jsonl$")
KINDS = ("genesis", "decision", "rotation", "checkpoint", "recovery", "lost", "discontinuity")
# Who set the call's privacy level (the strictest source that spoke).
PRIVACY_SOURCES = frozenset(("call", "client_default", "environment", "local_floor", "cloud_floor", "unknown_floor"))
_DEFAULT_PORTS = {"http": 80, "https": 443}


def encode(record: Mapping[str, Any]) -> bytes:
    """A record's line (without the newline): its canonical JSON."""
    return canonical(record)


def digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


@functools.lru_cache(maxsize=64)
def endpoint_origin(url: str | None) -> str | None:
    """``scheme://host:port`` of ``url``: never its path, query or credentials. None for no endpoint."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "unknown"
    scheme = parts.scheme.lower()
    if not scheme or not host:
        return "unknown"
    port = port or _DEFAULT_PORTS.get(scheme)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def numbered_files(folder: Path) -> list[tuple[int, Path]]:
    """The rotated files, (number, path), newest (lowest number) first."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    found = [(int(m.group(1)), folder / name) for name in names if (m := NUMBERED.match(name))]
    return sorted(found)


def log_files(folder: Path) -> list[Path]:
    """Every file of the log, oldest first: the rotated ones from the highest number down, then ``audit.jsonl``."""
    files = [path for _, path in reversed(numbered_files(folder))]
    active = folder / ACTIVE
    if active.exists():
        files.append(active)
    return files


def first_seq(path: Path) -> int | None:
    """The sequence number of a file's first record; None when it has none that parses."""
    try:
        with path.open("rb") as handle:
            line = handle.readline()
        value = json.loads(line).get("seq")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def read_head(folder: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((folder / HEAD).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # present but unreadable: a marker that says nothing
    return value if isinstance(value, dict) else {}


def write_head(folder: Path, head: dict[str, Any], signer: Signer | None) -> None:
    """Replace the head marker atomically (signed when there is a key)."""
    if signer is not None:
        head = {**head, "key_id": signer.key_id}
        head["sig"] = signer.sign(signed_bytes("head", head))
    tmp = folder / f".{HEAD}.tmp"
    tmp.write_bytes(encode(head) + b"\n")
    os.replace(tmp, folder / HEAD)


def signed_bytes(purpose: str, fields: Mapping[str, Any]) -> bytes:
    """What a signature covers: the fields (never ``sig``) and a purpose, so that the same key's signature over a
    manifest can never pass for one over the log, nor a head marker's for a checkpoint's."""
    body = {k: v for k, v in fields.items() if k != "sig"}
    return canonical({**body, "purpose": f"aiaas-audit-{purpose}"})


def checkpoint_fields(seq: int, prev: str, key_id: str) -> dict[str, Any]:
    """A checkpoint signs the chain head it follows: the record at ``seq - 1``, whose hash is ``prev``."""
    return {"chain_seq": seq - 1, "chain_hash": prev, "key_id": key_id}


class Signer:
    """Signs with the ``sdk keys`` private key (loads ``cryptography``: only when a log has a key)."""

    def __init__(self, private_key: Path) -> None:
        from sdk.artifacts.signing import _load_key, key_id

        self._key = _load_key(private_key, private=True)
        self.key_id: str = key_id(self._key.public_key())

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self._key.sign(payload)).decode("ascii")


class Checker:
    """Checks signatures with a public key: a ``.pub`` file or ``ed25519:BASE64``."""

    def __init__(self, public_key: str | Path) -> None:
        from sdk.artifacts.signing import _load_key, key_id

        self._key = _load_key(public_key, private=False)
        self.key_id: str = key_id(self._key)

    def valid(self, payload: bytes, signature: object) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._key.verify(base64.b64decode(str(signature), validate=True), payload)
        except (InvalidSignature, ValueError):
            return False
        return True
