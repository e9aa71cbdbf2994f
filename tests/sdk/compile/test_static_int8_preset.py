"""The static int8 quantizer's NNCF preset: symmetric activations for Transformers (OpenVINO folds more of the
graph into its int8 matmuls; benchmarks/int8_ceiling.py), NNCF's MIXED on request, anything else refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sdk.compile.optimize import quantize_static_int8
from sdk.errors import ConfigError

onnx = pytest.importorskip("onnx")
pytest.importorskip("nncf")


def _two_matmuls() -> bytes:
    """x [batch, 16] -> MatMul -> Add -> Relu -> MatMul -> y [batch, 8]: two quantizable matmuls."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.standard_normal((16, 8)).astype(np.float32), "w2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("Add", ["h", "b1"], ["hb"]),
        helper.make_node("Relu", ["hb"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "two_matmuls",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


@pytest.fixture(scope="module")
def calibration() -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    # off-centre inputs: an asymmetric range, where the two presets differ
    return [{"x": (rng.standard_normal((4, 16)) + 1.5).astype(np.float32)} for _ in range(8)]


def _activation_zero_points(model: bytes) -> list[Any]:
    from onnx import numpy_helper

    graph = onnx.load_from_string(model).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    points = [constants[node.input[2]] for node in graph.node if node.op_type == "QuantizeLinear"]
    assert points, "nothing was quantized"
    return points


def test_a_transformer_gets_symmetric_activations_by_default(calibration: list[dict[str, np.ndarray]]) -> None:
    model = quantize_static_int8(_two_matmuls(), calibration, transformer=True)
    assert all(not np.any(point) for point in _activation_zero_points(model))


def test_the_mixed_preset_keeps_asymmetric_activations_when_asked(calibration: list[dict[str, np.ndarray]]) -> None:
    model = quantize_static_int8(_two_matmuls(), calibration, transformer=True, preset="mixed")
    assert any(np.any(point) for point in _activation_zero_points(model))


def test_an_unknown_static_int8_preset_is_refused_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="'fastest'.*performance, mixed"):
        quantize_static_int8(_two_matmuls(), [], transformer=True, preset="fastest")
