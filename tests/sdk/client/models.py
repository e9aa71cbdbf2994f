"""Client-test artifacts: one model name with a slow edge build and a fast cloud build, and broken edge copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sdk.artifacts import TensorSpec
from sdk.artifacts.integrity import sha256_bytes
from sdk.artifacts.store import BUILTIN_ROOT
from tests.sdk.serving.builders import write_artifact

WIDTH = 1024
TWIN_IN = (TensorSpec(name="x", dtype="float32", shape=(-1, WIDTH), dim_names=("batch", None)),)
TWIN_OUT = (TensorSpec(name="y", dtype="float32", shape=(-1, WIDTH), dim_names=("batch", None)),)


def _model(nodes: list, initializers: list, inputs: list, outputs: list) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def twin(root: Path, *, layers: int) -> Path:
    """'twin': y = tanh(x W)^layers. Many layers make a slow edge build; one layer, a fast 'GPU' cloud build."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WIDTH])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", WIDTH])
    weight = numpy_helper.from_array(
        np.random.default_rng(0).normal(0, 1 / np.sqrt(WIDTH), (WIDTH, WIDTH)).astype(np.float32), "w"
    )
    nodes, current = [], "x"
    for i in range(layers):
        nodes += [helper.make_node("MatMul", [current, "w"], [f"m{i}"]), helper.make_node("Tanh", [f"m{i}"], [f"t{i}"])]
        current = f"t{i}"
    nodes.append(helper.make_node("Identity", [current], ["y"]))
    return write_artifact(
        root / "twin" / "1", _model(nodes, [weight], [x], [y]), name="twin", inputs=TWIN_IN, outputs=TWIN_OUT
    )


def private_twin(root: Path) -> Path:
    """'secret': the cloud's one-layer twin whose manifest sets privacy_floor private."""
    import shutil

    source = twin(root / ".private-build", layers=1)
    target = root / "secret" / "1"
    shutil.copytree(source, target)
    shutil.rmtree(root / ".private-build")
    manifest = json.loads((target / "manifest.json").read_text())
    manifest.update(name="secret", privacy_floor="private")
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def digits_copy(root: Path) -> Path:
    target = root / "digits-cnn" / "1"
    shutil.copytree(BUILTIN_ROOT / "digits-cnn" / "1", target)
    return target


def tampered_digits(root: Path) -> Path:
    target = digits_copy(root)
    data = bytearray((target / "model.onnx").read_bytes())
    data[200] ^= 0xFF
    (target / "model.onnx").write_bytes(bytes(data))
    return target


def failing_digits(root: Path) -> Path:
    """'digits-cnn' with the right signature and hashes, whose graph fails at run time (64 values into [-1, 10])."""
    target = digits_copy(root)
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])
    probabilities = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])
    shape = numpy_helper.from_array(np.array([-1, 10], np.int64), "shape")
    nodes = [
        helper.make_node("Reshape", ["image", "shape"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    data = _model(nodes, [shape], [image], [logits, probabilities])
    (target / "model.onnx").write_bytes(data)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["artifacts"][0].update(sha256=sha256_bytes(data), bytes=len(data))
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target
