"""A small ONNX writer: the head graphs ``sdk adapt`` fits, encoded as protobuf bytes with numpy only.

Why hand-encode: head mode must run where only the ``edge`` extra is installed (numpy + onnxruntime), and the ``onnx``
package is not part of it. A head is a handful of nodes (Sub, Mul, MatMul, Add, Softmax) over a few initializers, so
the protobuf wire format (varints and length-delimited fields) of the six messages it needs fits in this module.
Field numbers are those of onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
ValueInfoProto and its TypeProto, OperatorSetIdProto). The tests check the bytes with ``onnx.checker`` and run them in
ONNX Runtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from sdk._record import record
from sdk.artifacts.protowire import key, len_field, write_varint

IR_VERSION = 8  # read by every onnxruntime the edge extra allows (>= 1.20)
OPSET = 17
PRODUCER = "aiaas-sdk adapt"

FLOAT = 1  # TensorProto.DataType.FLOAT
_ATTR_INT = 2  # AttributeProto.AttributeType.INT

Dim = int | str  # a fixed size, or a symbolic one ("batch")


def _int(field: int, value: int) -> bytes:
    return key(field, 0) + write_varint(value)


def _bytes(field: int, value: bytes) -> bytes:
    return len_field(field, value)


def _str(field: int, value: str) -> bytes:
    return _bytes(field, value.encode("utf-8"))


def _many(field: int, messages: Iterable[bytes]) -> bytes:
    return b"".join(_bytes(field, m) for m in messages)


def tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: dims (1), data_type (2), name (8), raw_data (9, little-endian float32)."""
    data = np.ascontiguousarray(array, dtype="<f4")
    dims = b"".join(_int(1, int(d)) for d in data.shape)
    return dims + _int(2, FLOAT) + _str(8, name) + _bytes(9, data.tobytes())


def value_info(name: str, shape: Sequence[Dim]) -> bytes:
    """ValueInfoProto (name 1, type 2) of a float tensor: TypeProto.tensor_type (1) holds elem_type (1) and shape
    (2), a TensorShapeProto whose dims (1) carry dim_value (1) or dim_param (2)."""
    dims = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _str(2, d)) for d in shape)
    tensor_type = _int(1, FLOAT) + _bytes(2, dims)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def node(
    op: str, inputs: Sequence[str], outputs: Sequence[str], *, name: str, ints: Mapping[str, int] | None = None
) -> bytes:
    """NodeProto: input (1), output (2), name (3), op_type (4), attribute (5: name 1, i 3, type 20)."""
    attributes = [_str(1, key) + _int(3, value) + _int(20, _ATTR_INT) for key, value in (ints or {}).items()]
    return (
        b"".join(_str(1, i) for i in inputs)
        + b"".join(_str(2, o) for o in outputs)
        + _str(3, name)
        + _str(4, op)
        + _many(5, attributes)
    )


@record
class Graph:
    name: str
    nodes: Sequence[bytes]
    inputs: Sequence[bytes]
    outputs: Sequence[bytes]
    initializers: Sequence[bytes]
    doc: str = ""


def model(graph: Graph, *, metadata: Mapping[str, str] | None = None) -> bytes:
    """ModelProto: ir_version (1), producer_name (2), graph (7), opset_import (8: domain 1, version 2),
    metadata_props (14: key 1, value 2). GraphProto: node (1), name (2), initializer (5), doc_string (10),
    input (11), output (12)."""
    body = (
        _many(1, graph.nodes)
        + _str(2, graph.name)
        + _many(5, graph.initializers)
        + (_str(10, graph.doc) if graph.doc else b"")
        + _many(11, graph.inputs)
        + _many(12, graph.outputs)
    )
    props = [_str(1, k) + _str(2, v) for k, v in (metadata or {}).items()]
    return (
        _int(1, IR_VERSION)
        + _str(2, PRODUCER)
        + _bytes(7, body)
        + _bytes(8, _str(1, "") + _int(2, OPSET))
        + _many(14, props)
    )


# --- the heads ------------------------------------------------------------------------------------------------


def linear_head(
    *,
    feature: str,
    output: str,
    mean: np.ndarray,
    scale: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    softmax: bool,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """``feature`` [batch, d] -> ((x - mean) * scale) @ weights + bias [batch, k], then Softmax over the last axis when
    ``softmax``. The standardization stays in the graph (not folded into the weights) so that the head reads as it
    was fitted, and the features the base produces are what it takes."""
    width, classes = weights.shape
    if mean.shape != (width,) or scale.shape != (width,) or bias.shape != (classes,):
        raise ValueError(
            f"head parameters disagree: mean {mean.shape}, scale {scale.shape}, weights "
            f"{weights.shape}, bias {bias.shape}"
        )
    scores = "scores" if softmax else output
    nodes = [
        node("Sub", [feature, "mean"], ["centered"], name="standardize_center"),
        node("Mul", ["centered", "scale"], ["standardized"], name="standardize_scale"),
        node("MatMul", ["standardized", "weights"], ["projected"], name="project"),
        node("Add", ["projected", "bias"], [scores], name="bias"),
    ]
    if softmax:
        nodes.append(node("Softmax", [scores], [output], name="softmax", ints={"axis": -1}))
    graph = Graph(
        name="adapted_head",
        nodes=nodes,
        inputs=[value_info(feature, ["batch", width])],
        outputs=[value_info(output, ["batch", classes])],
        initializers=[
            tensor("mean", mean.reshape(1, width)),
            tensor("scale", scale.reshape(1, width)),
            tensor("weights", weights),
            tensor("bias", bias),
        ],
        doc="fitted by sdk adapt (head mode) on the features of its base artifact",
    )
    return model(graph, metadata=metadata)
