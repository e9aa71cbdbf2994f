"""The page at ``/``: static files shipped in the package (``sdk/serving/ui/``), served as they are.

The folder is read once, when the service starts: its regular files with plain names (no link, no subfolder, at
most ``MAX_FILE_BYTES`` each) become the allowlist, held in memory, so a request names a key of that table and
nothing else (``..``, an encoded slash or a file added later find nothing). Every answer carries a strict
Content-Security-Policy (scripts and styles from this server only, never inline; images also from ``data:`` and
``blob:``; no framing), ``X-Content-Type-Options: nosniff``, and an ETag the browser revalidates
(``Cache-Control: no-cache``; a matching ``If-None-Match`` gets 304).

The page is public: it holds no model data. What it shows comes from the data routes it calls (``/v2/models``,
``/infer``, ``/metrics``), each with its own auth.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from pathlib import Path

from sdk._record import record
from sdk.serving.messages import Response

logger = logging.getLogger("sdk.serving")

PACKAGE_UI = Path(__file__).resolve().parent / "ui"
INDEX = "index.html"
MAX_FILE_BYTES = 4 * 1024 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@record
class _File:
    body: bytes
    content_type: str
    etag: str


class UiFiles:
    """The page's files, read once from ``folder`` (default: the package's): only these are ever served."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or PACKAGE_UI
        self._files = _read(self.folder)

    def names(self) -> list[str]:
        return sorted(self._files)

    def answer(self, name: str, headers: Mapping[str, str], request_id: str) -> Response | None:
        """The file ``name`` (200, or 304 when the browser's copy is current); None for a file not in the table."""
        found = self._files.get(name)
        if found is None:
            return None
        common = {**SECURITY_HEADERS, "etag": found.etag, "cache-control": "no-cache", "x-request-id": request_id}
        wanted = headers.get("if-none-match", "")
        if wanted and (wanted.strip() == "*" or found.etag in (tag.strip() for tag in wanted.split(","))):
            return Response(304, common, b"")
        return Response(200, {**common, "content-type": found.content_type}, found.body)


def _read(folder: Path) -> dict[str, _File]:
    files: dict[str, _File] = {}
    if not folder.is_dir():
        logger.info("the page's folder %s is missing: / and /ui/ answer 404", folder)
        return files
    for path in sorted(folder.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if path.is_symlink() or not path.is_file() or not _NAME.fullmatch(path.name) or content_type is None:
            continue
        body = path.read_bytes()
        if len(body) > MAX_FILE_BYTES:
            logger.warning(
                "%s is %d bytes, more than a page file may be (%d): not served", path, len(body), MAX_FILE_BYTES
            )
            continue
        files[path.name] = _File(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return files
