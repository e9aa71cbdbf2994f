"""Reading and verifying a decision log: the chain, the files' order, the head marker, and (with a key) signatures.

``verify_log`` stops at the first record that breaks the log and names it (file, line, sequence, what is wrong).
What a crash or rotation leaves is reported as a note, not a break: a last line cut mid-write ("truncated tail"),
records of a flush that did not finish, the oldest files deleted by rotation. A log replaced as a whole by one
chained anew verifies without a key (and the notes say so); with the public key of ``AIAAS_AUDIT_KEY``, the head
marker's and every checkpoint's signature must verify, which no one without the private key can forge.
"""

from __future__ import annotations

import json
import re
from dataclasses import field
from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.client.audit.format import (
    GENESIS,
    HEAD,
    KINDS,
    Checker,
    checkpoint_fields,
    digest,
    encode,
    log_files,
    read_head,
    signed_bytes,
)

_HASH = re.compile(r"^[0-9a-f]{64}$")


@record
class Problem:
    """The first thing wrong with a log, and where."""

    file: str
    line: int
    seq: int | None
    message: str

    def __str__(self) -> str:
        at = f" (seq {self.seq})" if self.seq is not None else ""
        return f"{self.file} line {self.line}{at}: {self.message}"


@record(frozen=False)
class Verification:
    """What ``verify_log`` found: ``ok`` with notes, or the first ``problem``."""

    folder: Path
    records: int = 0
    decisions: int = 0
    files: list[str] = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int | None = None
    key_id: str | None = None
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        problem = self.problem
        return {
            "ok": self.ok,
            "folder": str(self.folder),
            "files": self.files,
            "records": self.records,
            "decisions": self.decisions,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "key_id": self.key_id,
            "problem": None if problem is None else problem.__dict__,
            "notes": self.notes,
        }


