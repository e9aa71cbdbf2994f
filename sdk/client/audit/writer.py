"""`DecisionLog`: records buffered off the hot path, appended hash-chained by a background thread.

``record()`` only puts a tuple of the call's plain values on a deque (thread-safe without a lock); everything that
costs (canonical JSON, sha256, the file, the lock, signatures) happens in the flush: on a timer, when
``flush_records`` are waiting, on ``close()`` and at interpreter exit. A crash loses at most the records still in
memory, and a write it cuts in half is reported by ``verify`` as a cut tail (and noted in the log by the next
writer), never as tampering. Writers in several processes share one log: each flush holds an exclusive lock on
``audit.lock`` and continues the chain from what is on disk.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from sdk.client.audit.chain import Link, Planner, iso, last_line, link_of, locked
from sdk.client.audit.config import AuditConfig
from sdk.client.audit.format import (
    ACTIVE,
    FORMAT,
    GENESIS,
    LOCK,
    PRIVACY_SOURCES,
    Signer,
    endpoint_origin,
    numbered_files,
    read_head,
    write_head,
)
from sdk.settings import env_snapshot

logger = logging.getLogger("sdk.audit")
_YIELD_EVERY = 16  # records encoded between two releases of the GIL (~0.2 ms of work)


class _Valued(Protocol):
    @property
    def value(self) -> Any: ...


class AttemptLike(Protocol):
    @property
    def route(self) -> Any: ...
    @property
    def ok(self) -> bool: ...
    @property
    def error(self) -> str | None: ...


class DecisionLike(Protocol):
    """What the log reads from a ``Decision`` (typed by shape, so the log does not depend on the router)."""

    @property
    def route(self) -> Any: ...
    @property
    def reason(self) -> Any: ...
    @property
    def privacy(self) -> Any: ...
    @property
    def mode(self) -> Any: ...
    @property
    def attempts(self) -> Sequence[Any]: ...


def _value(thing: object) -> Any:
    """An enum member's value, anything else as it is."""
    return getattr(thing, "value", thing)


def _step(link: object) -> str:
    """One fallback-chain entry: a string as given, an attempt as ``route:ok`` or ``route:error_code``."""
    if isinstance(link, str):
        return link
    return f"{_value(link.route)}:{'ok' if link.ok else link.error}"  # type: ignore[attr-defined]


