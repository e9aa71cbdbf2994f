"""A model's weights handed to ONNX Runtime in place: views over the very bytes whose sha256 was checked.

Building a session from model bytes copies every weight twice before any prepacking (protobuf parsing into the
graph, then the graph's initializers into tensors), each copy into fresh pages: for MiniLM int8 (58 MB) that is
~100 ms of a ~120 ms session build, all memcpy and page faults (perf, ONNX Runtime 1.32). ``split`` rewrites the
graph read from the verified bytes so that each large initializer says "external data" instead of carrying its
bytes, and returns a numpy view over those bytes for each; the backend hands the views to
``SessionOptions.add_initializer`` (user-owned memory: used as is, not copied; ``sdk.runtime.mapped`` measured that)
and builds the session from the small rewritten graph: ~20 ms. The weights ORT runs are the verified bytes
themselves; prepacking (a repacked copy of MatMul weights, for speed) is left as it was.

Every rewritten initializer names ``.`` as its external data: the folder ORT is pointed at
(``session.model_external_initializers_file_folder_path``), which exists, as ORT checks, but cannot be read as a
file. ORT uses each view in place and reads nothing, unless a graph optimizer wants a weight's values (a CNN's
layout or fusion passes do; MiniLM, fused at compile time, has none): then the session fails instead of reading a
file nobody verified, and the backend loads the model as it is. Nothing here depends on the ORT version: the graph
is the model's own, with only where each weight lives changed. Anything unexpected (a field it does not know how to
read) leaves that tensor, or the whole model, as it was.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.external import DATA_TYPES
from sdk.artifacts.protowire import VARINT, Malformed, key, len_field, read_varint, spans, write_varint

MIN_BYTES = 1024  # smaller tensors (scales, zero points, shapes) stay inline: graph optimizers read their values
# Smaller models load as they are: ORT's copies cost ~1.7 ms per MB, and a session refused in place (a CNN, whose
# layout pass reads its weights) ~1 ms for the digits CNN's 155 kB.
MIN_MODEL_BYTES = 1 << 20
NOWHERE = "."  # the external-data location of every moved weight: a folder, which ORT cannot read as data
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


SLACK = 64  # bytes a padded read leaves past the model: room to shift it in place so that its weights align


@record(frozen=False)
class Padded:
    """A model's verified bytes at the start of a buffer ``SLACK`` bytes longer
    (``sdk.artifacts.integrity.read_verified_padded``): ``split`` may shift them in place, by ``shift`` bytes, so
    that the weights lie aligned where they were read, rather than copy them."""

    buffer: np.ndarray
    size: int
    shift: int = 0

    @property
    def data(self) -> np.ndarray:
        return self.buffer[self.shift : self.shift + self.size]

    def tobytes(self) -> bytes:
        return self.data.tobytes()


@record(frozen=False)
class InPlace:
    """The rewritten graph and, by initializer name, the views it expects; keep both for the session's lifetime."""

    graph: bytes
    arrays: dict[str, np.ndarray]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


def _entry(name: str, value: str) -> bytes:
    return len_field(13, len_field(1, name.encode()) + len_field(2, value.encode()))


def _tensor(
    model: bytes | np.ndarray, buf: memoryview, start: int, end: int, min_bytes: int
) -> tuple[str, np.ndarray, bytes] | None:
    """A large raw-data initializer at ``buf[start:end]`` as (name, its view, the tensor rewritten), else None."""
    dims: list[int] = []
    name, dtype_code, raw, external = None, 0, None, False
    kept: list[memoryview] = []
    for number, wire, first, value_start, stop in spans(buf, start, end):
        if number == 9 and wire == 2:
            raw = (value_start, stop)
            continue
        if number == 14 and wire == 0:  # data_location: DEFAULT (0) here, else the tensor is not ours to move
            external = external or read_varint(buf, value_start, stop)[0] != 0
            continue
        kept.append(buf[first:stop])
        if number == 1 and wire == 0:
            dims.append(read_varint(buf, value_start, stop)[0])
        elif number == 1 and wire == 2:  # packed dims
            pos = value_start
            while pos < stop:
                dim, pos = read_varint(buf, pos, stop)
                dims.append(dim)
        elif number == 2 and wire == 0:
            dtype_code = read_varint(buf, value_start, stop)[0]
        elif number == 8 and wire == 2:
            name = bytes(buf[value_start:stop]).decode("utf-8")
        elif number == 13:
            external = True
    dtype = DATA_TYPES.get(dtype_code)
    if raw is None or name is None or external or dtype is None or raw[1] - raw[0] < min_bytes:
        return None
    if any(d >= 1 << 63 for d in dims):
        return None
    itemsize = np.dtype(dtype).itemsize
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    offset, length = raw[0], raw[1] - raw[0]
    if count * itemsize != length:
        return None
    array = np.frombuffer(model, dtype=dtype, count=count, offset=offset).reshape(dims)
    table = _entry("location", NOWHERE) + _entry("offset", "0") + _entry("length", str(length))
    rewritten = b"".join(kept) + table + key(14, VARINT) + write_varint(_EXTERNAL)
    return name, array, rewritten


