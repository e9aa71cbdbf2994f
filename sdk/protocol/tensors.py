"""One tensor on the wire: OIP JSON ``data`` and the binary tensor extension, to and from numpy.

Conversions are strict: a value that does not fit the declared datatype (a float for INT64, 300 for INT8, a string
for FP32, ``true`` for FP32) is refused with a message naming the tensor, the datatype and the offending value, rather
than silently cast. Binary tensors are little-endian, row-major; BYTES elements are each prefixed with a 4-byte
little-endian length, as in the Triton/KServe binary extension.

Nothing is allocated from a declared shape alone: every dimension (zeros included) and the element count are bounded
(``element_count``), and a tensor's data must hold its elements before an array for them is made, so a request
declaring a billion BYTES elements with four bytes of data costs four bytes, not gigabytes.

Requests and responses are read alike; ``tensor`` is how a message names the tensor at hand (``input 'image'``,
``output 'logits'``), so an error says which side of the exchange is wrong.
"""

from __future__ import annotations

import math
import struct
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from sdk.errors import MalformedRequest, PayloadTooLarge
from sdk.protocol.datatypes import BYTES, numpy_dtype

MAX_RANK = 32
# Without a configured limit (a client reading a response), dimensions and counts stay far below numpy's own
# "array is too big", which a shape such as [0, 2**63 - 1] would otherwise reach with no element at all.
HARD_MAX_ELEMENTS = 1 << 40
_BYTES_PREFIX = 4  # each binary BYTES element starts with its length, 4 bytes little-endian
_BIG_ENDIAN = sys.byteorder == "big"


def element_count(tensor: str, shape: Any, limit: int | None = None) -> tuple[tuple[int, ...], int]:
    """Validate an OIP ``shape`` (a list of non-negative integers); return it as a tuple and its element count.

    ``limit`` bounds the element count and every single dimension, zeros not excepted: ``[0, 2**63 - 1]`` holds no
    element, but numpy cannot even describe it. Over the limit is PayloadTooLarge (413) naming it."""
    if not isinstance(shape, list):
        raise MalformedRequest(f"{tensor}: 'shape' must be a list of integers, got {type(shape).__name__}")
    if len(shape) > MAX_RANK:
        raise MalformedRequest(f"{tensor}: 'shape' has {len(shape)} dimensions; at most {MAX_RANK} are allowed")
    for dim in shape:
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise MalformedRequest(f"{tensor}: 'shape' must hold integers, got {dim!r} in {shape}")
        if dim < 0:
            raise MalformedRequest(f"{tensor}: 'shape' must not hold negative sizes, got {shape}")
    bound = HARD_MAX_ELEMENTS if limit is None else limit
    count = math.prod(shape)
    span = count or math.prod(dim or 1 for dim in shape)  # a zero-size shape: its other dimensions still count
    if span > bound:
        shown = _show(shape)
        if limit is None:
            raise MalformedRequest(f"{tensor}: shape {shown} is too large to describe")
        raise PayloadTooLarge(
            f"{tensor}: shape {shown} spans {span} elements; this server accepts at most {limit} per request",
            hint="send fewer rows per request, or raise the server's max_request_elements "
            "(AIAAS_MAX_REQUEST_ELEMENTS, sdk serve --max-request-elements)",
        )
    return tuple(shape), count


def from_json_data(
    tensor: str, datatype: str, shape: tuple[int, ...], count: int, data: Any, *, booleans: bool = True
) -> np.ndarray:
    """The array for a tensor's JSON ``data`` (flat or nested row-major), checked against datatype and shape.
    ``booleans=False`` says the message has no ``true``/``false`` literal at all, which spares scanning the data."""
    dtype = numpy_dtype(datatype)
    if not isinstance(data, list):
        data = [data]  # a scalar for a single-element tensor
    if datatype == BYTES:
        return _bytes_from_json(tensor, shape, count, data)
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise MalformedRequest(f"{tensor}: 'data' is not a rectangular nested list: {exc}") from exc
    if array.size != count:
        raise MalformedRequest(f"{tensor}: shape {list(shape)} holds {count} element(s) but 'data' has {array.size}")
    if array.size == 0:
        return np.zeros(shape, dtype=dtype)
    if booleans and array.dtype.kind in "iuf" and _holds_bool(data):  # numpy reads [true, 0.5] as [1.0, 0.5]
        raise MalformedRequest(f"{tensor}: {datatype} data must be numbers, got a boolean (true/false)")
    if array.dtype.kind not in _ACCEPTED_KINDS[dtype.kind] or array.dtype == object:
        if dtype.kind in "iu" and _all_ints_within(data, dtype):
            return np.asarray(data, dtype=dtype).reshape(shape)  # e.g. UINT64 values numpy would infer as float
        raise MalformedRequest(f"{tensor}: {_describe_misfit(datatype, data)}")
    if dtype.kind in "iu" and array.size:
        info = np.iinfo(dtype)
        low, high = int(array.min()), int(array.max())
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise MalformedRequest(f"{tensor}: value {bad} is out of range for {datatype} [{info.min}, {info.max}]")
    return array.astype(dtype, copy=False).reshape(shape)


# The kinds of numpy array that json lists may produce, by the kind of the declared dtype.
_ACCEPTED_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}


def _describe_misfit(datatype: str, data: list[Any]) -> str:
    """What is wrong with JSON data that did not convert cleanly: the first value that does not fit."""
    for value in _flatten(data):
        if datatype == "BOOL":
            if not isinstance(value, bool):
                return f"BOOL data must be true or false, got {_show(value)}"
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{datatype} data must be numbers, got {_show(value)}"
        elif datatype.startswith(("INT", "UINT")) and isinstance(value, float):
            return f"{datatype} data must be integers, got {_show(value)}"
        elif isinstance(value, int) and not -(2**63) <= value < 2**64:
            return f"value {value} is out of range for {datatype}"
    return f"'data' does not fit datatype {datatype}"