class DecisionLog:
    """An append-only, hash-chained JSON-lines log of routing decisions (see ``sdk.client.audit``).

    One instance per folder and process: get it with ``open_log()``. ``enabled=False`` makes every method a no-op.
    """

    def __init__(
        self,
        directory: Path,
        *,
        enabled: bool = True,
        max_bytes: int = 4 * 1024 * 1024,
        max_files: int = 5,
        key: Path | None = None,
        flush_interval_s: float = 1.0,
        flush_records: int = 256,
        checkpoint_every: int = 1000,
    ) -> None:
        self.directory = Path(directory)
        self.enabled = enabled
        self.max_bytes, self.max_files = max_bytes, max_files
        self.flush_interval_s, self.flush_records = flush_interval_s, flush_records
        self.checkpoint_every = checkpoint_every
        # Loaded now: a key that cannot be used fails the client's setup, not silently every write.
        self._signer = Signer(key) if enabled and key is not None else None
        self._pending: deque[tuple[Any, ...]] = deque()
        self._reset_threads()
        self._tail: tuple[tuple[int, int, int], Link] | None = None  # audit.jsonl (inode, size, mtime) after our write
        self._since_checkpoint = 0
        self._lost = 0
        self._lost_reason = ""
        self._at_exit = False
        _LIVE.add(self)

    def _reset_threads(self) -> None:
        self._lock = threading.Lock()  # one flush at a time in this process
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = False

    @classmethod
    def from_config(cls, config: AuditConfig) -> DecisionLog:
        return cls(
            config.folder,
            enabled=config.enabled,
            max_bytes=config.max_bytes,
            max_files=config.max_files,
            key=config.key,
            flush_interval_s=config.flush_interval_s,
            flush_records=config.flush_records,
            checkpoint_every=config.checkpoint_every,
        )

    # --- the hot path ------------------------------------------------------------------------------------------------

    def record(
        self,
        *,
        model_ref: str,
        version: str | None,
        artifact_sha256: str | None,
        privacy: str | _Valued,
        privacy_source: str | _Valued,
        route: str | _Valued | None,
        reason: str | _Valued,
        fallback_chain: Sequence[str | AttemptLike] = (),
        sent_bytes: int = 0,
        endpoint: str | None = None,
        mode: str | _Valued | None = None,
        call: str = "predict",
    ) -> None:
        """Buffer one call's record: plain values only, never a payload. Costs a tuple and a deque append.

        ``sent_bytes``: payload bytes that left the device (0: none did); ``endpoint``: where they went or would
        have gone (only ``scheme://host:port`` is written). ``privacy_source`` names the source that set the level:
        call, client_default, environment, local_floor, cloud_floor or unknown_floor. ``call``: what was asked of
        the model, ``predict`` or ``explain`` (an explanation's perturbed inputs go where its record says)."""
        if not self.enabled:
            return
        # A string, or a str enum's member (whose hash and equality are its string's), is looked up as it is.
        if privacy_source not in PRIVACY_SOURCES and _value(privacy_source) not in PRIVACY_SOURCES:
            raise ValueError(f"privacy_source={privacy_source!r}; expected one of {', '.join(sorted(PRIVACY_SOURCES))}")
        self._pending.append(
            (time.time(), model_ref, version, artifact_sha256, privacy, privacy_source, mode, route, reason,
             tuple(fallback_chain), sent_bytes, endpoint, call)
        )  # fmt: skip
        if self._thread is None:
            self._start()
        elif len(self._pending) >= self.flush_records:
            self._wake.set()

    def record_decision(
        self,
        decision: DecisionLike,
        *,
        model_ref: str,
        version: str | None,
        artifact_sha256: str | None,
        privacy_source: str | _Valued,
        sent_bytes: int,
        endpoint: str | None,
        call: str = "predict",
    ) -> None:
        """``record()`` with the route, reason, privacy, mode and fallback chain read from a ``Decision``."""
        self.record(
            model_ref=model_ref,
            version=version,
            artifact_sha256=artifact_sha256,
            privacy=decision.privacy,
            privacy_source=privacy_source,
            route=decision.route,
            reason=decision.reason,
            fallback_chain=decision.attempts,
            sent_bytes=sent_bytes,
            endpoint=endpoint,
            mode=decision.mode,
            call=call,
        )

    # --- the background ----------------------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="aiaas-audit", daemon=True)
            self._thread.start()
            if not self._at_exit:
                atexit.register(self.close)
                self._at_exit = True

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self.flush()

    def flush(self, *, checkpoint: bool = False) -> None:
        """Write every buffered record now (and, with ``checkpoint`` and a key, a signed checkpoint)."""
        if not self.enabled:
            return
        with self._lock:
            items = []
            while self._pending:
                items.append(self._pending.popleft())
            wants_checkpoint = checkpoint and self._signer is not None and self._since_checkpoint > 0
            if not items and not wants_checkpoint and not self._lost:
                return
            try:
                self._write(items, wants_checkpoint)
            except OSError as exc:  # the call must not fail because its record could not be written
                self._tail = None
                if not self._lost_reason:  # once, until writing works again
                    logger.warning("decision log %s: records not written: %s", self.directory, exc)
                self._lost += len(items)
                self._lost_reason = type(exc).__name__

    def close(self) -> None:
        """Stop the background thread and write what is buffered, ending with a signed checkpoint (with a key).
        Recording again starts a new thread."""
        if not self.enabled:
            return
        thread = self._thread
        if thread is not None:
            self._stop = True
            self._wake.set()
            if thread is not threading.current_thread():
                thread.join(timeout=10)
            self._thread = None
        self.flush(checkpoint=True)

    # --- writing -----------------------------------------------------------------------------------------------------

    def _write(self, items: list[tuple[Any, ...]], checkpoint: bool) -> None:
        folder = self.directory
        decisions = []
        for n, item in enumerate(items, 1):
            decisions.append(self._body(item))
            if n % _YIELD_EVERY == 0:
                time.sleep(0)  # hand the GIL to the app's threads: a long flush must not stall a call
        folder.mkdir(parents=True, exist_ok=True)
        with locked(folder / LOCK):
            base, header, bodies = self._resume()
            if self._lost:
                bodies.append({"kind": "lost", "records": self._lost, "error": self._lost_reason})
            bodies += decisions
            writer = Planner(folder, base, max_bytes=self.max_bytes, max_files=self.max_files, signer=self._signer)
            if header:
                writer.header(header)
            for n, body in enumerate(bodies, 1):
                if n % _YIELD_EVERY == 0:
                    time.sleep(0)
                writer.add(body)
                if body["kind"] == "decision" and self._signer is not None:
                    self._since_checkpoint += 1
                    if self._since_checkpoint >= self.checkpoint_every:
                        writer.add({"kind": "checkpoint"})
                        self._since_checkpoint = 0
            if checkpoint:
                writer.add({"kind": "checkpoint"})
                self._since_checkpoint = 0
            end = writer.link
            pending = {"pending_seq": end.seq, "pending_hash": end.hash}
            write_head(folder, {"v": 1, "seq": base.seq, "hash": base.hash, **pending}, self._signer)
            writer.execute()
            write_head(folder, {"v": 1, "seq": end.seq, "hash": end.hash}, self._signer)
            self._lost, self._lost_reason = 0, ""
            stat = (folder / ACTIVE).stat()
            self._tail = ((stat.st_ino, stat.st_size, stat.st_mtime_ns), end)

    def _resume(self) -> tuple[Link, dict[str, Any] | None, list[dict[str, Any]]]:
        """Where the chain continues: its last record on disk, the header a new file needs first (genesis or
        rotation), and the records that note what the writer found (a crash's cut record, a changed log)."""
        folder = self.directory
        active = folder / ACTIVE
        try:
            stat = active.stat()
        except FileNotFoundError:
            stat = None
        ident = (stat.st_ino, stat.st_size, stat.st_mtime_ns) if stat is not None else None
        if self._tail is not None and ident == self._tail[0]:
            return self._tail[1], None, []
        notes: list[dict[str, Any]] = []
        end: Link | None = None
        line: bytes | None = None
        if stat is not None and stat.st_size:
            line, cut = last_line(active)
            if cut:  # a write a crash interrupted: the cut record never joined the chain
                os.truncate(active, stat.st_size - cut)
                notes.append({"kind": "recovery", "dropped_bytes": cut})
            end = link_of(line) if line is not None else None
        header: dict[str, Any] | None = None
        if line is None:  # audit.jsonl has no record: a new log, or a rotation a crash interrupted
            older = numbered_files(folder)
            if not older:
                return Link(-1, GENESIS), {"kind": "genesis", "format": FORMAT}, notes
            line, _ = last_line(older[0][1])
            end = link_of(line) if line is not None else None
            header = {"kind": "rotation"}
        head = read_head(folder) or {}
        seq, hash_ = head.get("seq"), head.get("hash")
        last, last_hash = head.get("pending_seq", seq), head.get("pending_hash", hash_)
        consistent = (
            end is not None
            and isinstance(seq, int)
            and isinstance(last, int)
            and seq <= end.seq <= last
            and (end.seq != seq or end.hash == hash_)
            and (end.seq != last or end.hash == last_hash)
        )
        if end is None:  # the last line does not parse: continue from the marker, and say so
            end = Link(seq, str(hash_)) if isinstance(seq, int) and isinstance(hash_, str) else Link(-1, GENESIS)
        if not consistent:
            notes.append(
                {"kind": "discontinuity", "head_seq": seq, "head_hash": hash_, "found_seq": end.seq,
                 "found_hash": end.hash}
            )  # fmt: skip
        return end, header, notes

    def _body(self, item: tuple[Any, ...]) -> dict[str, Any]:
        at, model, version, sha, privacy, source, mode, route, reason, chain, sent, endpoint, call = item
        return {
            "kind": "decision",
            "call": str(call),
            "time": iso(at),
            "model": str(model),
            "version": None if version is None else str(version),
            "artifact_sha256": None if sha is None else str(sha),
            "privacy": _value(privacy),
            "privacy_source": _value(source),
            "mode": _value(mode),
            "route": _value(route),
            "reason": _value(reason),
            "fallback_chain": [_step(link) for link in chain],
            "left_device": int(sent) > 0,
            "sent_bytes": int(sent),
            "endpoint": endpoint_origin(endpoint),
        }


