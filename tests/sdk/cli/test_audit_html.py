"""`sdk audit show --html`: the decision log as one static page, run as a user would (typer's CliRunner)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner, Result

from sdk.cli import app
from sdk.cli.audit_page import style_sheet
from sdk.client.audit import DecisionLog

runner = CliRunner()
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def write(folder: Path, count: int, *, model: str = "digits-cnn") -> Path:
    """``count`` calls: even ones ran on the device (private), odd ones in the cloud after a local fault."""
    log = DecisionLog(folder, max_bytes=1 << 20)
    for i in range(count):
        cloud = i % 2 == 1
        log.record(
            model_ref=model,
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
            call="explain" if i == 2 else "predict",
        )
    log.close()
    return folder


class Page(HTMLParser):
    """What a browser would build: the tags and attributes, each table row's cell texts, the style and the CSP."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[list[str]] = []
        self.style = ""
        self.policy = ""
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self.rows[-1].append("")
        elif tag == "meta" and found.get("http-equiv") == "Content-Security-Policy":
            self.policy = found.get("content") or ""
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "style":
            self.style += data
        elif "td" in self._in and self.rows:
            self.rows[-1][-1] += data


def show_html(folder: Path, out: Path, *extra: str) -> Page:
    result = invoke("audit", "show", "--dir", str(folder), "--html", str(out), *extra)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    return Page(out.read_text(encoding="utf-8"))


def test_html_page_lists_each_record_with_where_its_data_went(tmp_path: Path) -> None:
    page = show_html(write(tmp_path / "log", 6), tmp_path / "audit.html", "--last", "4")
    body = [row for row in page.rows if row]
    assert [row[0] for row in body] == ["3", "4", "5", "6"]  # the newest four, oldest first, as the text output
    local, cloud = body[0], body[1]
    assert local[2:] == [
        "explain",
        "digits-cnn@1",
        "private (local_floor)",
        "local [private]",
        "local:ok",
        "stayed on device",
    ]
    assert cloud[3:] == ["digits-cnn", "public (call)", "cloud [faster]", "local:runtime_fault > cloud:ok",
                         "256 B to https://fn.example:443"]  # fmt: skip
    text = (tmp_path / "audit.html").read_text()
    assert "token=x" not in text and "/v2" not in text  # the endpoint's query never reached the log, nor the page
    assert re.search(r"<b>2</b>left the device", text) and re.search(r"<b>512</b>bytes sent", text)
    assert 'aria-label="where the calls ran: 2 local, 2 cloud"' in text


def test_html_page_shows_text_from_the_log_as_text_never_as_markup(tmp_path: Path) -> None:
    page = show_html(write(tmp_path / "log", 2, model=HOSTILE), tmp_path / "audit.html")
    assert not [tag for tag, _ in page.tags if tag in ("script", "img", "iframe", "object", "embed", "link")]
    assert not [name for _, attrs in page.tags for name in attrs if name.startswith("on")]
    models = [row[3] for row in page.rows if len(row) > 3]
    assert models == [f"{HOSTILE}@1", HOSTILE]  # shown exactly as written, as text


def test_html_page_runs_no_script_and_allows_only_its_own_style(tmp_path: Path) -> None:
    page = show_html(write(tmp_path / "log", 2), tmp_path / "audit.html")
    assert page.style == style_sheet()  # the server page's sheet, so the two look alike
    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    directives = dict(part.strip().split(" ", 1) for part in page.policy.split(";"))
    assert directives["default-src"] == "'none'" and directives["style-src"] == f"'sha256-{digest}'"
    assert "script-src" not in directives  # so default-src 'none' forbids every script


def test_html_page_says_the_log_verifies_or_names_the_first_broken_record(tmp_path: Path) -> None:
    folder = write(tmp_path / "log", 6)
    good, bad = tmp_path / "good.html", tmp_path / "bad.html"
    show_html(folder, good)
    assert re.search(r'<span class="badge ok">verified</span> 7 records \(seq 0 to 6\)', good.read_text())
    active = folder / "audit.jsonl"
    lines = active.read_bytes().split(b"\n")
    record = json.loads(lines[2])  # seq 2, a call whose data went to the cloud, rewritten to say it stayed home
    record.update(route="local", left_device=False, sent_bytes=0, endpoint=None)
    lines[2] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    active.write_bytes(b"\n".join(lines))
    show_html(folder, bad)
    assert re.search(r'<span class="badge bad">broken</span> audit.jsonl line 4 \(seq 3\)', bad.read_text())


def test_html_without_a_log_writes_a_page_that_says_so(tmp_path: Path) -> None:
    page = show_html(tmp_path / "none", tmp_path / "audit.html")
    assert page.rows == [] and "No records: the log is empty or absent" in (tmp_path / "audit.html").read_text()


def test_html_with_json_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "show", "--json", "--html", str(tmp_path / "a.html"), "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "--html and --json each choose the output" in result.output
    assert not (tmp_path / "a.html").exists()


def test_html_to_a_folder_that_does_not_exist_is_one_readable_error(tmp_path: Path) -> None:
    write(tmp_path / "log", 2)
    out = tmp_path / "missing" / "audit.html"
    result = runner.invoke(app, ["audit", "show", "--dir", str(tmp_path / "log"), "--html", str(out)])
    assert result.exit_code == 1 and f"cannot write {out}" in result.output
    assert "Traceback" not in result.output
