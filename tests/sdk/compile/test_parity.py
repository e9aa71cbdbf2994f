from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdk.artifacts import Source, TensorSpec, read_manifest
from sdk.compile import ArtifactWriter, check_parity
from sdk.errors import ParityFailure

REF = {"logits": np.array([[1.0, 2.0], [3.0, 0.5]], np.float32)}


def test_identical_outputs_pass_with_top1_agreement() -> None:
    result = check_parity(REF, REF, tolerance=1e-6, reference_name="torch", classify_output="logits")
    assert result.passed and result.max_abs_diff == 0 and result.top1_agreement == 1.0
    assert result.samples == 2


def test_difference_over_tolerance_fails_and_names_the_output() -> None:
    cand = {"logits": REF["logits"] + np.array([[0, 0], [0, 3.0]], np.float32)}
    result = check_parity(REF, cand, tolerance=1e-3, reference_name="torch", classify_output="logits")
    assert not result.passed and result.top1_agreement == 0.5
    with pytest.raises(ParityFailure, match=r"model.onnx failed the parity gate against torch.*output 'logits'"):
        result.raise_if_failed("model.onnx")


def test_nan_in_the_candidate_fails_the_gate() -> None:
    cand = {"logits": np.array([[np.nan, 2.0], [3.0, 0.5]], np.float32)}
    assert not check_parity(REF, cand, tolerance=1.0, reference_name="torch").passed


def test_shape_or_missing_output_fails() -> None:
    with pytest.raises(ParityFailure, match="shape"):
        check_parity(REF, {"logits": REF["logits"][:1]}, tolerance=1, reference_name="torch")
    with pytest.raises(ParityFailure, match="no output"):
        check_parity(REF, {"other": REF["logits"]}, tolerance=1, reference_name="torch")


def test_writer_refuses_a_failed_artifact_and_writes_nothing(tmp_path: Path) -> None:
    writer = ArtifactWriter(
        tmp_path / "a",
        name="m",
        version="1",
        source=Source(framework="pytorch"),
        inputs=(TensorSpec(name="x", dtype="float32", shape=(-1, 2)),),
        outputs=(TensorSpec(name="logits", dtype="float32", shape=(-1, 2)),),
    )
    bad = check_parity(REF, {"logits": REF["logits"] + 1}, tolerance=1e-3, reference_name="torch")
    with pytest.raises(ParityFailure):
        writer.add_model(b"onnx bytes", file="model.onnx", parity=bad)
    assert not (tmp_path / "a" / "model.onnx").exists()


def test_writer_records_hashes_and_parity(tmp_path: Path) -> None:
    writer = ArtifactWriter(
        tmp_path / "a",
        name="m",
        version="1",
        source=Source(framework="pytorch"),
        inputs=(TensorSpec(name="x", dtype="float32", shape=(-1, 2)),),
        outputs=(TensorSpec(name="logits", dtype="float32", shape=(-1, 2)),),
    )
    writer.add_model(b"onnx bytes", file="model.onnx", parity=check_parity(REF, REF, tolerance=0, reference_name="t"))
    writer.add_file(b"vocab", file="tokenizer/vocab.txt", purpose="tokenizer")
    manifest = read_manifest(writer.write().name and tmp_path / "a")
    assert manifest.artifacts[0].bytes == len(b"onnx bytes") and manifest.artifacts[0].parity.passed
    assert manifest.files[0].file == "tokenizer/vocab.txt"
