"""The decision log: hash-chained, rotated, signed, and every generated corruption of it detected.

The corruption suite builds real logs (a few hundred records over several rotated files, with signed checkpoints),
then applies each kind of corruption at many positions and asserts ``verify_log`` names a bad record every time,
without and with the key; a log replaced as a whole by one chained anew is caught with the key only, and without it
verify says that it cannot be.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk.artifacts.signing import create_keys
from sdk.client.audit import (
    AuditConfig,
    DecisionLog,
    default_audit_dir,
    endpoint_origin,
    open_log,
    read_records,
    verify_log,
)
from sdk.client.audit import format as fmt
from tests.conftest import REPO

Snapshot = dict[str, bytes]
ROUTES = ("local", "cloud")


def fill(log: DecisionLog, count: int, *, start: int = 0, flush_every: int = 37) -> None:
    """``count`` varied decision records, flushed in uneven batches (so heads and checkpoints fall anywhere)."""
    for i in range(start, start + count):
        cloud = i % 3 == 0
        log.record(
            model_ref=f"model-{i % 4}@latest",
            version=str(1 + i % 2),
            artifact_sha256=None if cloud else f"{i:064x}",
            privacy="public" if cloud else "private",
            privacy_source=("call", "client_default", "environment", "local_floor")[i % 4],
            route=ROUTES[cloud],
            reason="faster" if cloud else "private",
            fallback_chain=[f"{ROUTES[cloud]}:ok"],
            sent_bytes=256 + i if cloud else 0,
            endpoint="https://fn.example:443" if cloud else None,
            mode="auto",
        )
        if (i + 1) % flush_every == 0:
            log.flush()
    log.close()


def snapshot(folder: Path) -> Snapshot:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != fmt.LOCK}


def restore(files: Snapshot, folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    private, public, _ = create_keys(tmp_path_factory.mktemp("keys"), "audit")
    return private, public


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, Path]) -> dict[str, Snapshot]:
    """Two signed logs of 320 decisions: one whole from its genesis over 6 files, one whose oldest files rotation
    deleted."""
    built = {}
    for name, max_files in (("whole", 50), ("rotated", 4)):
        folder = tmp_path_factory.mktemp(name)
        log = DecisionLog(folder, max_bytes=24_000, max_files=max_files, key=keys[0], checkpoint_every=40)
        fill(log, 320)
        built[name] = snapshot(folder)
    return built


def lines_of(files: Snapshot) -> list[tuple[str, int]]:
    """(file, line index) of every record, oldest first across files."""
    order = sorted((n for n in files if fmt.NUMBERED.match(n)), key=lambda n: -int(n.split(".")[1]))
    order.append(fmt.ACTIVE)
    return [(name, i) for name in order for i in range(files[name].count(b"\n"))]


def get_lines(files: Snapshot, name: str) -> list[bytes]:
    return files[name].split(b"\n")[:-1]


def put_lines(files: Snapshot, name: str, lines: list[bytes]) -> Snapshot:
    return {**files, name: b"".join(line + b"\n" for line in lines)}


def spread(count: int, picks: int) -> list[int]:
    """``picks`` positions over ``range(count)``: the first, the last, and evenly between."""
    return sorted({round(k * (count - 1) / (picks - 1)) for k in range(picks)})


# --- the kinds of corruption ------------------------------------------------------------------------------------------

EDITS: list[tuple[str, Callable[[Any], Any]]] = [
    ("route", lambda v: "cloud" if v != "cloud" else "local"),
    ("sent_bytes", lambda v: (v or 0) + 1),
    ("left_device", lambda v: not v),
    ("privacy", lambda v: "public" if v != "public" else "private"),
    ("model", lambda v: f"{v}-x"),
    ("time", lambda v: "2020-01-01T00:00:00.000000Z"),
    ("seq", lambda v: v + 1),
    ("prev", lambda v: "f" * 64 if v != "f" * 64 else "e" * 64),
    ("endpoint", lambda v: "https://elsewhere.example:443"),
]


def edit(files: Snapshot, at: tuple[str, int], variant: int) -> Snapshot:
    name, index = at
    lines = get_lines(files, name)
    record = json.loads(lines[index])
    present = [(f, change) for f, change in EDITS if f in record]
    field, change = present[variant % len(present)]
    record[field] = change(record[field])
    lines[index] = fmt.encode(record)  # written as the writer would: canonical, so only the chain can tell
    return put_lines(files, name, lines)


def delete(files: Snapshot, at: tuple[str, int], _: int) -> Snapshot:
    name, index = at
    lines = get_lines(files, name)
    del lines[index]
    return put_lines(files, name, lines)


def insert(files: Snapshot, at: tuple[str, int], variant: int) -> Snapshot:
    """A forged decision before record ``at`` (after it for the last one): chained to the record before it, with a
    correct-looking hash of its own; ``variant`` picks a genesis-like forgery for the first position."""
    name, index = at
    lines = get_lines(files, name)
    after = variant == -1
    before = json.loads(lines[index]) if after else (json.loads(lines[index - 1]) if index else None)
    prev_line = lines[index] if after else (lines[index - 1] if index else None)
    forged = json.loads(lines[index])
    forged.update(
        kind="decision", route="local", sent_bytes=0, left_device=False, model="forged", privacy="private",
        fallback_chain=["local:ok"], endpoint=None, privacy_source="call", reason="private", mode="auto",
        version="1", artifact_sha256=None,
        seq=before["seq"] + 1 if before else 0, prev=fmt.digest(prev_line) if prev_line else fmt.GENESIS,
    )  # fmt: skip
    forged.pop("sig", None)
    lines.insert(index + 1 if after else index, fmt.encode(forged))
    return put_lines(files, name, lines)


def reorder(files: Snapshot, pair: tuple[tuple[str, int], tuple[str, int]], _: int) -> Snapshot:
    (a_name, a), (b_name, b) = pair
    out = dict(files)
    a_lines, b_lines = get_lines(out, a_name), get_lines(out, b_name)
    if a_name == b_name:
        a_lines[a], a_lines[b] = a_lines[b], a_lines[a]
        return put_lines(out, a_name, a_lines)
    a_lines[a], b_lines[b] = b_lines[b], a_lines[a]
    return put_lines(put_lines(out, a_name, a_lines), b_name, b_lines)


def truncate(files: Snapshot, at: tuple[str, int], _: int) -> Snapshot:
    name, offset = at
    return {**files, name: files[name][:offset]}


def delete_file(files: Snapshot, name: str, renumber: int) -> Snapshot:
    """Delete one file; with ``renumber``, rename the older ones down to close the gap, as a careful forger would."""
    out = {k: v for k, v in files.items() if k != name}
    if renumber and fmt.NUMBERED.match(name):
        gone = int(name.split(".")[1])
        older = sorted(int(k.split(".")[1]) for k in out if fmt.NUMBERED.match(k) and int(k.split(".")[1]) > gone)
        for number in older:
            out[f"audit.{number - 1}.jsonl"] = out.pop(f"audit.{number}.jsonl")
    return out


def cases(files: Snapshot) -> Iterator[tuple[str, Snapshot]]:
    """Every corruption kind at many positions: (label, corrupted files)."""
    records = lines_of(files)
    n = len(records)
    for variant, i in enumerate(spread(n, 70)):
        yield f"edit {records[i]} v{variant}", edit(files, records[i], variant)
    for i in spread(n, 60):
        yield f"delete {records[i]}", delete(files, records[i], 0)
    for i in spread(n, 60):
        yield f"insert before {records[i]}", insert(files, records[i], 0)
    yield "insert after the last record", insert(files, records[-1], -1)
    for i in spread(n - 1, 40):
        yield f"swap {records[i]} and the next", reorder(files, (records[i], records[i + 1]), 0)
    for i in spread(n - 9, 20):
        yield f"swap {records[i]} and 9 later", reorder(files, (records[i], records[i + 9]), 0)
    for name in files:
        if name.endswith(".jsonl"):
            data = files[name]
            cuts = {0, len(data) // 2, len(data) - 1, data.rfind(b"\n", 0, len(data) - 1) + 1}
            cuts |= {len(data) * k // 9 for k in range(1, 9)}
            for offset in sorted(c for c in cuts if c < len(data)):
                yield f"truncate {name} at {offset}", truncate(files, (name, offset), 0)
    for name in files:
        if name.endswith(".jsonl"):
            for renumber in (0, 1):
                yield f"delete file {name} renumber={renumber}", delete_file(files, name, renumber)
    yield "delete the head marker", {k: v for k, v in files.items() if k != fmt.HEAD}


def forgeries(folder: Path, files: Snapshot, attacker_key: Path) -> Iterator[tuple[str, Snapshot]]:
    """Logs that verify as chains: fresh ones, and the real one edited and chained anew from a record on."""
    for count, key in ((0, None), (5, None), (120, None), (320, None), (40, attacker_key), (320, attacker_key)):
        target = restore({}, folder / f"forged-{count}-{key is not None}")
        fill(DecisionLog(target, max_bytes=24_000, max_files=50, key=key, checkpoint_every=40), count)
        yield f"fresh chain of {count} records, key={key is not None}", snapshot(target)
    records = lines_of(files)
    for i in spread(len(records), 12):
        yield f"edit {records[i]} and chain anew from there", rechain(files, records, i)


def rechain(files: Snapshot, records: list[tuple[str, int]], start: int) -> Snapshot:
    """Edit the record at ``start`` and recompute every later ``prev`` and the (unsigned) head marker."""
    out = dict(files)
    by_file = {name: get_lines(out, name) for name in {r[0] for r in records}}
    prev: str | None = None
    for k, (name, index) in enumerate(records):
        if k < start:
            continue
        record = json.loads(by_file[name][index])
        if k == start and "model" in record:
            record["model"] = "edited"
        elif k == start:
            record["time"] = "2020-01-01T00:00:00.000000Z"
        if prev is not None:
            record["prev"] = prev
            if record["kind"] == "checkpoint":  # the forger cannot re-sign, but keeps the fields consistent
                record["chain_hash"] = prev
        by_file[name][index] = fmt.encode(record)
        prev = fmt.digest(by_file[name][index])
    for name, lines in by_file.items():
        out = put_lines(out, name, lines)
    last = json.loads(by_file[records[-1][0]][records[-1][1]])
    out[fmt.HEAD] = fmt.encode({"v": 1, "seq": last["seq"], "hash": prev}) + b"\n"
    return out


def test_every_generated_corruption_is_detected(
    logs: dict[str, Snapshot], keys: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, public = keys
    attacker, _, _ = create_keys(tmp_path / "attacker", "attacker")
    counted = {"corruptions": 0, "forgeries": 0}
    missed: list[str] = []
    for name, files in logs.items():
        folder = restore(files, tmp_path / f"{name}-base")
        assert verify_log(folder).ok and verify_log(folder, key=public).ok, name
        for label, corrupted in cases(files):
            assert corrupted != files, label
            folder = restore(corrupted, tmp_path / "case")
            counted["corruptions"] += 1
            for key in (None, public):
                result = verify_log(folder, key=key)
                if result.ok:
                    missed.append(f"{name}: {label} (key={key is not None})")
                else:
                    assert result.problem is not None and result.problem.message and result.problem.file
        for label, forged in forgeries(tmp_path, files, attacker):
            folder = restore(forged, tmp_path / "case")
            counted["forgeries"] += 1
            without = verify_log(folder)
            if forged:
                assert without.ok, f"{label}: {without.problem}"
                assert any("cannot be detected without" in note for note in without.notes)
            if verify_log(folder, key=public).ok:
                missed.append(f"{name}: {label} (key=True)")
    total = counted["corruptions"] + counted["forgeries"]
    with capsys.disabled():
        print(
            f"\n[audit corruption suite] {total} cases: {counted['corruptions']} corruptions (each verified without "
            f"and with the key), {counted['forgeries']} whole-log forgeries (with the key); missed: {len(missed)}"
        )
    assert not missed, missed[:20]
    assert total >= 600


def test_the_first_bad_record_is_named(logs: dict[str, Snapshot], tmp_path: Path) -> None:
    files = logs["whole"]
    records = lines_of(files)
    name, index = records[100]
    broken = verify_log(restore(edit(files, (name, index), 0), tmp_path / "log"))
    assert broken.problem is not None
    # The edited record still chains to its predecessor; the record after it is the first whose prev is wrong.
    after = records[101]
    assert (broken.problem.file, broken.problem.line) == (after[0], after[1] + 1)
    assert broken.problem.seq == json.loads(get_lines(files, after[0])[after[1]])["seq"]
    assert "prev hash" in broken.problem.message
    assert broken.records == 101  # every record before it verified


def test_rotation_keeps_the_chain_and_says_what_it_deleted(logs: dict[str, Snapshot], tmp_path: Path) -> None:
    whole = verify_log(restore(logs["whole"], tmp_path / "whole"))
    assert whole.ok and whole.first_seq == 0 and whole.decisions == 320 and len(whole.files) >= 5
    assert not any("rotated away" in note for note in whole.notes)
    rotated = verify_log(restore(logs["rotated"], tmp_path / "rotated"))
    assert rotated.ok and rotated.files == ["audit.3.jsonl", "audit.2.jsonl", "audit.1.jsonl", "audit.jsonl"]
    assert rotated.first_seq and any(f"starts at seq {rotated.first_seq}" in note for note in rotated.notes)
    assert rotated.last_seq == whole.last_seq


def test_signed_checkpoints_verify_only_with_the_signing_key(
    logs: dict[str, Snapshot], keys: tuple[Path, Path], tmp_path: Path
) -> None:
    folder = restore(logs["whole"], tmp_path / "log")
    records = read_records(folder)
    checkpoints = [r for r in records if r["kind"] == "checkpoint"]
    assert len(checkpoints) >= 320 // 40  # every 40 decisions, and at close
    assert records[-1]["kind"] == "checkpoint"
    result = verify_log(folder, key=keys[1])
    assert result.ok and any(f"{len(checkpoints)} checkpoint(s) verify" in note for note in result.notes)
    _, other, _ = create_keys(tmp_path / "other", "other")
    wrong = verify_log(folder, key=other)
    assert not wrong.ok and "signed by key" in wrong.problem.message  # type: ignore[union-attr]
    unsigned = tmp_path / "unsigned"
    fill(DecisionLog(unsigned), 10)
    result = verify_log(unsigned, key=keys[1])
    assert not result.ok and "not signed" in result.problem.message  # type: ignore[union-attr]


# --- crashes: a cut tail is a note, not tampering ---------------------------------------------------------------------

CRASH = """
import os, sys
from pathlib import Path
from sdk.client.audit import DecisionLog, chain, writer
log = DecisionLog(Path(sys.argv[1]), flush_interval_s=3600)
def record(i):
    log.record(model_ref="m", version="1", artifact_sha256=None, privacy="public", privacy_source="call",
               route="local", reason="faster", sent_bytes=0)
