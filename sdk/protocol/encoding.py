"""Request bodies sent with ``Content-Encoding``: gzip and deflate are inflated, within the body-size limit.

Triton accepts compressed request bodies; clients that compress (``tritonclient.http`` with
``request_compression_algorithm``, curl ``--compressed`` scripts, proxies) would otherwise get a confusing JSON error.
Inflation is incremental (``zlib.decompressobj`` with ``max_length``) and stops as soon as the output passes the
limit: a gzip bomb (1 GiB of zeros in 1 MB) costs at most ``limit`` bytes of memory and is refused with 413. Any other
coding is refused with 415 naming it; ``identity`` means none.

A body's coding is wire format (RFC 9110 content codings), so it lives with the protocol; how many bytes a body may
inflate to is the caller's policy, passed in as ``limit`` (the server's ``max_body_bytes``).
"""

from __future__ import annotations

import zlib

from sdk.errors import MalformedRequest, PayloadTooLarge, UnsupportedMediaType

ACCEPTED = "gzip, deflate"  # what the 415 answer's Accept-Encoding header lists
_GZIP = zlib.MAX_WBITS | 16
_ZLIB = zlib.MAX_WBITS
_RAW = -zlib.MAX_WBITS


def codings(value: str | None) -> list[str]:
    """The codings of a ``Content-Encoding`` value in the order they were applied, ``identity`` left out.

    Raises UnsupportedMediaType (415) naming a coding this server cannot undo."""
    found = [c.strip().lower() for c in (value or "").split(",") if c.strip()]
    for coding in found:
        if coding not in ("gzip", "x-gzip", "deflate", "identity"):
            raise UnsupportedMediaType(
                f"Content-Encoding {coding!r} is not supported; send the body uncompressed, or compressed with "
                f"gzip or deflate"
            )
    return [c for c in found if c != "identity"]


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """``body`` with its content codings undone, last applied first. Raises PayloadTooLarge (413) once the inflated
    body passes ``limit`` bytes, MalformedRequest (400) for corrupt or truncated data, UnsupportedMediaType (415)."""
    for coding in reversed(codings(content_encoding)):
        body = _inflate(body, coding, limit)
    return body


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    name = "deflate" if coding == "deflate" else "gzip"
    if not data:
        return data  # nothing to inflate; the request's own checks say what an empty body lacks
    wbits = _GZIP if name == "gzip" else (_ZLIB if _is_zlib_header(data) else _RAW)  # deflate: zlib or raw, as sent
    decoder = zlib.decompressobj(wbits)
    parts: list[bytes] = []
    total = 0
    try:
        while True:
            chunk = decoder.decompress(data, limit + 1 - total)  # never more than one byte past the limit
            total += len(chunk)
            if total > limit:
                raise PayloadTooLarge(
                    f"request body inflates to more than {limit} bytes ({name}); this server accepts at most {limit}"
                )
            parts.append(chunk)
            if decoder.eof:
                rest = decoder.unused_data
                if not rest:
                    break
                if name == "gzip" and rest[:2] == b"\x1f\x8b":  # gzip allows several members, one after another
                    decoder, data = zlib.decompressobj(wbits), rest
                    continue
                raise MalformedRequest(f"request body has {len(rest)} bytes after the end of its {name} data")
            data = decoder.unconsumed_tail
            if not data and not chunk:
                raise MalformedRequest(f"request body is truncated {name} data (the stream does not end)")
    except zlib.error as exc:
        raise MalformedRequest(f"request body is not valid {name} data: {exc}") from exc
    return b"".join(parts)


def _is_zlib_header(data: bytes) -> bool:
    """RFC 1950's two-byte header (what HTTP's ``deflate`` means); some clients send a raw RFC 1951 stream instead."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
