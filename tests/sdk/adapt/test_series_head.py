"""Head mode on a forecasting base: a ridge head, its answers in the new series' units, raw windows through the base's
series processor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import sdk
from sdk.adaptation import adapt
from sdk.artifacts.integrity import sha256_bytes
from sdk.artifacts.manifest import ArtifactFile, Manifest, Source, TensorSpec, write_manifest
from sdk.artifacts.processors_schema import OutputSpec, ProcessorsSpec, SeriesSpec

WINDOW = 4


def write_forecaster(folder: Path) -> Path:
    """A 'forecaster' whose forecast is the mean of its window of 4 (scaled by the series processor)."""
    window = helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", WINDOW])
    forecast = helper.make_tensor_value_info("forecast", TensorProto.FLOAT, ["batch", 1])
    weights = helper.make_tensor("w", TensorProto.FLOAT, [WINDOW, 1], [1 / WINDOW] * WINDOW)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["window", "w"], ["forecast"])], "f", [window], [forecast], [weights]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(data)
    write_manifest(
        folder,
        Manifest(
            name="mean-forecaster",
            version="1",
            source=Source(framework="onnx"),
            inputs=(TensorSpec(name="window", dtype="float32", shape=(-1, WINDOW), dim_names=("batch", None)),),
            outputs=(TensorSpec(name="forecast", dtype="float32", shape=(-1, 1), dim_names=("batch", None)),),
            artifacts=(
                ArtifactFile(
                    kind="onnx", file="model.onnx", sha256=sha256_bytes(data), bytes=len(data), precision="fp32"
                ),
            ),
            processors=ProcessorsSpec(
                series=SeriesSpec(input="window", window=WINDOW, mean=10.0, std=2.0),
                output=OutputSpec(kind="forecast", output="forecast", mean=10.0, std=2.0),
            ),
        ),
    )
    onnx.checker.check_model(model)
    return folder


def test_a_forecasting_base_gets_a_ridge_head_answering_in_the_new_units(tmp_path: Path) -> None:
    base = write_forecaster(tmp_path / "base")
    rng = np.random.default_rng(0)
    windows = rng.normal(10, 2, size=(30, WINDOW))
    targets = 1000 + 50 * windows.mean(axis=1)  # a new series: another scale and offset
    lines = [json.dumps({"window": w.tolist(), "label": float(t)}) for w, t in zip(windows, targets)]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = adapt(base, tmp_path / "d.jsonl", tmp_path / "out")
    assert result.head.kind == "regression" and result.manifest.task == "regression"
    assert result.manifest.labels is None and result.manifest.metrics["cv_rmse"] < 1.0
    model = sdk.load(tmp_path / "out")
    answer = model([11.0, 12.0, 9.0, 8.0])  # one raw window, oldest first
    assert answer["forecast"][0, 0] == pytest.approx(1000 + 50 * 10.0, abs=1.0)
    assert model.manifest.processors is not None and model.manifest.processors.series is not None
    assert result.parity.passed


def test_a_label_that_is_not_a_number_is_refused_for_a_forecasting_base(tmp_path: Path) -> None:
    base = write_forecaster(tmp_path / "base")
    lines = [json.dumps({"window": [1, 2, 3, 4], "label": label}) for label in (1.5, 2.5, "high", 3.0)]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(sdk.InvalidInput, match="d.jsonl line 3: label 'high' is not a number"):
        adapt(base, tmp_path / "d.jsonl", tmp_path / "out", folds=2)
