"""Where a large ONNX model's weights live: the external-data table read from its (small) graph file.

A model over the compile threshold is written as a graph file plus shard files (``ArtifactFile.external``); each
large initializer in the graph records ``location``, ``offset`` and ``length`` in its ``external_data``. The runtime
needs that table to map the verified shard pages (``sdk.runtime.mapped``). The ``onnx`` package is not in the edge
extra, and ONNX Runtime does not expose it, so this module reads the few protobuf fields it needs itself: ModelProto
.graph (7) -> GraphProto.initializer (5) -> TensorProto dims (1), data_type (2), name (8), external_data (13),
data_location (14). Everything else is skipped by wire type.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
from pathlib import Path

from sdk._record import record
from sdk.artifacts.integrity import _check_sha, _check_size, _locate, sha256_bytes
from sdk.artifacts.protowire import Malformed, fields, read_varint
from sdk.errors import IntegrityError

# TensorProto.DataType -> numpy dtype name (bfloat16 and the 4/8-bit float types have no numpy dtype).
DATA_TYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
}
_ITEMSIZE = {"bool": 1, "uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "float16": 2, "int32": 4, "uint32": 4}
_ITEMSIZE |= {"float32": 4, "int64": 8, "uint64": 8, "float64": 8}
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


@record
class ExternalTensor:
    """One initializer stored outside the graph: ``length`` bytes at ``offset`` of the file ``location``."""

    name: str
    location: str
    offset: int
    length: int
    dtype: str
    shape: tuple[int, ...]


def _text(value: int | memoryview) -> str:
    if not isinstance(value, memoryview):
        raise Malformed("expected a string")
    return bytes(value).decode("utf-8")


def _tensor(buf: memoryview) -> ExternalTensor | None:
    name, dtype_code, location = "", 0, 0
    dims: list[int] = []
    entries: dict[str, str] = {}
    for number, wire, value in fields(buf):
        if number == 1 and wire == 0:
            dims.append(int(value))
        elif number == 1 and isinstance(value, memoryview):  # packed dims
            pos = 0
            while pos < len(value):
                dim, pos = read_varint(value, pos)
                dims.append(dim)
        elif number == 2 and wire == 0:
            dtype_code = int(value)
        elif number == 8:
            name = _text(value)
        elif number == 13 and isinstance(value, memoryview):
            pair = {n: _text(v) for n, _, v in fields(value)}
            entries[pair.get(1, "")] = pair.get(2, "")
        elif number == 14 and wire == 0:
            location = int(value)
    if location != _EXTERNAL:
        return None
    dtype = DATA_TYPES.get(dtype_code)
    if dtype is None:
        raise Malformed(f"initializer {name!r} has data type {dtype_code}, which has no numpy equivalent here")
    if dims and dims[0] >= 1 << 63:
        raise Malformed(f"initializer {name!r} has a negative dimension")
    shape = tuple(dims)
    count = 1
    for dim in shape:
        count *= dim
    expected = count * _ITEMSIZE[dtype]
    length = int(entries.get("length", expected))
    if length != expected:
        raise Malformed(f"initializer {name!r} records {length} bytes for a {dtype} tensor of shape {list(shape)}")
    return ExternalTensor(name, entries.get("location", ""), int(entries.get("offset", "0")), length, dtype, shape)


def external_tensors(graph: bytes, *, origin: str = "model.onnx") -> list[ExternalTensor]:
    """The initializers of ``graph`` (ONNX ModelProto bytes) stored as external data, in graph order.

    Raises IntegrityError naming ``origin`` when the bytes are not a readable model (they passed their sha256, so a
    malformed table means the artifact was built wrong, not damaged in transit)."""
    try:
        view = memoryview(graph)
        tensors = []
        for number, _, value in fields(view):
            if number == 7 and isinstance(value, memoryview):
                for field_number, _, item in fields(value):
                    if field_number == 5 and isinstance(item, memoryview):
                        tensor = _tensor(item)
                        if tensor is not None:
                            tensors.append(tensor)
        return tensors
    except (Malformed, ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{origin}: cannot read its external-data table: {exc}", file=origin) from exc


def map_verified(folder: str | Path, name: str, sha256: str, size: int) -> mmap.mmap | bytes:
    """``folder/name`` mapped read-only, after checking its size and the sha256 of the mapped pages themselves.

    What was hashed is what the caller hands the runtime: the same pages, no copy. A file replaced (renamed over)
    after this keeps the mapping on the verified inode; one written in place is outside what any check can catch
    once pages are shared, as with any open file."""
    path = _locate(Path(folder), name)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise IntegrityError(f"{name} is missing from the artifact folder", file=name) from exc
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise IntegrityError(f"{name} is not a regular file", file=name)
        _check_size(name, status.st_size, size)
        if size == 0:
            _check_sha(name, sha256_bytes(b""), sha256)
            return b""
        mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)  # holds its own descriptor
    finally:
        os.close(fd)
    if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_SEQUENTIAL"):
        mapped.madvise(mmap.MADV_SEQUENTIAL)
    with memoryview(mapped) as view:
        actual = hashlib.sha256(view).hexdigest()
    if actual != sha256:
        mapped.close()
        _check_sha(name, actual, sha256)
    return mapped