def split(model: bytes | Padded, *, min_bytes: int = MIN_BYTES) -> InPlace | None:
    """``model`` (ONNX ModelProto bytes) with each initializer of at least ``min_bytes`` raw bytes moved out, and a
    read-only array of each; None when there is none to move or the bytes are not a model this can read (the caller
    then loads ``model`` as it is).

    The arrays are views over ``model`` when each lies at an address aligned for its type (kernels may assume element
    alignment; protobuf puts raw bytes anywhere). Else a ``Padded`` model is shifted in place to align the most
    bytes (the few it leaves misaligned are copied), and ``bytes`` are copied once into one aligned block, so that
    ``model`` is not held and the weights stay resident once."""
    source: Any = model.data if isinstance(model, Padded) else model
    view = memoryview(source)
    try:
        arrays: dict[str, np.ndarray] = {}
        parts: list[bytes | memoryview] = []
        seen_graph = False
        for number, wire, first, value_start, stop in spans(view, 0, len(view)):
            if number != 7 or wire != 2 or seen_graph:
                parts.append(view[first:stop])
                continue
            seen_graph = True
            graph: list[bytes | memoryview] = []
            for g_number, g_wire, g_first, g_start, g_stop in spans(view, value_start, stop):
                moved = None
                if g_number == 5 and g_wire == 2:
                    moved = _tensor(source, view, g_start, g_stop, min_bytes)
                if moved is None or moved[0] in arrays:
                    graph.append(view[g_first:g_stop])
                    continue
                arrays[moved[0]] = moved[1]
                graph.append(len_field(5, moved[2]))
            parts.append(len_field(7, b"".join(graph)))
        graph_bytes = b"".join(parts)
    except (Malformed, UnicodeDecodeError, ValueError):
        return None
    if not arrays:
        return None
    if any(a.ctypes.data % a.itemsize for a in arrays.values()):
        arrays = _shifted(model, arrays) if isinstance(model, Padded) and model.shift == 0 else _aligned_copy(arrays)
    return InPlace(graph_bytes, arrays)


def _misaligned(arrays: dict[str, np.ndarray], shift: int) -> int:
    return sum(a.nbytes for a in arrays.values() if (a.ctypes.data + shift) % a.itemsize)


def _shifted(model: Padded, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays over ``model`` moved in place (one memmove within pages already touched, where a copy to new
    pages cost MiniLM int8 ~10 ms more) by the shift that leaves the fewest bytes misaligned; those few copied."""
    start = model.buffer.ctypes.data
    offsets = {name: a.ctypes.data - start for name, a in arrays.items()}
    candidates = {0, *(-a.ctypes.data % SLACK for a in arrays.values())}
    shift = min(candidates, key=lambda d: (_misaligned(arrays, d), d))
    ctypes.memmove(start + shift, start, model.size)
    model.shift = shift
    moved = {
        name: np.frombuffer(model.buffer, dtype=a.dtype, count=a.size, offset=offsets[name] + shift).reshape(a.shape)
        for name, a in arrays.items()
    }
    left = {name: a for name, a in moved.items() if a.ctypes.data % a.itemsize}
    moved.update(_aligned_copy(left) if left else {})
    model.buffer.flags.writeable = False
    for array in moved.values():
        array.flags.writeable = False
    return moved


def _aligned_copy(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays copied into one block, each at a 64-byte boundary, read-only."""
    offsets, total = {}, 0
    for name, array in arrays.items():
        offsets[name] = total
        total += -(-array.nbytes // 64) * 64
    # np.empty: numpy asks for huge pages on large arrays, which made this copy of MiniLM int8's 58 MB cost ~10 ms
    # where plain anonymous pages cost ~44 ms (an occasional ~120 ms when the kernel compacts memory to find them).
    block = np.empty(total + 64, dtype=np.uint8)
    base = -block.ctypes.data % 64
    copied = {}
    for name, array in arrays.items():
        start = base + offsets[name]
        target = block[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
        target[...] = array
        copied[name] = target
    block.flags.writeable = False
    for target in copied.values():
        target.flags.writeable = False
    return copied
