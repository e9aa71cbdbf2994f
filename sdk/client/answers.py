"""What the cloud route reads from an answer's headers, in one pass and only when it must: the framing the codec
needs (content type, Inference-Header-Content-Length), the server's own time (Server-Timing), and cookies (only from
an answer that sets one). Split from ``cloud.py``, whose calls they serve (issue #20: the client's cost per call)."""

from __future__ import annotations

import re

import httpx

from sdk.protocol.framing import HEADER_LENGTH

_FRAMING_HEADERS = {name.encode(): name for name in ("content-type", HEADER_LENGTH)}
_SERVER_TIMING = re.compile(r"(?:^|,)\s*infer;dur=([0-9]+(?:\.[0-9]+)?)")


def server_ms(header: str) -> float | None:
    """The server's ``infer`` time from a Server-Timing header: ours starts with it (a string test), others may put
    it anywhere (the pattern)."""
    if header.startswith("infer;dur="):
        value = header[10:].partition(",")[0].strip()
        if value.replace(".", "", 1).isdigit() and value.isascii():
            return float(value)
    timing = _SERVER_TIMING.search(header)
    return float(timing.group(1)) if timing else None


class LeanCookies(httpx.Cookies):
    """httpx's cookie jar, which looks at an answer only when it sets a cookie: for every answer httpx builds a
    urllib request and an email message of all its headers to search them for Set-Cookie (10-25 us, more than the
    rest of the client's own work on a call). An answer that does set one is read exactly as before."""

    def extract_cookies(self, response: httpx.Response) -> None:
        for key, _ in response.headers.raw:
            if key.lower() == b"set-cookie":
                super().extract_cookies(response)
                return


def read_framing(response: httpx.Response) -> tuple[dict[str, str], str | None]:
    """The headers the codec reads (content type, Inference-Header-Content-Length) as a plain dict, and the
    Server-Timing header, from one pass over the raw header list: httpx's case-insensitive lookup walks and decodes
    every header for each name asked (three per call here)."""
    framing: dict[str, str] = {}
    timing: list[str] = []
    for key, value in response.headers.raw:
        name = key.lower()
        if name in _FRAMING_HEADERS:
            framing[_FRAMING_HEADERS[name]] = value.decode("latin-1")
        elif name == b"server-timing":
            timing.append(value.decode("latin-1"))
    return framing, ", ".join(timing) if timing else None
