"""`sdk audit show` and `sdk audit verify`: read the decision log, and check that nothing in it was changed."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from sdk.cli._base import console
from sdk.cli.audit_page import render, write_page
from sdk.cli.options import JsonOption
from sdk.client.audit import AuditConfig, read_records, verify_log
from sdk.errors import ConfigError
from sdk.extras import ensure

app = typer.Typer(
    help="The decision log: where each call ran and whether its data left the device, hash-chained so that any "
    "change shows.",
    no_args_is_help=True,
)

DirOption = typer.Option(
    None,
    "--dir",
    envvar="AIAAS_AUDIT_DIR",
    help="Folder of the decision log (default: $XDG_STATE_HOME/aiaas/audit, i.e. ~/.local/state/aiaas/audit).",
    show_default=False,
)


def _folder(directory: Path | None) -> Path:
    return AuditConfig.from_env(directory=directory).folder


def _sent(record: dict[str, Any]) -> str:
    if not record.get("left_device"):
        return "stayed on device"
    return f"{record.get('sent_bytes')} B to {record.get('endpoint') or 'unknown'}"


@app.command("show")
def show(
    last: int = typer.Option(20, "--last", "-n", min=1, help="How many of the newest records to show."),
    directory: Path | None = DirOption,
    as_json: bool = JsonOption,
    html: Path | None = typer.Option(
        None,
        "--html",
        help="Write the records as one static HTML page to this file (no script, nothing fetched; opens in any "
        "browser), with whether the log verifies.",
        show_default=False,
        dir_okay=False,
    ),
) -> None:
    """Show the newest records of the decision log: when, which model and version, the privacy level and who set
    it, where the call ran and why, and what left the device. Nothing is verified here (see sdk audit verify),
    except on the --html page, which says whether the log verifies.

    Examples:
      sdk audit show --last 5
      sdk audit show --last 500 --html audit.html
    """
    folder = _folder(directory)
    records = read_records(folder, last=last)
    if html is not None:
        if as_json:
            raise typer.BadParameter("--html and --json each choose the output: pass one", param_hint="--html")
        _write_html(html, records, folder)
        return
    if as_json:
        console.print_json(json.dumps(records))
        return
    if not records:
        console.print(f"No decision log in {escape(str(folder))} (AIAAS_AUDIT=0, or no call was made yet).")
        return
    console.print(f"log: {escape(str(folder))} (times in UTC)")
    for r in records:  # one line each, never cut: a log is read with grep as often as with eyes
        when = str(r.get("time", "")).replace("T", " ")[:19]
        if r.get("kind") != "decision":
            console.print(f"{r.get('seq'):>6}  {when}  ({escape(str(r.get('kind')))})", style="dim")
            continue
        version = f"@{r['version']}" if r.get("version") else ""
        chain = r.get("fallback_chain") or []
        tried = f" via {' > '.join(chain)}" if len(chain) > 1 else ""
        console.print(
            escape(
                f"{r.get('seq'):>6}  {when}  {r.get('model')}{version}  {r.get('privacy')} ({r.get('privacy_source')})"
                f"  {r.get('route') or 'failed'} [{r.get('reason')}]{tried}  {_sent(r)}"
            )
        )


def _write_html(path: Path, records: list[dict[str, Any]], folder: Path) -> None:
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    page = render(records, folder=folder, verification=verify_log(folder), written=written)
    try:
        write_page(path, page)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror or exc}", hint="pass --html a file in a folder you can write"
        ) from exc
    console.print(f"wrote {escape(str(path))}: {len(records)} records of {escape(str(folder))}")


@app.command("verify")
def verify(
    key: str | None = typer.Option(
        None,
        "--key",
        help="Public key (a .pub file or ed25519:BASE64) whose private half signed the log (AIAAS_AUDIT_KEY). "
        "Without it, a log replaced as a whole by one chained anew cannot be detected.",
        show_default=False,
    ),
    directory: Path | None = DirOption,
    as_json: bool = JsonOption,
) -> None:
    """Check the decision log: each record chained to the one before, across rotated files; no record added,
    removed, changed or reordered; the end where the head marker says; with --key, every signature.

    Exits 0 when the log verifies (notes say what a crash or rotation left), 1 naming the first bad record: file,
    line, sequence number and what is wrong.

    Example: sdk audit verify --key ~/.aiaas-keys/audit.pub
    """
    if key is not None:
        ensure("cryptography", purpose="checking the decision log's signatures")
    result = verify_log(_folder(directory), key=key)
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
    else:
        span = f" (seq {result.first_seq} to {result.last_seq})" if result.records else ""
        if result.problem is None:
            console.print(
                f"[bold green]verified[/]: {result.records} records{span} in {len(result.files)} file(s), "
                f"{result.decisions} decisions: {escape(str(result.folder))}"
            )
        else:
            console.print(f"[bold red]broken[/]: {escape(str(result.problem))}")
            console.print(f"{result.records} records before it verify ({escape(str(result.folder))})")
        for note in result.notes:
            console.print(f"note: {escape(note)}")
    if not result.ok:
        raise typer.Exit(code=1)
