"""Linear models as ONNX artifacts, whose true attributions are known: for f(x) = w . x + b with unit i removed to
its baseline b_i, every unit contributes w_i * (x_i - b_i), and those are the Shapley values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sdk.artifacts.integrity import sha256_bytes
from sdk.artifacts.manifest import ArtifactFile, Manifest, Source, TensorSpec, write_manifest
from sdk.artifacts.processors_schema import ImageSpec, OutputSpec, ProcessorsSpec, SeriesSpec


def _linear(name: str, shape: list[int | str], weights: np.ndarray, bias: np.ndarray, output: str) -> bytes:
    """input [batch, *shape] -> Flatten -> MatMul weights [features, k] + bias -> output [batch, k]."""
    x = helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shape])
    y = helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", weights.shape[1]])
    nodes = [
        helper.make_node("Flatten", [name], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["product"]),
        helper.make_node("Add", ["product", "b"], [output]),
    ]
    inits = [
        numpy_helper.from_array(weights.astype(np.float32), "w"),
        numpy_helper.from_array(bias.astype(np.float32), "b"),
    ]
    graph = helper.make_graph(nodes, "linear", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _write(folder: Path, name: str, model: bytes, inputs: TensorSpec, outputs: TensorSpec, **extra: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(model)
    manifest = Manifest(
        name=name,
        version="1",
        source=Source(framework="onnx"),
        inputs=(inputs,),
        outputs=(outputs,),
        artifacts=(
            ArtifactFile(
                kind="onnx", file="model.onnx", sha256=sha256_bytes(model), bytes=len(model), precision="fp32"
            ),
        ),
        **extra,  # type: ignore[arg-type]
    )
    write_manifest(folder, manifest)
    return folder


def write_linear_series(
    folder: Path,
    weights: np.ndarray,
    *,
    bias: float = 0.5,
    mean: float = 10.0,
    std: float = 2.0,
    out_mean: float = 100.0,
    out_std: float = 3.0,
    max_batch: int | None = None,
    processors: bool = True,
) -> Path:
    """forecast = (w . (window - mean) / std + bias) * out_std + out_mean, window [batch, W, 1]: a removed lag is
    the series mean."""
    window = len(weights)
    model = _linear("window", [window, 1], np.asarray(weights).reshape(window, 1), np.array([bias]), "forecast")
    spec = ProcessorsSpec(
        series=SeriesSpec(input="window", window=window, mean=mean, std=std),
        output=OutputSpec(kind="forecast", output="forecast", mean=out_mean, std=out_std),
    )
    return _write(
        folder,
        "linear-series",
        model,
        TensorSpec(
            name="window",
            dtype="float32",
            shape=(-1, window, 1),  # rank 3, as the sunspots LSTM: a list of windows is raw input, not a tensor
            dim_names=("batch", None, None),
            max_shape=(max_batch, window, 1) if max_batch else None,
        ),
        TensorSpec(name="forecast", dtype="float32", shape=(-1, 1), dim_names=("batch", None)),
        processors=spec if processors else None,
    )


def write_linear_image(folder: Path, weights: np.ndarray, *, size: tuple[int, int] = (16, 16)) -> Path:
    """scores = w . pixels (NCHW grey, pixel / 255), explained as classes without activation: each class score is
    linear in the pixels."""
    height, width = size
    classes = weights.shape[1]
    model = _linear("image", [1, height, width], weights, np.zeros(classes), "scores")
    spec = ProcessorsSpec(
        image=ImageSpec(input="image", mode="L", size=size, layout="NCHW"),
        output=OutputSpec(kind="classes", output="scores", activation="none", top_k=1),
    )
    return _write(
        folder,
        "linear-image",
        model,
        TensorSpec(name="image", dtype="float32", shape=(-1, 1, height, width), dim_names=("batch", None, None, None)),
        TensorSpec(name="scores", dtype="float32", shape=(-1, classes), dim_names=("batch", None)),
        processors=spec,
        labels=tuple(f"class-{k}" for k in range(classes)),
    )