# --- one log per folder and process ----------------------------------------------------------------------------------

_LIVE: weakref.WeakSet[DecisionLog] = weakref.WeakSet()
_OPEN: dict[Path, DecisionLog] = {}
_OPEN_LOCK = threading.Lock()
_DEFAULT: dict[tuple[str | None, ...], DecisionLog] = {}
_DISABLED = DecisionLog(Path(os.devnull), enabled=False)


def _after_fork() -> None:
    """A forked child writes its own records: the parent's buffered ones and its thread stay with the parent."""
    for log in list(_LIVE):
        log._pending.clear()
        log._reset_threads()
        log._tail = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def open_log(config: AuditConfig | None = None, **settings: Any) -> DecisionLog:
    """The process's log for ``config`` (default: ``AuditConfig.from_env(**settings)``); a no-op log when it is
    off. Every caller naming the same folder shares one instance, so one chain and one background thread."""
    config = config or AuditConfig.from_env(**settings)
    if not config.enabled:
        return _DISABLED
    folder = config.folder.resolve()
    with _OPEN_LOCK:
        log = _OPEN.get(folder)
        if log is None:
            log = _OPEN[folder] = DecisionLog.from_config(AuditConfig(**{**config.__dict__, "directory": folder}))
        return log


def record_decision(
    decision: DecisionLike,
    *,
    model_ref: str,
    version: str | None,
    artifact_sha256: str | None,
    privacy_source: str | _Valued,
    sent_bytes: int,
    endpoint: str | None,
    call: str = "predict",
) -> None:
    """Record a call in the log the environment configures (for code without a client; a client holds
    ``open_log()`` and calls its ``record_decision``, which skips reading the environment)."""
    key = env_snapshot(AuditConfig)  # the environment the default log resolves from: a new one, a new log
    log = _DEFAULT.get(key)
    if log is None:
        log = _DEFAULT[key] = open_log()
    log.record_decision(
        decision,
        model_ref=model_ref,
        version=version,
        artifact_sha256=artifact_sha256,
        privacy_source=privacy_source,
        sent_bytes=sent_bytes,
        endpoint=endpoint,
        call=call,
    )
