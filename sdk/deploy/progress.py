"""Byte progress of uploads and downloads, reported to whoever drives them (the CLI draws a bar; tests count)."""

from __future__ import annotations

from typing import Protocol


class TransferProgress(Protocol):
    """``begin`` once with the totals, ``file`` as each file starts, ``advance`` per chunk (may be called from
    boto3's transfer threads), ``end`` once."""

    def begin(self, total_bytes: int, files: int) -> None: ...

    def file(self, name: str, size: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def end(self) -> None: ...


class NoProgress:
    """Shows nothing."""

    def begin(self, total_bytes: int, files: int) -> None:
        pass

    def file(self, name: str, size: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def end(self) -> None:
        pass