for i in range(30):
    record(i)
log.flush()
how = sys.argv[2]
if how == "mid-write":
    def half(path, data):
        with open(path, "ab") as handle:
            handle.write(data[: len(data) // 2 + 7])
        os._exit(9)
    chain.append = half
elif how == "before-head":
    real = writer.write_head
    calls = []
    def head(folder, value, signer):
        calls.append(value)
        if len(calls) == 2:
            os._exit(9)
        real(folder, value, signer)
    writer.write_head = head
for i in range(20):
    record(i)
log.flush()
"""


def crash(folder: Path, how: str) -> None:
    done = subprocess.run([sys.executable, "-c", CRASH, str(folder), how], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 9, done.stderr


def test_a_write_cut_by_a_crash_is_a_truncated_tail_not_tampering(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    crash(folder, "mid-write")
    result = verify_log(folder)
    assert result.ok, result.problem
    cut = [n for n in result.notes if n.startswith("truncated tail:")]
    assert cut and "the records before it verify" in cut[0]
    assert result.decisions >= 30
    # The next writer drops the cut record, says so in the log, and the chain goes on.
    log = DecisionLog(folder)
    fill(log, 5)
    after = verify_log(folder)
    assert after.ok and after.decisions == result.decisions + 5
    assert any("dropped" in note for note in after.notes) and not any("truncated" in n for n in after.notes)


def test_records_of_a_write_that_did_not_finish_verify(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    crash(folder, "before-head")  # the records are written, the head marker was not moved past them
    result = verify_log(folder)
    assert result.ok and result.decisions == 50
    assert any("did not finish" in note for note in result.notes)


def test_records_are_written_at_exit_without_close(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from sdk.client.audit import DecisionLog\n"
        "log = DecisionLog(Path(sys.argv[1]), flush_interval_s=3600)\n"
        "for i in range(123):\n"
        "    log.record(model_ref='m', version=None, artifact_sha256=None, privacy='public',"
        " privacy_source='environment', route='cloud', reason='mode', sent_bytes=10, endpoint='http://h:1')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, check=True)
    result = verify_log(tmp_path)
    assert result.ok and result.decisions == 123


# --- what a record holds, and what it never holds ---------------------------------------------------------------------


def test_records_never_contain_a_payload_value_or_credentials(tmp_path: Path) -> None:
    from sdk import Client

    x = np.full((1, 1, 8, 8), 0.123456789, np.float32)
    x[0, 0, 3, 5] = 7.654321
    client = Client(persist_latency=False)
    result = client.predict("digits-cnn", {"image": x})
    client.close()
    log = DecisionLog(tmp_path)
    manifest = result.manifest
    assert manifest is not None
    log.record_decision(
        result.decision,
        model_ref="digits-cnn",
        version=manifest.version,
        artifact_sha256=manifest.artifacts[0].sha256,
        privacy_source="client_default",
        sent_bytes=0,
        endpoint=None,
    )
    log.record_decision(
        result.decision,
        model_ref="digits-cnn",
        version=None,
        artifact_sha256=None,
        privacy_source="call",
        sent_bytes=int(x.nbytes),
        endpoint="https://user:s3cr3t-pw@fn.example:8443/v2/models/digits-cnn/infer?X-Amz-Signature=abcdef0123",
    )
    log.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for value in (x, result.outputs[next(iter(result.outputs))]):
        assert value.tobytes() not in data
        for number in np.unique(value):
            for text in (repr(float(number)), f"{float(number):.6f}", str(number)):
                assert text.encode() not in data, text
    for secret in (b"s3cr3t", b"user", b"X-Amz", b"abcdef0123", b"/v2/models", b"infer"):
        assert secret not in data
    first, second = [r for r in read_records(tmp_path) if r["kind"] == "decision"]
    assert first["route"] == "local" and first["left_device"] is False and first["endpoint"] is None
    assert first["privacy"] == "public" and first["privacy_source"] == "client_default"
    assert first["fallback_chain"] == ["local:ok"] and first["version"] == manifest.version
    assert second["endpoint"] == "https://fn.example:8443" and second["sent_bytes"] == x.nbytes
    assert second["left_device"] is True and second["time"].endswith("Z")


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://fn.example/v2/models?token=1", "https://fn.example:443"),
        ("http://user:pw@127.0.0.1:8080/a#b", "http://127.0.0.1:8080"),
        ("https://[::1]:9000/x", "https://[::1]:9000"),
        ("HTTPS://Fn.Example", "https://fn.example:443"),
        (None, None),
        ("not a url", "unknown"),
        ("http://h:99999999/", "unknown"),
    ],
)
def test_the_endpoint_is_only_scheme_host_and_port(url: str | None, origin: str | None) -> None:
    assert endpoint_origin(url) == origin


def test_an_unknown_privacy_source_is_refused(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path)
    with pytest.raises(ValueError, match="privacy_source"):
        log.record(model_ref="m", version=None, artifact_sha256=None, privacy="public", privacy_source="vibes",
                   route="local", reason="faster")  # fmt: skip


# --- many writers, settings, failures ---------------------------------------------------------------------------------


def test_eight_threads_and_two_writers_give_one_valid_chain(tmp_path: Path) -> None:
    logs = [DecisionLog(tmp_path, flush_records=100, flush_interval_s=0.01) for _ in range(2)]

    def work(n: int) -> None:
        log = logs[n % 2]  # two instances on one folder: as two processes would be, they share the file lock
        for i in range(1000):
            log.record(model_ref=f"t{n}", version=str(i), artifact_sha256=None, privacy="public",
                       privacy_source="call", route="local", reason="faster")  # fmt: skip

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for log in logs:
        log.close()
    result = verify_log(tmp_path)
    assert result.ok, result.problem
    assert result.decisions == 8000
    seen = {(r["model"], r["version"]) for r in read_records(tmp_path) if r["kind"] == "decision"}
    assert len(seen) == 8000


def test_writers_in_separate_processes_share_one_chain(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from sdk.client.audit import DecisionLog\n"
        "log = DecisionLog(Path(sys.argv[1]), max_bytes=64_000, max_files=50, flush_records=25,"
        " flush_interval_s=0.005)\n"
        "for i in range(600):\n"
        "    log.record(model_ref=sys.argv[2], version=str(i), artifact_sha256=None, privacy='public',"
        " privacy_source='call', route='local', reason='faster')\n"
    )
    workers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), f"p{k}"], cwd=REPO) for k in range(3)]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0, 0]
    result = verify_log(tmp_path)
    assert result.ok, result.problem
    assert result.decisions == 1800 and len(result.files) > 1


def test_on_by_default_under_the_state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AIAAS_AUDIT", "AIAAS_AUDIT_DIR", "AIAAS_AUDIT_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config = AuditConfig.from_env()
    assert config.enabled and config.folder == tmp_path / "state" / "aiaas" / "audit" == default_audit_dir()
    log = open_log()
    assert log.enabled and log is open_log()  # one instance per folder and process
    monkeypatch.setenv("AIAAS_AUDIT", "off")
    off = open_log()
    assert not off.enabled
    off.record(model_ref="m", version=None, artifact_sha256=None, privacy="public", privacy_source="call",
               route="local", reason="faster")  # fmt: skip
    off.close()
    monkeypatch.setenv("AIAAS_AUDIT", "1")
    monkeypatch.setenv("AIAAS_AUDIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("AIAAS_AUDIT_MAX_FILES", "3")
    config = AuditConfig.from_env()
    assert config.folder == tmp_path / "elsewhere" and config.max_files == 3


def test_module_record_decision_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sdk.client.audit import record_decision
    from sdk.client.decision import Attempt, Decision, Mode, Privacy, Reason, Route

    monkeypatch.setenv("AIAAS_AUDIT_DIR", str(tmp_path))
    attempts = [Attempt(Route.LOCAL, False, "runtime_fault"), Attempt(Route.CLOUD, True)]
    decision = Decision(route=Route.CLOUD, reason=Reason.FALLBACK, explanation="x", privacy=Privacy.PUBLIC,
                        mode=Mode.AUTO, attempts=attempts)  # fmt: skip
    record_decision(decision, model_ref="m", version=None, artifact_sha256=None, privacy_source="cloud_floor",
                    sent_bytes=64, endpoint="https://h.example")  # fmt: skip
    open_log().close()
    (record,) = [r for r in read_records(tmp_path) if r["kind"] == "decision"]
    assert record["fallback_chain"] == ["local:runtime_fault", "cloud:ok"] and record["reason"] == "fallback"
    assert record["route"] == "cloud" and record["privacy_source"] == "cloud_floor" and record["mode"] == "auto"


def test_a_write_that_fails_never_fails_the_call_and_is_counted(tmp_path: Path, caplog: Any) -> None:
    # The level is set here: a library imported earlier in the session may raise the root logger's level.
    caplog.set_level(logging.WARNING, logger="sdk.client.audit")
    blocked = tmp_path / "log"
    blocked.write_text("a file where the folder should be")
    log = DecisionLog(blocked)
    for _ in range(3):
        log.record(model_ref="m", version=None, artifact_sha256=None, privacy="public", privacy_source="call",
                   route="local", reason="faster")  # fmt: skip
    log.flush()
    assert "not written" in caplog.text
    blocked.unlink()
    fill(log, 2)
    records = read_records(blocked)
    assert [r["records"] for r in records if r["kind"] == "lost"] == [3]
    result = verify_log(blocked)
    assert result.ok and result.decisions == 2 and any("could not be written" in n for n in result.notes)


def test_a_log_changed_while_nothing_wrote_it_stays_broken_after_more_writes(tmp_path: Path) -> None:
    fill(DecisionLog(tmp_path), 20)
    lines = (tmp_path / fmt.ACTIVE).read_bytes().split(b"\n")[:-1]
    (tmp_path / fmt.ACTIVE).write_bytes(b"".join(line + b"\n" for line in lines[:-3]))  # drop the last 3
    fill(DecisionLog(tmp_path), 5)  # a new writer does not launder the removal
    result = verify_log(tmp_path)
    assert not result.ok and "changed while nothing was writing" in result.problem.message  # type: ignore[union-attr]


def test_importing_the_log_loads_no_cryptography() -> None:
    code = (
        "import sys, tempfile, pathlib; import sdk.client.audit as a\n"
        "log = a.DecisionLog(pathlib.Path(tempfile.mkdtemp()))\n"
        "log.record(model_ref='m', version=None, artifact_sha256=None, privacy='public', privacy_source='call',"
        " route='local', reason='faster'); log.close(); assert a.verify_log(log.directory).ok\n"
        "print('cryptography' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_forked_child_writes_its_own_records(tmp_path: Path) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    code = (
        "import os, sys, pathlib; from sdk.client.audit import DecisionLog\n"
        "log = DecisionLog(pathlib.Path(sys.argv[1]), flush_interval_s=3600)\n"
        "def rec(m): log.record(model_ref=m, version=None, artifact_sha256=None, privacy='public',"
        " privacy_source='call', route='local', reason='faster')\n"
        "rec('parent-before')\n"
        "pid = os.fork()\n"
        "if pid == 0:\n    rec('child'); log.close(); os._exit(0)\n"
        "os.waitpid(pid, 0); rec('parent-after'); log.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, check=True)
    result = verify_log(tmp_path)
    assert result.ok, result.problem
    models = sorted(r["model"] for r in read_records(tmp_path) if r["kind"] == "decision")
    assert models == ["child", "parent-after", "parent-before"]
