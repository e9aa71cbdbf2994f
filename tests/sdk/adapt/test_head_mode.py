"""Head mode on the built-in digits CNN: a new labelling (odd/even) from PNG files, and classes 5-9 from tensors; the
adapted artifact loads with sdk.load, answers raw PNGs, carries its parity gate, and reuses the base's files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import sdk
from sdk.adaptation import AdaptResult, adapt
from sdk.artifacts import read_manifest
from sdk.artifacts.integrity import sha256_file
from sdk.artifacts.manifest import Manifest
from tests.sdk.adapt.conftest import odd_or_even, pick


def test_adapted_digits_answer_raw_pngs_with_the_new_labels(odd_even: AdaptResult, repo: Path) -> None:
    model = sdk.load(odd_even.path)
    samples = repo / "models" / "digits_cnn" / "samples"
    answers = model.process([samples / f"digit_{d}.png" for d in (0, 3, 7, 9)])
    assert model.manifest.labels == ("even", "odd")
    assert answers["score"].shape == (4, 2) and set(answers.labels or []) <= {"even", "odd"}
    # The PNG route (the base's image processor, then the chain) answers what the tensors of the same digits get.
    tensors = np.concatenate([np.load(samples / f"digit_{d}.npy") for d in (0, 3, 7, 9)])
    probabilities = model({"image": tensors})["probabilities"]
    assert answers.labels == [model.manifest.labels[i] for i in probabilities.argmax(1)]
    assert np.allclose(answers.tensors["probabilities"], probabilities, atol=2e-2)


def test_adapted_digits_generalize_to_held_out_digits(odd_even: AdaptResult, digits_split) -> None:
    model = sdk.load(odd_even.path)
    probabilities = model({"image": digits_split.x_test})["probabilities"]
    predicted = np.array(model.manifest.labels)[probabilities.argmax(1)]
    accuracy = float((predicted == np.array(odd_or_even(digits_split.y_test))).mean())
    assert accuracy >= 0.85  # 60 examples; the base's logits hold the digit, so odd/even is near linear in them
    assert odd_even.manifest.metrics["cv_accuracy"] >= 0.8


def test_parity_gate_is_recorded_against_the_in_memory_pipeline(odd_even: AdaptResult) -> None:
    parity = read_manifest(odd_even.path).artifacts[0].parity
    assert parity is not None and parity.passed
    assert parity.samples == 60 and parity.value <= parity.tolerance == 1e-4
    assert "in-memory pipeline" in parity.reference and "'logits'" in parity.reference
    assert parity.extra["top1_agreement"] == 1.0


def test_adapted_artifact_lists_the_base_files_by_the_base_sha256(odd_even: AdaptResult, digits_artifact: Path) -> None:
    manifest = read_manifest(odd_even.path)
    base = read_manifest(digits_artifact)
    assert manifest.base is not None
    assert (manifest.base.name, manifest.base.version, manifest.base.feature) == ("digits-cnn", "1", "logits")
    assert manifest.base.manifest_sha256 == sha256_file(digits_artifact / "manifest.json")
    (model,) = manifest.artifacts
    assert (model.file, model.sha256, model.bytes) == ("model.onnx", base.artifacts[0].sha256, base.artifacts[0].bytes)
    assert manifest.base.files == {"model.onnx": base.artifacts[0].sha256}
    assert (odd_even.path / "model.onnx").read_bytes() == (digits_artifact / "model.onnx").read_bytes()


def test_head_is_under_five_percent_of_the_base_bytes(odd_even: AdaptResult) -> None:
    manifest = read_manifest(odd_even.path)
    head = next(f for f in manifest.files if f.purpose == "head")
    base_bytes = sum(a.bytes for a in manifest.artifacts)
    assert head.file == "head.onnx" and head.bytes == (odd_even.path / "head.onnx").stat().st_size
    assert head.bytes < 0.05 * base_bytes
    assert odd_even.delta_share == pytest.approx(head.bytes / base_bytes)
    assert manifest.metrics["delta_share"] == pytest.approx(odd_even.delta_share)


def test_head_graph_is_valid_onnx_that_onnxruntime_runs(odd_even: AdaptResult) -> None:
    import onnx

    model = onnx.load(str(odd_even.path / "head.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ["Sub", "Mul", "MatMul", "Add", "Softmax"]
    assert {p.key: p.value for p in model.metadata_props}["base"] == "digits-cnn@1"


def test_new_classes_from_five_tensors_each_beat_chance_by_far(digits_split, tmp_path: Path) -> None:
    chosen = pick(digits_split.y_train, range(5, 10), 5, seed=1)
    data = tmp_path / "five-to-nine.npz"
    np.savez(data, x=digits_split.x_train[chosen].reshape(len(chosen), -1), y=digits_split.y_train[chosen])
    result = adapt("digits-cnn", data, tmp_path / "out", seed=1)
    assert result.head.labels == ("5", "6", "7", "8", "9")
    model = sdk.load(tmp_path / "out")
    held = np.isin(digits_split.y_test, range(5, 10))
    probabilities = model({"image": digits_split.x_test[held]})["probabilities"]
    predicted = np.array(result.head.labels)[probabilities.argmax(1)]
    accuracy = float((predicted == digits_split.y_test[held].astype(str)).mean())
    assert accuracy >= 0.8  # chance is 0.2


def test_private_sets_the_floor_and_public_keeps_the_base_floor(odd_even_data: Path, tmp_path: Path) -> None:
    private = adapt("digits-cnn", odd_even_data, tmp_path / "private", private=True)
    assert private.manifest.privacy_floor == "private"
    assert json.loads((tmp_path / "private" / "manifest.json").read_text())["privacy_floor"] == "private"
    assert read_manifest(tmp_path / "private").privacy_floor == "private"


def test_a_manifest_without_base_is_written_exactly_as_before(digits_artifact: Path) -> None:
    text = (digits_artifact / "manifest.json").read_text()
    manifest = Manifest.from_json(text)
    assert manifest.base is None
    assert "base" not in manifest.to_dict()
    assert json.loads(manifest.to_json()) == json.loads(text)
