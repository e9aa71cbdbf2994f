"""`sdk audit show` and `sdk audit verify`, run as a user would (typer's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sdk.artifacts.signing import create_keys
from sdk.cli import app
from sdk.client.audit import DecisionLog

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200", **(env or {})})


def write(folder: Path, count: int, key: Path | None = None, max_bytes: int = 4096) -> Path:
    log = DecisionLog(folder, key=key, max_bytes=max_bytes, max_files=10, checkpoint_every=10)
    for i in range(count):
        cloud = i % 2 == 1
        log.record(
            model_ref="digits-cnn",
            version=None if cloud else "1",
            artifact_sha256=None if cloud else "ab" * 32,
            privacy="public" if cloud else "private",
            privacy_source="call" if cloud else "local_floor",
            route="cloud" if cloud else "local",
            reason="faster" if cloud else "private",
            fallback_chain=["local:runtime_fault", "cloud:ok"] if cloud else ["local:ok"],
            sent_bytes=256 if cloud else 0,
            endpoint="https://fn.example/v2?token=x" if cloud else None,
            mode="auto",
        )
    log.close()
    return folder


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public, _ = create_keys(tmp_path / "keys", "audit")
    return private, public


def test_show_prints_the_newest_records_one_line_each(tmp_path: Path) -> None:
    write(tmp_path, 30)
    result = invoke("audit", "show", "--last", "2", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip() and not line.startswith("log:")]
    assert len(lines) == 2
    assert "digits-cnn" in lines[0] and "private (local_floor)" in lines[0] and "stayed on device" in lines[0]
    assert "cloud [faster] via local:runtime_fault > cloud:ok" in lines[1]
    assert "256 B to https://fn.example:443" in lines[1] and "token" not in result.stdout


def test_show_json_reads_the_folder_from_the_environment(tmp_path: Path) -> None:
    write(tmp_path, 5)
    result = invoke("audit", "show", "--json", "--last", "3", env={"AIAAS_AUDIT_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["seq"] for r in records] == [3, 4, 5] and records[-1]["kind"] == "decision"


def test_show_without_a_log_says_so(tmp_path: Path) -> None:
    result = invoke("audit", "show", "--dir", str(tmp_path / "none"))
    assert result.exit_code == 0 and "No decision log" in result.stdout


def test_verify_passes_a_good_log_and_says_what_a_key_would_add(tmp_path: Path) -> None:
    write(tmp_path, 40)
    result = invoke("audit", "verify", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "verified: " in result.stdout and "40 decisions" in result.stdout
    assert "cannot be detected without" in result.stdout


def test_verify_names_the_first_bad_record_and_exits_1(tmp_path: Path) -> None:
    write(tmp_path, 40, max_bytes=1 << 20)  # one file
    active = tmp_path / "audit.jsonl"
    lines = active.read_bytes().split(b"\n")
    record = json.loads(lines[2])  # seq 2: a call whose data went to the cloud, rewritten to say it stayed home
    record.update(route="local", left_device=False, sent_bytes=0, endpoint=None)
    lines[2] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    active.write_bytes(b"\n".join(lines))
    result = invoke("audit", "verify", "--dir", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert "broken: audit.jsonl line 4 (seq" in result.stdout and "prev hash" in result.stdout
    data = json.loads(invoke("audit", "verify", "--json", "--dir", str(tmp_path)).stdout)
    assert data["ok"] is False and data["problem"]["file"] == "audit.jsonl" and data["problem"]["line"] == 4
    assert isinstance(data["problem"]["seq"], int)


def test_verify_with_the_key_catches_a_log_replaced_as_a_whole(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    real = write(tmp_path / "real", 25, key=private)
    assert invoke("audit", "verify", "--key", str(public), "--dir", str(real)).exit_code == 0
    forged = write(tmp_path / "forged", 25)  # chained anew, by someone without the private key
    without = invoke("audit", "verify", "--dir", str(forged))
    assert without.exit_code == 0 and "cannot be detected without" in without.stdout
    caught = invoke("audit", "verify", "--key", str(public), "--dir", str(forged))
    assert caught.exit_code == 1 and "not signed" in caught.stdout


def test_verify_reports_a_cut_tail_without_failing(tmp_path: Path) -> None:
    write(tmp_path, 10)
    head = json.loads((tmp_path / "audit.head.json").read_bytes())
    with (tmp_path / "audit.head.json").open("wb") as handle:  # as a write under way when the process died
        handle.write(json.dumps({**head, "pending_seq": head["seq"] + 1, "pending_hash": "0" * 64}).encode())
    cut = b'{"fallback_chain":["local:ok"],"kind":"decis'
    with (tmp_path / "audit.jsonl").open("ab") as handle:
        handle.write(cut)
    result = invoke("audit", "verify", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"truncated tail: {len(cut)} bytes, the records before it verify" in result.stdout