class _Broken(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def _parse(line: bytes, where: tuple[str, int]) -> dict[str, Any]:
    def broken(message: str, seq: int | None = None) -> _Broken:
        return _Broken(Problem(where[0], where[1], seq, message))

    try:
        record = json.loads(line)
    except ValueError:
        raise broken("not a JSON record: the line was changed or damaged") from None
    if not isinstance(record, dict):
        raise broken("not a JSON object: the line was changed")
    seq = record.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise broken("no valid sequence number: the record was changed")
    if encode(record) != line:
        raise broken("not in the log's canonical form: the line was edited", seq)
    if record.get("v") != 1 or record.get("kind") not in KINDS:
        raise broken(f"unknown record version or kind {record.get('kind')!r}", seq)
    if not isinstance(record.get("prev"), str) or not _HASH.match(record["prev"]):
        raise broken("no valid previous-record hash: the record was changed", seq)
    return record


class _Walk:
    """One pass over the files, oldest first, checking each record against the one before it."""

    def __init__(self, result: Verification, checker: Checker | None, head: dict[str, Any]) -> None:
        self.result, self.checker, self.head = result, checker, head
        self.last: tuple[int, str] | None = None  # (seq, hash) of the previous record
        self.file_records = 0
        self.oldest_kept: int | None = None  # from the newest rotation record
        self.at_head_seq: str | None = None  # hash of the record at the head marker's seq
        self.checkpoints = 0
        self.signed_by: set[str] = set()

    def record(self, record: dict[str, Any], line: bytes, where: tuple[str, int]) -> None:
        seq, kind, prev = record["seq"], record["kind"], record["prev"]

        def broken(message: str) -> _Broken:
            return _Broken(Problem(where[0], where[1], seq, message))

        first_of_file = where[1] == 1
        if self.last is None:
            if kind == "genesis":
                if seq != 0 or prev != GENESIS:
                    raise broken("a genesis record that is not the first of the log")
            elif kind != "rotation":
                raise broken(f"the log starts with a {kind} record: the records before it were removed")
            self.result.first_seq = seq
        else:
            if seq != self.last[0] + 1:
                raise broken(
                    f"sequence {seq} follows {self.last[0]}: records were removed, inserted or reordered before it"
                )
            if prev != self.last[1]:
                raise broken(
                    "its prev hash is not the hash of the record before it: that record was changed, or records "
                    "were removed, inserted or reordered"
                )
            if kind == "genesis":
                raise broken("a second genesis record: a log was spliced in")
        if first_of_file and kind not in ("genesis", "rotation"):
            raise broken(f"the file starts with a {kind} record, not a rotation record: records were removed")
        if kind == "rotation":
            if not first_of_file:
                raise broken("a rotation record in the middle of a file: records were inserted")
            counted = record.get("previous_file_records")
            if self.last is not None and counted is not None and counted != self.file_records:
                raise broken(
                    f"the previous file holds {self.file_records} records but its rotation counted {counted}: "
                    "records were removed from it or added to it"
                )
            oldest = record.get("oldest_seq")
            self.oldest_kept = oldest if isinstance(oldest, int) else None
        elif kind == "checkpoint":
            self._checkpoint(record, broken)
        elif kind == "discontinuity":
            raise broken(
                f"the writer found this log changed while nothing was writing it (its head marker named seq "
                f"{record.get('head_seq')}, the log ended at seq {record.get('found_seq')}): records before this "
                "one were removed, added or edited"
            )
        elif kind == "recovery":
            self.result.notes.append(
                f"seq {seq}: the writer dropped {record.get('dropped_bytes')} bytes of a record a crash had cut"
            )
        elif kind == "lost":
            self.result.notes.append(
                f"seq {seq}: {record.get('records')} record(s) could not be written ({record.get('error')})"
            )
        elif kind == "decision":
            self.result.decisions += 1
        if first_of_file:
            self.file_records = 0
        self.file_records += 1
        self.last = (seq, digest(line))
        if seq == self.head.get("seq"):
            self.at_head_seq = self.last[1]
        self.result.records += 1
        self.result.last_seq = seq

    def _checkpoint(self, record: dict[str, Any], broken: Any) -> None:
        fields = checkpoint_fields(record["seq"], record["prev"], str(record.get("key_id")))
        if record.get("chain_seq") != fields["chain_seq"] or record.get("chain_hash") != fields["chain_hash"]:
            raise broken("a checkpoint that does not sign the record before it")
        self.checkpoints += 1
        self.signed_by.add(fields["key_id"])
        if self.checker is None:
            return
        if fields["key_id"] != self.checker.key_id:
            raise broken(f"a checkpoint signed by key {fields['key_id']}, not by {self.checker.key_id}")
        if not self.checker.valid(signed_bytes("checkpoint", fields), record.get("sig")):
            raise broken("a checkpoint whose signature does not verify: the chain before it was forged or changed")


def verify_log(folder: Path, *, key: str | Path | None = None) -> Verification:
    """Check every file of the log in ``folder``, oldest first (``key``: the public key that must have signed)."""
    folder = Path(folder)
    checker = Checker(key) if key is not None else None
    result = Verification(folder=folder, key_id=checker.key_id if checker else None)
    try:
        _verify(folder, checker, result)
    except _Broken as exc:
        result.problem = exc.problem
    return result


def _verify(folder: Path, checker: Checker | None, result: Verification) -> None:
    files = log_files(folder)
    head = read_head(folder)
    result.files = [path.name for path in files]
    if not files:
        if head is not None:
            raise _Broken(Problem(HEAD, 1, None, "the log's files are gone but its head marker remains"))
        if checker is not None:  # a signed log was expected: none at all is a log replaced by nothing
            raise _Broken(Problem(HEAD, 1, None, f"no decision log here, so nothing signed by key {checker.key_id}"))
        result.notes.append(f"no decision log in {folder}: nothing to verify")
        return
    walk = _Walk(result, checker, head or {})
    cut = 0
    for index, path in enumerate(files):
        lines = path.read_bytes().split(b"\n")
        tail = lines.pop()
        if tail and index < len(files) - 1:
            raise _Broken(Problem(path.name, len(lines) + 1, None, "a rotated file that ends mid-record: it was cut"))
        cut = len(tail)
        for number, line in enumerate(lines, 1):
            where = (path.name, number)
            walk.record(_parse(line, where), line, where)
    if walk.last is None:
        raise _Broken(Problem(files[-1].name, 1, None, "the log holds no complete record"))
    last_where = (files[-1].name, max(1, walk.file_records))
    first = result.first_seq or 0
    if first and walk.oldest_kept is not None and first > walk.oldest_kept:
        raise _Broken(
            Problem(
                files[0].name, 1, first,
                f"records {walk.oldest_kept} to {first - 1} are missing: the last rotation kept files from seq "
                f"{walk.oldest_kept}, so an older file was deleted outside rotation",
            )
        )  # fmt: skip
    if first:
        result.notes.append(
            f"the oldest files were rotated away: the chain starts at seq {first}, from the hash its rotation "
            "record names as the predecessor"
        )
    _check_head(head, walk, result, last_where, cut)
    if cut:
        result.notes.append(f"truncated tail: {cut} bytes, the records before it verify (a write cut by a crash)")
    _check_signatures(head, walk, checker, result)


def _check_head(
    head: dict[str, Any] | None, walk: _Walk, result: Verification, where: tuple[str, int], cut: int
) -> None:
    assert walk.last is not None
    end_seq, end_hash = walk.last

    def broken(message: str, at: tuple[str, int] = where, seq: int | None = end_seq) -> _Broken:
        return _Broken(Problem(at[0], at[1], seq, message))

    if head is None:
        raise broken("the head marker (audit.head.json) is missing: records may have been removed from the end")
    seq, hash_ = head.get("seq"), head.get("hash")
    last, last_hash = head.get("pending_seq", seq), head.get("pending_hash", hash_)
    if not isinstance(seq, int) or not isinstance(last, int):
        raise broken("the head marker is unreadable", (HEAD, 1), None)
    after_cut = f" (then {cut} bytes of a cut record)" if cut else ""
    if end_seq < seq:
        raise broken(
            f"the log ends at seq {end_seq}{after_cut} but its head marker says seq {seq} was written: records "
            "were removed from the end, or the file was cut"
        )
    if seq >= 0 and walk.at_head_seq != hash_:
        raise broken(f"the record at seq {seq} is not the one the head marker names: it was changed", (HEAD, 1), seq)
    if end_seq > last:
        raise broken(f"records after seq {last} were not written by this log's writer: they were added")
    if end_seq == last and end_hash != last_hash:
        raise broken("the last record is not the one the head marker names: it was changed")
    if end_seq > seq:
        result.notes.append(
            f"records {seq + 1} to {end_seq} were written by a write that did not finish (the process stopped); "
            "they verify"
        )


def _check_signatures(head: dict[str, Any] | None, walk: _Walk, checker: Checker | None, result: Verification) -> None:
    head = head or {}
    signer = head.get("key_id")
    if checker is None:
        signed = sorted(walk.signed_by | ({str(signer)} if signer else set()))
        carries = f"; it carries signatures by key {', '.join(signed)}" if signed else ""
        result.notes.append(
            "not checked against a key: a log replaced as a whole by one chained anew cannot be detected without "
            f"it (sdk audit verify --key PUB){carries}"
        )
        return

    def broken(message: str) -> _Broken:
        return _Broken(Problem(HEAD, 1, head.get("seq"), message))

    if not signer or "sig" not in head:
        raise broken(
            "the head marker is not signed: the log was written without AIAAS_AUDIT_KEY, or replaced by one "
            "chained anew"
        )
    if signer != checker.key_id:
        raise broken(f"the head marker is signed by key {signer}, not by {checker.key_id}: the log was replaced")
    if not checker.valid(signed_bytes("head", head), head.get("sig")):
        raise broken("the head marker's signature does not verify: the log was replaced or its end changed")
    result.notes.append(f"signed by key {checker.key_id}: the head marker and {walk.checkpoints} checkpoint(s) verify")


def read_records(folder: Path, *, last: int | None = None) -> list[dict[str, Any]]:
    """The log's records, oldest first (the newest ``last`` of them), without verifying: lines that do not parse
    are skipped (``verify_log`` names them)."""
    found: list[dict[str, Any]] = []
    for path in reversed(log_files(Path(folder))):
        chunk = []
        for line in path.read_bytes().split(b"\n")[:-1]:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                chunk.append(record)
        found = chunk + found
        if last is not None and len(found) >= last:
            break
    return found[-last:] if last else found
