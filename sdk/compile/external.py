"""Large models as ONNX external data: a small graph file plus shard files of at most ``shard_bytes`` each.

ONNX's protobuf cannot hold a model past 2 GB, and a runtime that reads a whole model file into memory holds a
second copy of its weights. Over ``threshold`` bytes, ``externalize`` moves every initializer of at least
``min_tensor_bytes`` out of the graph into shards (``<file>.data-000``, ...), each tensor whole in one shard at a
64-byte aligned offset, so the runtime can map the shards and hand ONNX Runtime views of the verified pages
(``sdk.runtime.mapped``). A tensor larger than ``shard_bytes`` gets a shard of its own (tensors are never split).

Past the threshold a model is never one ``bytes`` in the compile either (one protobuf cannot pass 2 GB): it is a
``LargeModel``, a graph file and its shards in a private temporary folder, written one tensor at a time by
``shard_onnx_file`` from whatever layout the exporter or quantizer left (weights inline, one file per tensor, one data
file; or by ``shard_model_proto`` from the in-memory proto the fp16 converter leaves), gated from the mapped
shards, and linked into the artifact folder by ``place``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from sdk._record import record
from sdk.artifacts.integrity import sha256_bytes, verify_file
from sdk.artifacts.manifest import ArtifactFile, DataFile
from sdk.errors import ArtifactError
from sdk.extras import require
from sdk.settings import env, resolve

GiB, MiB = 1 << 30, 1 << 20
ALIGN = 64  # numpy views need dtype alignment; 64 also suits SIMD kernels


@record(kw_only=True)
class ExternalDataConfig:
    """When and how ``sdk compile`` writes a model as external data."""

    threshold: int = env(
        "AIAAS_EXTERNAL_DATA_THRESHOLD", GiB, help="model files over this many bytes are written as external data"
    )
    shard_bytes: int = env("AIAAS_EXTERNAL_DATA_SHARD_BYTES", 256 * MiB, help="the largest external-data shard")
    min_tensor_bytes: int = env(
        "AIAAS_EXTERNAL_DATA_MIN_TENSOR", 1024, help="initializers smaller than this stay inside the graph"
    )

    @classmethod
    def from_env(cls, **arguments: Any) -> ExternalDataConfig:
        config = resolve(cls, **arguments)
        if config.threshold < 0 or config.shard_bytes < 1 or config.min_tensor_bytes < 1:
            raise ArtifactError(
                f"external data settings must be positive: threshold {config.threshold}, "
                f"shard_bytes {config.shard_bytes}, min_tensor_bytes {config.min_tensor_bytes}"
            )
        return config


def shard_name(file: str, index: int) -> str:
    return f"{file}.data-{index:03d}"


def externalize(model: bytes, *, file: str, config: ExternalDataConfig) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(graph bytes, [(shard file, shard bytes), ...]) for the ONNX model ``model`` that is written as ``file``."""
    onnx = require("onnx", purpose="writing large models as ONNX external data")
    from onnx import numpy_helper

    proto = onnx.load_model_from_string(model)
    shards: list[bytearray] = []
    for tensor in proto.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise ArtifactError(f"{file}: initializer {tensor.name!r} already refers to external data")
        data = tensor.raw_data if tensor.HasField("raw_data") else numpy_helper.to_array(tensor).tobytes()
        if len(data) < config.min_tensor_bytes:
            continue
        offset = len(shards[-1]) + (-len(shards[-1]) % ALIGN) if shards else 0
        if not shards or (offset and offset + len(data) > config.shard_bytes):
            shards.append(bytearray())
            offset = 0
        shard = shards[-1]
        shard += bytes(offset - len(shard))
        shard += data
        _point_to(onnx, tensor, shard_name(file, len(shards) - 1), offset, len(data))
    return proto.SerializeToString(), [(shard_name(file, i), bytes(s)) for i, s in enumerate(shards)]


def _point_to(onnx: Any, tensor: Any, location: str, offset: int, length: int) -> None:
    dims, data_type, name = list(tensor.dims), tensor.data_type, tensor.name
    tensor.Clear()  # drops raw_data and the typed *_data fields alike
    tensor.dims.extend(dims)
    tensor.data_type, tensor.name = data_type, name
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


