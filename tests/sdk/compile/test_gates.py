"""The task-metric gate for fp16/int8 artifacts, and the writer's --allow-degraded path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdk.artifacts import Source, TensorSpec, read_manifest
from sdk.compile import ArtifactWriter, QualityGate, check_quality
from sdk.compile.gates import mean_cosine
from sdk.compile.pipeline import parse_precisions
from sdk.errors import ConfigError, ParityFailure

OUT = {"y": np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)}


def quality(gate: QualityGate, source: float, artifact: float):
    return check_quality(
        gate,
        reference_name="torch fp32",
        source_outputs=OUT,
        artifact_outputs=OUT,
        source_scores={gate.metric: source},
        artifact_scores={gate.metric: artifact},
        samples=2,
    )


def test_accuracy_drop_within_half_a_point_passes_and_beyond_fails() -> None:
    gate = QualityGate(metric="accuracy", max_drop=0.005)
    assert quality(gate, 0.98, 0.976).passed
    failed = quality(gate, 0.98, 0.97)
    assert not failed.passed
    with pytest.raises(ParityFailure, match=r"accuracy 0\.9700 vs source 0\.9800 \(accuracy_drop 0\.01"):
        failed.raise_if_failed("model.int8.onnx")


def test_rmse_may_rise_at_most_two_percent() -> None:
    gate = QualityGate(metric="rmse", max_relative_increase=0.02)
    assert quality(gate, 17.0, 17.3).passed
    assert not quality(gate, 17.0, 17.5).passed
    assert not quality(gate, 17.0, float("nan")).passed


def test_cosine_gate_compares_the_embeddings_themselves() -> None:
    gate = QualityGate(metric="cosine", minimum=0.99, output="y")
    rotated = {"y": np.array([[1.0, 0.2], [0.0, 1.0]], np.float32)}
    result = check_quality(
        gate,
        reference_name="torch",
        source_outputs=OUT,
        artifact_outputs=rotated,
        source_scores={},
        artifact_scores={},
        samples=2,
    )
    assert result.artifact_value == pytest.approx(mean_cosine(OUT["y"], rotated["y"])[0])
    assert result.passed and result.to_manifest().metric == "mean_cosine"
    assert result.to_manifest().extra["min_cosine"] < 1.0


def test_a_gate_needs_exactly_one_bound() -> None:
    with pytest.raises(ConfigError, match="exactly one bound"):
        QualityGate(metric="accuracy", max_drop=0.01, minimum=0.9)
    with pytest.raises(ConfigError, match="must name the output"):
        QualityGate(metric="cosine", minimum=0.99)


def test_precisions_always_include_the_fp32_reference_and_reject_unknowns() -> None:
    assert parse_precisions("int8") == ("fp32", "int8")
    assert parse_precisions("int8,fp16,fp32") == ("fp32", "fp16", "int8")
    with pytest.raises(ConfigError, match="unknown precision"):
        parse_precisions("fp8")


def _writer(folder: Path) -> ArtifactWriter:
    return ArtifactWriter(
        folder,
        name="m",
        version="1",
        source=Source(framework="pytorch"),
        inputs=(TensorSpec(name="x", dtype="float32", shape=(-1, 2)),),
        outputs=(TensorSpec(name="y", dtype="float32", shape=(-1, 2)),),
    )


def test_allow_degraded_ships_a_failed_artifact_with_its_reason_and_numbers(tmp_path: Path) -> None:
    failed = quality(QualityGate(metric="accuracy", max_drop=0.005), 0.98, 0.90)
    writer = _writer(tmp_path / "a")
    with pytest.raises(ParityFailure):
        writer.add_model(b"int8", file="model.int8.onnx", parity=failed, precision="int8")
    with pytest.raises(ParityFailure, match="needs a reason"):
        writer.add_model(b"int8", file="model.int8.onnx", parity=failed, precision="int8", degraded="  ")
    writer.add_model(b"int8", file="model.int8.onnx", parity=failed, precision="int8", degraded="edge demo only")
    writer.write()
    artifact = read_manifest(tmp_path / "a").artifacts[0]
    assert artifact.parity.waiver == "edge demo only"
    assert artifact.parity is not None and not artifact.parity.passed
    assert artifact.parity.extra["accuracy.artifact"] == pytest.approx(0.90)
