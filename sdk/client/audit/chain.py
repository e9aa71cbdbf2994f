"""One flush of the decision log: its records chained into lines, split into files where rotation falls, written.

Everything here runs in the writer's background thread under the log's file lock; nothing here is on a call's path.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.client.audit.format import (
    ACTIVE,
    Signer,
    checkpoint_fields,
    digest,
    encode,
    first_seq,
    numbered_files,
    signed_bytes,
)


@record
class Link:
    """A record's place in the chain: its sequence number and the sha256 of its line."""

    seq: int
    hash: str


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock shared with every process writing this log (a no-op where fcntl does not exist)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: one writing process per log
        yield
        return
    with path.open("ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def append(path: Path, data: bytes) -> None:
    """Append ``data`` (tests replace this to cut a write in half, as a crash would)."""
    with path.open("ab", buffering=0) as handle:
        view = memoryview(data)
        while view:
            view = view[handle.write(view) or 0 :]


def last_line(path: Path) -> tuple[bytes | None, int]:
    """The file's last complete line, and the number of bytes after it (a line a crash cut: no newline)."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = size = handle.tell()
        buffer = b""
        while position > 0:
            step = min(65536, position)
            position -= step
            handle.seek(position)
            buffer = handle.read(step) + buffer
            end = buffer.rfind(b"\n")
            if end == -1:
                continue
            start = buffer.rfind(b"\n", 0, end)
            if start != -1 or position == 0:
                return buffer[start + 1 : end], len(buffer) - end - 1
    return None, size


def link_of(line: bytes) -> Link | None:
    try:
        seq = json.loads(line).get("seq")
    except (ValueError, AttributeError):
        return None
    return Link(seq, digest(line)) if isinstance(seq, int) else None


class Planner:
    """Chains the records of one flush in memory, splitting them into files where rotation falls, then writes."""

    def __init__(self, folder: Path, base: Link, *, max_bytes: int, max_files: int, signer: Signer | None) -> None:
        self.folder, self.link = folder, base
        self.max_bytes, self.max_files, self.signer = max_bytes, max_files, signer
        self.now = iso(time.time())
        active = folder / ACTIVE
        self.size = active.stat().st_size if active.exists() else 0
        self.active_first = first_seq(active) if self.size else None
        # (number, first seq) of the rotated files as they will be numbered, newest first.
        self.rotated = [(n, first_seq(path)) for n, path in numbered_files(folder)]
        self.segments: list[tuple[bool, list[bytes]]] = [(False, [])]

    def _encode(self, body: dict[str, Any]) -> bytes:
        record = {**body, "v": 1, "seq": self.link.seq + 1, "prev": self.link.hash, "time": body.get("time", self.now)}
        signer = self.signer
        if body["kind"] == "checkpoint" and signer is not None:
            fields = checkpoint_fields(record["seq"], record["prev"], signer.key_id)
            record.update(fields, sig=signer.sign(signed_bytes("checkpoint", fields)))
        return encode(record)

    def _push(self, line: bytes) -> None:
        if self.active_first is None:
            self.active_first = self.link.seq + 1
        self.segments[-1][1].append(line)
        self.size += len(line) + 1
        self.link = Link(self.link.seq + 1, digest(line))

    def header(self, body: dict[str, Any]) -> None:
        """The first record of a file: genesis, or the rotation record of a file a crash left without one."""
        if body["kind"] == "rotation":
            self._push(self._encode(self._rotation(shift=False)))
        else:
            self._push(self._encode(body))

    def _rotation(self, *, shift: bool) -> dict[str, Any]:
        """The rotation record that opens a new file, after the files are (to be) renumbered."""
        previous = self.link.seq - self.active_first + 1 if shift and self.active_first is not None else None
        if shift:
            self.rotated = [(1, self.active_first)] + [(n + 1, s) for n, s in self.rotated]
        if previous is None and self.rotated:  # the previous file is audit.1: count its records
            newest = self.rotated[0][1]
            previous = self.link.seq - newest + 1 if newest is not None else None
        self.rotated = [(n, s) for n, s in self.rotated if n <= self.max_files - 1]
        oldest = self.rotated[-1][1] if self.rotated else self.link.seq + 1
        self.active_first, self.size = None, 0
        return {"kind": "rotation", "previous_file_records": previous, "oldest_seq": oldest}

    def add(self, body: dict[str, Any]) -> None:
        line = self._encode(body)
        held = self.link.seq + 1 - self.active_first if self.active_first is not None else 0
        if held > 1 and self.size + len(line) + 1 > self.max_bytes:
            rotation = self._rotation(shift=True)
            self.segments.append((True, []))
            self._push(self._encode(rotation))
            line = self._encode(body)
        self._push(line)

    def execute(self) -> None:
        folder = self.folder
        for shift, lines in self.segments:
            if shift:
                for number, path in reversed(numbered_files(folder)):
                    os.replace(path, folder / f"audit.{number + 1}.jsonl")
                os.replace(folder / ACTIVE, folder / "audit.1.jsonl")
            if lines:
                append(folder / ACTIVE, b"".join(line + b"\n" for line in lines))
            if shift:  # removed only now, so that a crash never leaves a log whose oldest file is gone unrecorded
                for number, path in numbered_files(folder):
                    if number > self.max_files - 1:
                        path.unlink()