class LargeModel:
    """An ONNX model kept on disk as the artifact will hold it: ``folder/file`` (the graph) and its shards.

    Compile steps pass it where small models pass bytes: a model past ONNX's 2 GB protobuf limit cannot be one
    ``bytes``, and holding its weights in memory beside the source model would double the compile's peak. Its folder
    is a private temporary one, removed by ``discard`` (or when the object is collected)."""

    def __init__(self, folder: Path, file: str, graph: bytes, shards: tuple[DataFile, ...]) -> None:
        self.folder, self.file, self.graph, self.shards = folder, file, graph, shards
        self._finalizer = weakref.finalize(self, shutil.rmtree, folder, True)

    @property
    def nbytes(self) -> int:
        return len(self.graph) + sum(s.bytes for s in self.shards)

    @property
    def path(self) -> Path:
        return self.folder / self.file

    def artifact(self) -> ArtifactFile:
        """The manifest entry this model would have: what ``sdk.runtime.mapped`` verifies and maps."""
        return ArtifactFile(
            kind="onnx",
            file=self.file,
            sha256=sha256_bytes(self.graph),
            bytes=len(self.graph),
            precision="fp32",
            external=self.shards,
        )

    def sha256(self) -> str:
        """One hash over the graph and every shard's hash: what keys a derived file (a TensorRT engine) to it."""
        digest = hashlib.sha256(self.graph)
        for shard in self.shards:
            digest.update(f"{shard.file}:{shard.sha256}".encode())
        return digest.hexdigest()

    def discard(self) -> None:
        self._finalizer()

    def describe(self) -> str:
        return f"{self.nbytes / 1e6:.1f} MB: graph {len(self.graph) / 1e3:.0f} kB + {len(self.shards)} shards"


OnnxModel = bytes | LargeModel


def model_nbytes(model: OnnxModel) -> int:
    return model.nbytes if isinstance(model, LargeModel) else len(model)


def model_sha256(model: OnnxModel) -> str:
    return model.sha256() if isinstance(model, LargeModel) else sha256_bytes(model)


