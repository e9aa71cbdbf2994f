"""Tiny ONNX graphs built with onnx.helper, for testing the runtime on signatures the CNN does not have."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper


def two_input_model() -> bytes:
    """ids int64 [batch, sequence] and mask float32 [batch, sequence] -> score = float(ids) * mask."""
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence"])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "sequence"])
    score = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", "sequence"])
    nodes = [
        helper.make_node("Cast", ["ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["ids_f", "mask"], ["score"]),
    ]
    graph = helper.make_graph(nodes, "two_inputs", [ids, mask], [score])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()
