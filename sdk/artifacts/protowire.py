"""The protobuf wire format, as much of it as the SDK reads and writes without the ``onnx`` package.

Three places handle ONNX bytes where ``onnx`` may be absent (it is not in the ``edge`` extra): reading a large model's
external-data table (``sdk.artifacts.external``), handing a model's weights to ONNX Runtime in place
(``sdk.runtime.inplace``) and writing the heads ``sdk adapt`` fits (``sdk.adaptation.onnx_writer``). They share
these primitives: varints, field keys, length-delimited fields, and a message's fields read without copying.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT, I64, LEN, I32 = 0, 1, 2, 5  # wire types

# (field number, wire type, where the field starts, where its value starts, where it ends); for a varint the value
# start is where the varint begins (read it with read_varint), for LEN where its bytes begin.
Span = tuple[int, int, int, int, int]


class Malformed(ValueError):
    """Bytes that are not the protobuf message they should be."""


def read_varint(buf: memoryview, pos: int, end: int | None = None) -> tuple[int, int]:
    """The varint at ``buf[pos]`` and the position after it; ``end`` bounds it (default: the buffer's end)."""
    stop = len(buf) if end is None else end
    value = shift = 0
    while True:
        if pos >= stop or shift > 63:
            raise Malformed("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def write_varint(value: int) -> bytes:
    """``value`` as a varint; a negative one as int64 fields encode it (ten bytes, two's complement)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return write_varint(number << 3 | wire)


def len_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: a string, bytes or an embedded message."""
    return key(number, LEN) + write_varint(len(payload)) + payload


def spans(buf: memoryview, start: int = 0, end: int | None = None) -> list[Span]:
    """The fields of the message at ``buf[start:end]``, in order, as spans (nothing copied)."""
    stop = len(buf) if end is None else end
    out = []
    pos = start
    while pos < stop:
        first = pos
        code, pos = read_varint(buf, pos, stop)
        number, wire = code >> 3, code & 7
        value_start = pos
        if wire == VARINT:
            _, pos = read_varint(buf, pos, stop)
        elif wire == LEN:
            size, value_start = read_varint(buf, pos, stop)
            pos = value_start + size
        elif wire in (I64, I32):
            pos += 8 if wire == I64 else 4
        else:
            raise Malformed(f"unsupported wire type {wire}")
        if pos > stop:
            raise Malformed("field runs past the end of its message")
        out.append((number, wire, first, value_start, pos))
    return out


def fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of one message: ints for varints and fixed-width fields, views for LEN."""
    for number, wire, _, value_start, stop in spans(buf):
        if wire == VARINT:
            yield number, wire, read_varint(buf, value_start, stop)[0]
        elif wire == LEN:
            yield number, wire, buf[value_start:stop]
        else:
            yield number, wire, int.from_bytes(buf[value_start:stop], "little")