def work_folder(prefix: str = "aiaas-large-") -> Path:
    """A private temporary folder for a large model's files (``TMPDIR`` chooses where)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


class _ShardWriter:
    """Packs tensors into shard files as ``externalize`` does (whole tensors, 64-byte aligned, a new shard when the
    next would pass ``shard_bytes``), streaming to disk and hashing as it writes: one tensor in memory at a time."""

    def __init__(self, folder: Path, file: str, shard_bytes: int) -> None:
        self.folder, self.file, self.shard_bytes = folder, file, shard_bytes
        self.done: list[DataFile] = []
        self._out: BinaryIO | None = None
        self._digest = hashlib.sha256()
        self._size = 0

    def add(self, data: bytes | memoryview) -> tuple[str, int]:
        offset = self._size + (-self._size % ALIGN) if self._out else 0
        if self._out is None or (offset and offset + len(data) > self.shard_bytes):
            self._finish()
            self._out = open(self.folder / shard_name(self.file, len(self.done)), "wb")  # noqa: SIM115
            offset = 0
        self._put(bytes(offset - self._size))
        self._put(data)
        return shard_name(self.file, len(self.done)), offset

    def _put(self, data: bytes | memoryview) -> None:
        assert self._out is not None
        self._out.write(data)
        self._digest.update(data)
        self._size += len(data)

    def _finish(self) -> None:
        if self._out is not None:
            self._out.close()
            self.done.append(
                DataFile(file=shard_name(self.file, len(self.done)), sha256=self._digest.hexdigest(), bytes=self._size)
            )
        self._out, self._digest, self._size = None, hashlib.sha256(), 0

    def close(self) -> tuple[DataFile, ...]:
        self._finish()
        return tuple(self.done)


def _read_external(base: Path, tensor: Any) -> bytes:
    """The bytes an initializer stored as external data refers to (location relative to the model's folder)."""
    entries = {e.key: e.value for e in tensor.external_data}
    path = (base / entries.get("location", "")).resolve()
    if base.resolve() not in path.parents:
        raise ArtifactError(f"initializer {tensor.name!r} refers to {entries.get('location')!r}, outside {base}")
    offset = int(entries.get("offset", "0"))
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(int(entries["length"])) if "length" in entries else f.read()
    if "length" in entries and len(data) != int(entries["length"]):
        raise ArtifactError(f"initializer {tensor.name!r}: {path.name} ends before its {entries['length']} bytes")
    return data


def shard_onnx_file(src: Path, folder: Path, *, file: str, config: ExternalDataConfig) -> LargeModel:
    """Rewrite the ONNX model at ``src`` (weights inline or as external data of any layout) into ``folder`` as the
    artifact holds it: ``file`` plus ``file.data-NNN`` shards. Reads one tensor at a time."""
    onnx = require("onnx", purpose="writing large models as ONNX external data")
    return _write_shards(onnx.load_model(str(src), load_external_data=False), src.parent, folder, file, config)


def shard_model_proto(proto: Any, folder: Path, *, file: str, config: ExternalDataConfig) -> LargeModel:
    """Write the in-memory ONNX ``proto`` (weights inline, e.g. just converted to fp16) into ``folder`` as ``file``
    plus shards, straight from memory: each tensor is written and cleared in turn, never serialized whole."""
    return _write_shards(proto, None, folder, file, config)


def verify_shards(model: LargeModel) -> None:
    """ArtifactError unless every shard on disk still has the size and sha256 ``model`` recorded for it."""
    for shard in model.shards:
        verify_file(model.folder, shard.file, shard.sha256, shard.bytes)


def _write_shards(proto: Any, base: Path | None, folder: Path, file: str, config: ExternalDataConfig) -> LargeModel:
    """Move ``proto``'s initializers of at least ``config.min_tensor_bytes`` into shards (external ones are read
    from ``base``, the folder their locations are relative to) and write the graph that refers to them."""
    onnx = require("onnx", purpose="writing large models as ONNX external data")
    from onnx import numpy_helper

    def external(tensor: Any) -> bytes:
        if base is None:
            raise ArtifactError(f"{file}: initializer {tensor.name!r} refers to external data with no folder to read")
        return _read_external(base, tensor)

    folder.mkdir(parents=True, exist_ok=True)
    writer = _ShardWriter(folder, file, config.shard_bytes)
    try:
        for tensor in proto.graph.initializer:
            is_external = tensor.data_location == onnx.TensorProto.EXTERNAL
            if is_external:
                data = external(tensor)
            else:
                data = tensor.raw_data if tensor.HasField("raw_data") else numpy_helper.to_array(tensor).tobytes()
            if len(data) >= config.min_tensor_bytes:
                location, offset = writer.add(data)
                _point_to(onnx, tensor, location, offset, len(data))
            elif is_external:  # a small tensor comes back into the graph
                _inline(onnx, tensor, data)
            del data
    finally:
        shards = writer.close()
    for tensor in _attribute_tensors(proto.graph):  # constants in nodes (the quantizer writes some out): inline
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            _inline(onnx, tensor, external(tensor))
    graph = proto.SerializeToString()
    (folder / file).write_bytes(graph)
    return LargeModel(folder, file, graph, shards)


def _inline(onnx: Any, tensor: Any, data: bytes) -> None:
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.DEFAULT
    tensor.raw_data = data


def _attribute_tensors(graph: Any) -> Iterator[Any]:
    """Tensors held by node attributes, subgraphs' initializers and nodes included (not the top graph's
    initializers: the runtime maps those)."""
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for sub in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                yield from sub.initializer
                yield from _attribute_tensors(sub)


def place(model: LargeModel, folder: Path, file: str) -> tuple[bytes, tuple[DataFile, ...]]:
    """Put ``model``'s shards into ``folder`` under ``file``'s shard names (hard links where the filesystem allows,
    else copies) and return the graph that refers to them; its sha256s stand (same bytes, new names)."""
    graph = model.graph
    names = {s.file: shard_name(file, i) for i, s in enumerate(model.shards)}
    if file != model.file:
        onnx = require("onnx", purpose="writing large models as ONNX external data")
        proto = onnx.load_model_from_string(graph)
        for tensor in proto.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = names.get(entry.value, entry.value)
        graph = proto.SerializeToString()
    placed = []
    for shard in model.shards:
        target = folder / names[shard.file]
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(model.folder / shard.file, target)
        except OSError:
            shutil.copyfile(model.folder / shard.file, target)
        placed.append(DataFile(file=names[shard.file], sha256=shard.sha256, bytes=shard.bytes))
    return graph, tuple(placed)