def _holds_bool(data: list[Any]) -> bool:
    """Whether a rectangular nested list holds a JSON boolean; the innermost lists are scanned at C speed."""
    if data and isinstance(data[0], list):
        return any(_holds_bool(row) for row in data)
    return bool in map(type, data)


def _all_ints_within(data: list[Any], dtype: np.dtype) -> bool:
    info = np.iinfo(dtype)
    return all(isinstance(v, int) and not isinstance(v, bool) and info.min <= v <= info.max for v in _flatten(data))


def _flatten(data: Any) -> Any:
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            yield value
        else:
            stack.pop()


def _show(value: Any) -> str:
    text = repr(value)
    return (text[:40] + "…") if len(text) > 41 else text


def _bytes_from_json(tensor: str, shape: tuple[int, ...], count: int, data: list[Any]) -> np.ndarray:
    flat = list(_flatten(data))
    if len(flat) != count:
        raise MalformedRequest(f"{tensor}: shape {list(shape)} holds {count} element(s) but 'data' has {len(flat)}")
    out = np.empty(count, dtype=object)
    for i, value in enumerate(flat):
        if not isinstance(value, str):
            raise MalformedRequest(f"{tensor}: BYTES data must be strings, got {_show(value)}")
        out[i] = value.encode("utf-8")
    return out.reshape(shape)


def to_json_data(array: np.ndarray) -> Any:
    """A tensor's ``data``: a flat row-major list (numpy arrays are serialised by ``jsonio.dumps`` directly)."""
    if array.dtype == object or array.dtype.kind in "SU":
        return [_text(v) for v in array.reshape(-1).tolist()]
    return np.ascontiguousarray(array).reshape(-1)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedRequest("a BYTES element is not UTF-8 text; request it as binary data") from exc
    return str(value)


# --- binary tensor extension -------------------------------------------------------------------------------------


def binary_size(datatype: str, count: int) -> int | None:
    """Bytes a fixed-size tensor occupies in binary form (None for BYTES, whose size depends on its content)."""
    if datatype == BYTES:
        return None
    return count * numpy_dtype(datatype).itemsize


def from_binary(tensor: str, datatype: str, shape: tuple[int, ...], count: int, raw: memoryview) -> np.ndarray:
    """The array for a tensor sent as binary data (``raw`` is exactly its ``binary_data_size`` bytes)."""
    if datatype == BYTES:
        return _bytes_from_binary(tensor, shape, count, raw)
    expected = binary_size(datatype, count)
    if len(raw) != expected:
        raise MalformedRequest(
            f"{tensor}: shape {list(shape)} {datatype} needs {expected} bytes of binary data, "
            f"but binary_data_size is {len(raw)}"
        )
    dtype = numpy_dtype(datatype)
    if datatype == "BOOL":
        as_bytes = np.frombuffer(raw, dtype=np.uint8)
        if as_bytes.size and as_bytes.max() > 1:
            raise MalformedRequest(f"{tensor}: BOOL binary data must hold bytes 0 or 1")
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(shape)


def _bytes_from_binary(tensor: str, shape: tuple[int, ...], count: int, raw: memoryview) -> np.ndarray:
    if count > len(raw) // _BYTES_PREFIX:  # before allocating: each element needs at least its length prefix
        raise MalformedRequest(
            f"{tensor}: shape {_show(list(shape))} BYTES needs at least {_BYTES_PREFIX} bytes per element, "
            f"but binary_data_size is {len(raw)}"
        )
    out = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + 4 > len(raw):
            raise MalformedRequest(f"{tensor}: BYTES binary data ends after {i} of {count} element(s)")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise MalformedRequest(f"{tensor}: BYTES element {i} claims {length} bytes past the end of its data")
        out[i] = bytes(raw[offset : offset + length])
        offset += length
    if offset != len(raw):
        extra = len(raw) - offset
        raise MalformedRequest(f"{tensor}: {extra} byte(s) of binary data left after {count} elements")
    return out.reshape(shape)


def to_binary(array: np.ndarray) -> bytes:
    """A tensor's binary form: little-endian row-major elements, or length-prefixed BYTES elements."""
    if array.dtype == object or array.dtype.kind in "SU":
        parts: list[bytes] = []
        for value in array.reshape(-1).tolist():
            item = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(struct.pack("<I", len(item)))
            parts.append(item)
        return b"".join(parts)
    order = array.dtype.byteorder
    if order == ">" or (order == "=" and _BIG_ENDIAN):
        array = array.astype(array.dtype.newbyteorder("<"))
    return array.tobytes()  # row-major whatever the array's layout


def as_shape(array: np.ndarray) -> list[int]:
    return list(array.shape)  # numpy's shape holds Python ints


def split_binary(names: Sequence[str], sizes: Sequence[int], blob: memoryview) -> list[memoryview]:
    """Cut the binary part of a message into per-tensor views, in order; the sizes must add up exactly."""
    total = sum(sizes)
    if total != len(blob):
        listed = ", ".join(f"'{n}' {s}" for n, s in zip(names, sizes)) or "none"
        raise MalformedRequest(
            f"binary data: the tensors claim {total} bytes (binary_data_size: {listed}) "
            f"but the body carries {len(blob)} after the JSON header"
        )
    views, offset = [], 0
    for size in sizes:
        views.append(blob[offset : offset + size])
        offset += size
    return views
