"""Small artifacts for serving tests: ONNX graphs built with onnx.helper, written as verified artifact folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from sdk.artifacts import ArtifactFile, Manifest, Source, TensorSpec, write_manifest
from sdk.artifacts.integrity import sha256_bytes
from sdk.artifacts.store import BUILTIN_ROOT
from tests.sdk.onnx_models import two_input_model


def write_artifact(
    folder: Path, model: bytes, *, name: str, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(model)
    manifest = Manifest(
        name=name,
        version=folder.name,
        source=Source(framework="onnx"),
        inputs=inputs,
        outputs=outputs,
        artifacts=(
            ArtifactFile(
                kind="onnx", file="model.onnx", sha256=sha256_bytes(model), bytes=len(model), precision="fp32"
            ),
        ),
    )
    write_manifest(folder, manifest)
    return folder


def pair_model(root: Path, version: str = "1") -> Path:
    """'pair': ids int64 [batch, sequence] and mask float32 [batch, sequence] -> score = ids * mask (batchable)."""
    ids = TensorSpec(name="ids", dtype="int64", shape=(-1, -1), dim_names=("batch", "sequence"), max_shape=(-1, 64))
    mask = TensorSpec(name="mask", dtype="float32", shape=(-1, -1), dim_names=("batch", "sequence"))
    score = TensorSpec(name="score", dtype="float32", shape=(-1, -1), dim_names=("batch", "sequence"))
    return write_artifact(root / "pair" / version, two_input_model(), name="pair", inputs=(ids, mask), outputs=(score,))


def spec_model(root: Path) -> Path:
    """'mymodel', shaped like the OIP specification's example: input0 [2, 2] and input1 BOOL [3] -> output0 FP32 [3, 2].

    output0[i] = [float(input1[i]) + sum(input0), float(input1[i]) - sum(input0)]. The specification's input0 is UINT32,
    which the manifest format does not take (yet): INT32 here.
    """
    input0 = helper.make_tensor_value_info("input0", TensorProto.INT32, [2, 2])
    input1 = helper.make_tensor_value_info("input1", TensorProto.BOOL, [3])
    output0 = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [3, 2])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Cast", ["input0"], ["f0"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["f0"], ["total"], keepdims=0),
        helper.make_node("Cast", ["input1"], ["f1"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["f1", "axes"], ["col"]),
        helper.make_node("Add", ["col", "total"], ["plus"]),
        helper.make_node("Sub", ["col", "total"], ["minus"]),
        helper.make_node("Concat", ["plus", "minus"], ["output0"], axis=1),
    ]
    graph = helper.make_graph(nodes, "spec_example", [input0, input1], [output0], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return write_artifact(
        root / "mymodel" / "1",
        model.SerializeToString(),
        name="mymodel",
        inputs=(
            TensorSpec(name="input0", dtype="int32", shape=(2, 2)),
            TensorSpec(name="input1", dtype="bool", shape=(3,)),
        ),
        outputs=(TensorSpec(name="output0", dtype="float32", shape=(3, 2)),),
    )


def digits_model(root: Path) -> Path:
    """A copy of the shipped digits CNN in ``root``."""
    target = root / "digits-cnn" / "1"
    shutil.copytree(BUILTIN_ROOT / "digits-cnn" / "1", target)
    return target


def serving_store(root: Path) -> Path:
    """A store root with 'pair' and 'mymodel' (the digits CNN comes from the built-in store)."""
    pair_model(root)
    spec_model(root)
    return root
