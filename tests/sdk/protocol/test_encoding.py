"""Content-Encoding of a body: gzip and deflate inflated within a limit, other codings refused by name."""

from __future__ import annotations

import gzip

import pytest

from sdk.errors import MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from sdk.protocol.encoding import decode_body


def test_decode_body_stops_one_byte_past_the_limit() -> None:
    with pytest.raises(PayloadTooLarge, match="inflates to more than 1000 bytes"):
        decode_body(gzip.compress(bytes(1001)), "gzip", 1000)
    assert decode_body(gzip.compress(bytes(1000)), "gzip", 1000) == bytes(1000)
    # several gzip members are one body (RFC 1952 §2.2), each counted against the limit
    assert decode_body(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 1000) == b"abcd"
    with pytest.raises(PayloadTooLarge):
        decode_body(gzip.compress(bytes(600)) * 2, "gzip", 1000)
    with pytest.raises(MalformedRequest, match="not valid gzip data"):
        decode_body(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x07", "gzip", 1000)  # block type 3: invalid
    with pytest.raises(UnsupportedMediaType, match="'compress'"):
        decode_body(b"x", "compress", 1000)
