"""The inference core on the real shipped model: load once, run many, report what really ran."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sdk import RuntimeConfig, load
from sdk.artifacts import LocalStore, Source, TensorSpec
from sdk.compile import ArtifactWriter, check_parity
from sdk.compile.torch_export import run_onnx
from sdk.errors import InvalidInput, ManifestError, ModelNotFound
from tests.sdk.onnx_models import two_input_model


@pytest.fixture(scope="module")
def model():
    return load("digits-cnn")


def test_shipped_model_classifies_held_out_digits(model, digits_split) -> None:
    x, y = digits_split.x_test, digits_split.y_test
    outputs = model({"image": x})
    assert set(outputs) == {"logits", "probabilities"}
    assert outputs["probabilities"].shape == (len(y), 10)
    accuracy = float((outputs["logits"].argmax(-1) == y).mean())
    assert accuracy >= 0.98
    np.testing.assert_allclose(outputs["probabilities"].sum(-1), 1.0, atol=1e-5)


def test_shipped_samples_predict_their_labels(model, repo: Path) -> None:
    for label in (0, 3, 7, 9):
        image = np.load(repo / "models" / "digits_cnn" / "samples" / f"digit_{label}.npy")
        assert int(model(image)["probabilities"].argmax()) == label


def test_cpu_machine_reports_the_cpu_provider_the_session_uses(model) -> None:
    assert model.info.providers == ("CPUExecutionProvider",)
    assert model.info.runtime == "onnxruntime"
    assert model.info.sha256 == model.artifact.sha256
    assert model.info.load_ms > 0 and model.info.warmup_ms > 0


def test_asking_for_cuda_on_this_machine_runs_on_cpu_and_says_so() -> None:
    m = load("digits-cnn", config=RuntimeConfig(providers=("CUDAExecutionProvider",)))
    assert m.info.providers == ("CPUExecutionProvider",)
    assert any("CUDAExecutionProvider" in note for note in m.info.notes)


def test_session_options_are_applied() -> None:
    m = load("digits-cnn", config=RuntimeConfig(threads=1, graph_optimization="disable", warmup_runs=0))
    assert m.info.warmup_ms == 0.0
    assert m(np.zeros((1, 1, 8, 8), np.float32))["logits"].shape == (1, 10)


def test_invalid_input_never_reaches_the_session(model, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(model.backend, "run", lambda feeds: calls.append(feeds))
    with pytest.raises(InvalidInput):
        model({"image": np.zeros((1, 1, 8, 8), np.float64)})
    assert calls == []


def test_unknown_model_is_model_not_found() -> None:
    with pytest.raises(ModelNotFound, match="unknown model 'resnet'"):
        load("resnet")


def test_path_without_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not an artifact folder"):
        load(tmp_path)


def _write_two_input_artifact(folder: Path, *, inputs: tuple[TensorSpec, ...]) -> None:
    data = two_input_model()
    sample = {"ids": np.array([[1, 2, 3]], np.int64), "mask": np.array([[1, 1, 0]], np.float32)}
    out = run_onnx(data, sample)
    writer = ArtifactWriter(
        folder,
        name="pair",
        version="1",
        source=Source(framework="onnx"),
        inputs=inputs,
        outputs=(TensorSpec(name="score", dtype="float32", shape=(-1, -1)),),
    )
    writer.add_model(data, file="model.onnx", parity=check_parity(out, out, tolerance=0, reference_name="self"))
    writer.write()


def test_multi_input_model_with_named_dynamic_dims(tmp_path: Path) -> None:
    ids = TensorSpec(name="ids", dtype="int64", shape=(-1, -1), dim_names=("batch", "sequence"), max_shape=(-1, 16))
    mask = TensorSpec(name="mask", dtype="float32", shape=(-1, -1), dim_names=("batch", "sequence"))
    _write_two_input_artifact(tmp_path / "pair", inputs=(ids, mask))
    m = load(tmp_path / "pair")
    out = m({"ids": np.array([[1, 2, 3]]), "mask": np.array([[1.0, 1.0, 0.0]], np.float32)})
    np.testing.assert_array_equal(out["score"], [[1.0, 2.0, 0.0]])
    with pytest.raises(InvalidInput, match="accepts at most 16"):
        m({"ids": np.ones((1, 17), np.int64), "mask": np.ones((1, 17), np.float32)})


def test_manifest_that_disagrees_with_the_model_is_refused(tmp_path: Path) -> None:
    ids = TensorSpec(name="ids", dtype="int32", shape=(-1, -1))
    mask = TensorSpec(name="mask", dtype="float32", shape=(-1, -1))
    _write_two_input_artifact(tmp_path / "pair", inputs=(ids, mask))
    with pytest.raises(ManifestError, match="input 'ids' is int32 rank 2 in the manifest but int64 rank 2"):
        load(tmp_path / "pair")


def test_corrupt_model_bytes_with_matching_hash_are_an_artifact_error(tmp_path: Path, digits_artifact: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    manifest = json.loads((digits_artifact / "manifest.json").read_text())
    garbage = b"\x08\x07this is not an onnx model"
    import hashlib

    manifest["artifacts"][0].update(sha256=hashlib.sha256(garbage).hexdigest(), bytes=len(garbage))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "model.onnx").write_bytes(garbage)
    from sdk.errors import ArtifactError

    with pytest.raises(ArtifactError, match="ONNX Runtime could not load model.onnx"):
        load(folder)


def test_store_lookup_by_alias(tmp_path: Path, digits_artifact: Path) -> None:
    store = LocalStore(tmp_path / "s")
    store.add(digits_artifact, alias="live")
    m = load("digits-cnn@live", store=store)
    assert m.info.extra["store"] == store.label
