"""The decision log as one static HTML page (`sdk audit show --html`), in the style of the server's page.

The page is a file a person opens or passes on, so it holds no script at all and fetches nothing: the server page's
style sheet is copied in, allowed by its hash in a Content-Security-Policy ``<meta>`` (``default-src 'none'``), and
every value from the log (model names, reasons, endpoints: a log may hold text a third party chose) is escaped.
It says whether the log verified (``verify_log``, without a key) above the records, so a shared copy carries that.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from sdk.client.audit import Verification

ROUTES = ("local", "cloud", "failed")  # the share bar's segments, in this order
_ROUTE_FILL = {"local": "#17703a", "cloud": "#0b62c4", "failed": "#b3261e"}


def style_sheet() -> str:
    """The server page's style sheet (``sdk/serving/ui/style.css``), read from the installed package."""
    return (resources.files("sdk") / "serving" / "ui" / "style.css").read_text(encoding="utf-8")


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _route(record: Mapping[str, Any]) -> str:
    return str(record.get("route") or "failed")


def _sent(record: Mapping[str, Any]) -> str:
    if not record.get("left_device"):
        return "stayed on device"
    return f"{record.get('sent_bytes')} B to {record.get('endpoint') or 'unknown'}"


def _row(record: Mapping[str, Any]) -> str:
    when = str(record.get("time", "")).replace("T", " ")[:19]
    kind = record.get("kind")
    if kind != "decision":
        seq = _e(record.get("seq"))
        return f'<tr class="note"><td>{seq}</td><td>{_e(when)}</td><td colspan="6">({_e(kind)})</td></tr>'
    version = f"@{record['version']}" if record.get("version") else ""
    chain = record.get("fallback_chain") or []
    left = ' class="left"' if record.get("left_device") else ""
    cells = (
        record.get("seq"),
        when,
        record.get("call", "predict"),
        f"{record.get('model')}{version}",
        f"{record.get('privacy')} ({record.get('privacy_source')})",
        f"{_route(record)} [{record.get('reason')}]",
        " > ".join(str(step) for step in chain),
        _sent(record),
    )
    return f"<tr{left}>" + "".join(f"<td>{_e(cell)}</td>" for cell in cells) + "</tr>"


def _share_bar(routes: Counter[str]) -> str:
    """Where the calls ran, as one stacked bar (inline SVG: markup, not a script or a fetched image)."""
    total = sum(routes.values())
    if not total:
        return ""
    x, parts = 0.0, []
    for route in ROUTES:
        width = 100.0 * routes[route] / total
        if width:
            parts.append(f'<rect x="{x:.3f}" y="0" width="{width:.3f}" height="14" fill="{_ROUTE_FILL[route]}"/>')
        x += width
    words = ", ".join(f"{routes[r]} {r}" for r in ROUTES if routes[r])
    return (
        f'<svg class="share" viewBox="0 0 100 14" preserveAspectRatio="none" role="img" '
        f'aria-label="where the calls ran: {_e(words)}">{"".join(parts)}</svg>'
        f'<p class="legend">{" ".join(f"{_swatch(r)}{_e(r)} {routes[r]}" for r in ROUTES)}</p>'
    )


def _swatch(route: str) -> str:
    square = f'<rect width="1" height="1" fill="{_ROUTE_FILL[route]}"/>'
    return f'<svg class="swatch" viewBox="0 0 1 1" aria-hidden="true">{square}</svg>'


def _verification(result: Verification) -> str:
    if result.problem is None:
        span = f" (seq {result.first_seq} to {result.last_seq})" if result.records else ""
        head = (
            f'<span class="badge ok">verified</span> {result.records} records{_e(span)} in {len(result.files)} '
            f"file(s), {result.decisions} decisions"
        )
    else:
        head = f'<span class="badge bad">broken</span> {_e(result.problem)}; {result.records} records before it verify'
    notes = "".join(f'<li class="small muted">{_e(note)}</li>' for note in result.notes)
    return f'<p id="verification">{head}</p>' + (f"<ul>{notes}</ul>" if notes else "")


def render(records: Sequence[Mapping[str, Any]], *, folder: Path, verification: Verification, written: str) -> str:
    """The page for ``records`` (oldest first) of the log in ``folder``."""
    css = style_sheet()
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    policy = f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    decisions = [r for r in records if r.get("kind") == "decision"]
    routes = Counter(_route(r) for r in decisions)
    left = [r for r in decisions if r.get("left_device")]
    sent = sum(int(r.get("sent_bytes") or 0) for r in left)
    stats = (
        ("decisions shown", len(decisions)),
        ("stayed on the device", len(decisions) - len(left)),
        ("left the device", len(left)),
        ("bytes sent", sent),
        ("private calls", sum(1 for r in decisions if r.get("privacy") == "private")),
    )
    header = "".join(
        f'<th scope="col">{h}</th>'
        for h in ("seq", "time (UTC)", "call", "model", "privacy (set by)", "route [reason]", "tried", "data")
    )
    rows = "\n".join(_row(r) for r in records)
    table = (
        f'<div class="scroll"><table><thead><tr>{header}</tr></thead><tbody>\n{rows}\n</tbody></table></div>'
        if records
        else '<p class="muted">No records: the log is empty or absent (AIAAS_AUDIT=0, or no call was made yet).</p>'
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>aiaas decision log</title>
<style>{css}</style>
</head>
<body>
<header class="bar"><h1>aiaas decision log</h1>
<p class="server muted small">{_e(folder)}; written {_e(written)} by sdk audit show --html</p></header>
<main class="layout single">
<section class="card" aria-labelledby="integrity-title"><h2 id="integrity-title">Integrity</h2>
{_verification(verification)}
<p class="small muted">Checked without a key when this page was written; <code>sdk audit verify --key KEY.pub</code>
also checks the signatures.</p></section>
<section aria-labelledby="summary-title"><h2 id="summary-title">Where the data went</h2>
<div class="summary">{"".join(f'<div class="stat"><b>{value}</b>{_e(label)}</div>' for label, value in stats)}</div>
{_share_bar(routes)}
</section>
<section aria-labelledby="records-title"><h2 id="records-title">Records ({len(records)})</h2>
{table}
</section>
</main>
</body>
</html>
"""


def write_page(path: Path, page: str) -> None:
    """Write ``page`` to ``path`` whole: a temporary file beside it, then renamed over it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
