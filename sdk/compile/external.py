"""Large models as ONNX external data: a small graph file plus shard files of at most ``shard_bytes`` each.

ONNX's protobuf cannot hold a model past 2 GB, and a runtime that reads a whole model file into memory holds a
second copy of its weights. Over ``threshold`` bytes, ``externalize`` moves every initializer of at least
``min_tensor_bytes`` out of the graph into shards (``<file>.data-000``, ...), each tensor whole in one shard at a
64-byte aligned offset, so the runtime can map the shards and hand ONNX Runtime views of the verified pages
(``sdk.runtime.mapped``). A tensor larger than ``shard_bytes`` gets a shard of its own (tensors are never split).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sdk.errors import ArtifactError
from sdk.extras import require
from sdk.settings import env, resolve

GiB, MiB = 1 << 30, 1 << 20
ALIGN = 64  # numpy views need dtype alignment; 64 also suits SIMD kernels


@dataclass(frozen=True, kw_only=True)
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
