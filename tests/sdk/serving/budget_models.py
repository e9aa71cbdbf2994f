"""Ten distinct ONNX models with sizeable initializers, for the memory budget tests (``test_memory_budget*.py``).

``big-N``: x float32 [batch, 1024] -> y = sum(x @ W_N, axis=1) [batch, 1], W_N a seeded 1024 x 8192 float32 matrix
(32 MiB), so each file is distinct and each answer tells which model gave it (``expected``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from sdk.artifacts import TensorSpec
from tests.sdk.serving.builders import write_artifact

MIB = 1024 * 1024
MODELS = 10
WIDTH, HIDDEN = 1024, 8192  # 32 MiB of float32 weights


def weights(index: int) -> np.ndarray:
    return np.random.default_rng(1000 + index).random((WIDTH, HIDDEN), dtype=np.float32) - np.float32(0.5)


def expected(index: int, x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float64) @ weights(index).astype(np.float64)).sum(axis=1, keepdims=True)


def big_model(root: Path, index: int) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WIDTH])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("ReduceSum", ["h"], ["y"], axes=[1], keepdims=1),
    ]
    graph = helper.make_graph(
        nodes, f"big{index}", [x], [y], initializer=[numpy_helper.from_array(weights(index), "w")]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 8
    return write_artifact(
        root / f"big-{index}" / "1",
        model.SerializeToString(),
        name=f"big-{index}",
        inputs=(TensorSpec(name="x", dtype="float32", shape=(-1, WIDTH), dim_names=("batch", None)),),
        outputs=(TensorSpec(name="y", dtype="float32", shape=(-1, 1), dim_names=("batch", None)),),
    )


def budget_store(root: Path, count: int = MODELS) -> Path:
    """The ``count`` models under ``root``; a model already written there (by another test module) is kept."""
    for index in range(count):
        if not (root / f"big-{index}" / "1" / "manifest.json").is_file():
            big_model(root, index)
    return root
