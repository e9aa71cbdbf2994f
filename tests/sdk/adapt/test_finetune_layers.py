"""Finetune mode for the digits CNN and the sunspots LSTM (``sdk.adaptation.finetune_layers``), called directly: the
base rebuilt in torch from the artifact's own weights and checked against it, trained a few epochs, exported through
the compile pipeline, loaded with ``sdk.load``; bad inputs refused before any training; nothing left in ``out`` when
a step fails."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import sdk
from sdk.adaptation import AdaptResult, finetune_layers, rebuild
from sdk.adaptation.data import read_examples
from sdk.adaptation.features import Base, open_base
from sdk.artifacts.integrity import sha256_bytes, sha256_file
from sdk.artifacts.manifest import read_manifest, write_manifest
from sdk.errors import IntegrityError, InvalidInput, ParityFailure
from tests.sdk.adapt.conftest import write_png_csv

pytestmark = pytest.mark.slow  # each module fixture trains and compiles (seconds)


def run(base: Base, data: Path, out: Path, **overrides: Any) -> AdaptResult:
    options: dict[str, Any] = dict(
        private=False, seed=0, folds=5, name="finetuned", version="1", epochs=3, layers=None, progress=None
    )
    options.update(overrides)
    numeric = rebuild.architecture(base.manifest).kind == "series"
    return finetune_layers.finetune(base, read_examples(data, numeric=numeric), out, **options)


def initializers(path: Path) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


@pytest.fixture(scope="module")
def digits_base() -> Iterator[Base]:
    base = open_base("digits-cnn")
    yield base
    base.model.close()


@pytest.fixture(scope="module")
def digits_tuned(
    digits_base: Base, odd_even_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[AdaptResult, list[str]]:
    """The built-in CNN finetuned to odd/even on 60 PNGs, its last 2 layers only; the progress stages seen."""
    stages: list[str] = []
    result = run(
        digits_base,
        odd_even_data,
        tmp_path_factory.mktemp("ft") / "odd-even",
        layers=2,
        progress=lambda stage, done, total: stages.append(stage),
    )
    return result, stages


def elnino_windows(folder: Path, *, count: int = 130, window: int = 20) -> Path:
    """The first El Nino sea temperatures (statsmodels) mapped into the sunspot range, as JSONL windows."""
    from statsmodels.datasets import elnino

    values = elnino.load_pandas().data.drop(columns=["YEAR"]).to_numpy(dtype=np.float64).reshape(-1)[: count + window]
    values = (values - values.min()) / (values.max() - values.min()) * 140 + 10
    path = folder / "elnino.jsonl"
    rows = ({"window": values[t - window : t].tolist(), "label": float(values[t])} for t in range(window, len(values)))
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lstm_folder(tmp_path_factory: pytest.TempPathFactory, repo: Path) -> Path:
    """The sunspots recipe trained 3 epochs and compiled fp32 (its weights are not the point: their rebuild is)."""
    from sdk.compile import compile_source, from_recipe, load_recipe

    recipe = load_recipe("sunspots-lstm", root=repo)
    out = tmp_path_factory.mktemp("lstm") / "sunspots"
    compile_source(from_recipe(recipe, recipe.train(seed=0, epochs=3, progress=False), seed=0), out)
    return out


@pytest.fixture(scope="module")
def lstm_base(lstm_folder: Path) -> Iterator[Base]:
    base = open_base(lstm_folder)
    yield base
    base.model.close()


@pytest.fixture(scope="module")
def series_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return elnino_windows(tmp_path_factory.mktemp("elnino"))


# --- the rebuild ----------------------------------------------------------------------------------------------------


def test_rebuilt_cnn_reproduces_the_artifact_before_training(digits_base: Base, digits_split: Any) -> None:
    arch = rebuild.architecture(digits_base.manifest)
    module = rebuild.rebuild(digits_base, arch)
    diff = rebuild.check_rebuilt(module, digits_base, arch, digits_split.x_test[:64])
    assert diff < 1e-4


def test_rebuilt_lstm_takes_its_gates_back_from_onnx_order(lstm_base: Base, series_data: Path) -> None:
    arch = rebuild.architecture(lstm_base.manifest)
    module = rebuild.rebuild(lstm_base, arch)
    x = finetune_layers.model_inputs(lstm_base, read_examples(series_data, numeric=True))
    assert rebuild.check_rebuilt(module, lstm_base, arch, x) < 1e-2  # forecasts reach ~150


def test_a_graph_that_is_not_the_recipes_model_is_refused(tmp_path: Path, digits_artifact: Path, odd_even_data: Path):
    """Weights and hashes intact, one ReLU made a sigmoid: the rebuilt module disagrees, and nothing is trained."""
    folder = tmp_path / "digits-cnn"
    manifest = read_manifest(digits_artifact)
    model = onnx.load(str(digits_artifact / "model.onnx"))
    next(n for n in model.graph.node if n.op_type == "Relu").op_type = "Sigmoid"
    data = model.SerializeToString()
    folder.mkdir()
    (folder / "model.onnx").write_bytes(data)
    artifact = dataclasses.replace(manifest.artifacts[0], sha256=sha256_bytes(data), bytes=len(data))
    write_manifest(folder, dataclasses.replace(manifest, artifacts=(artifact,)))
    base = open_base(folder)
    try:
        with pytest.raises(ParityFailure, match="rebuilt torch model disagrees with the artifact"):
            run(base, odd_even_data, tmp_path / "out")
    finally:
        base.model.close()
    assert not (tmp_path / "out").exists()


def test_a_base_whose_bytes_fail_their_check_is_refused_before_finetuning(artifact_copy: Path) -> None:
    data = bytearray((artifact_copy / "model.onnx").read_bytes())
    data[-1] ^= 0xFF
    (artifact_copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="fails its integrity check"):
        open_base(artifact_copy)


# --- the finetuned artifact -----------------------------------------------------------------------------------------


def test_finetune_trains_the_last_layers_and_keeps_the_frozen_ones(digits_tuned: Any, digits_artifact: Path) -> None:
    result, stages = digits_tuned
    before, after = initializers(digits_artifact / "model.onnx"), initializers(result.path / "model.onnx")
    assert np.array_equal(before["features.0.weight"], after["model.features.0.weight"])  # frozen (layers=2)
    assert not np.allclose(before["head.1.weight"], after["model.head.1.weight"])  # trained
    assert after["model.head.4.weight"].shape == (2, 64)  # a new output layer for odd/even
    assert "finetune" in stages
    assert result.manifest.metrics["layers_trained"] == 2.0


def test_finetuned_digits_load_and_answer_raw_pngs_with_the_new_labels(digits_tuned: Any, repo: Path) -> None:
    result, _ = digits_tuned
    samples = repo / "models" / "digits_cnn" / "samples"
    with sdk.load(result.path) as model:
        answers = model.process([samples / f"digit_{d}.png" for d in (0, 3, 7, 9)])
        tensors = np.concatenate([np.load(samples / f"digit_{d}.npy") for d in (0, 3, 7, 9)])
        logits = model({"image": tensors})["logits"]
    assert model.manifest.labels == ("even", "odd")
    assert answers.labels == [model.manifest.labels[i] for i in logits.argmax(1)]


def test_finetuned_manifest_names_its_base_by_sha256_and_records_its_gates(
    digits_tuned: Any, digits_artifact: Path
) -> None:
    result, _ = digits_tuned
    manifest = read_manifest(result.path)
    assert manifest.base is not None and manifest.base.mode == "finetune"
    assert manifest.base.manifest_sha256 == sha256_file(digits_artifact / "manifest.json")
    assert manifest.base.ref == "digits-cnn@1" and not manifest.base.files
    fp32 = manifest.artifacts[0]
    assert fp32.parity is not None and fp32.parity.passed and result.parity.passed
    assert manifest.processors is not None and manifest.processors.image is not None
    assert result.head.labels == ("even", "odd")


def test_finetuned_forecaster_answers_raw_windows_and_gates_its_int8(
    lstm_base: Base, series_data: Path, tmp_path: Path
) -> None:
    result = run(lstm_base, series_data, tmp_path / "out", epochs=2)
    windows = [json.loads(line)["window"] for line in series_data.read_text().splitlines()[:3]]
    with sdk.load(result.path) as model:
        forecast = model.process(windows).tensors["forecast"]
    assert forecast.shape == (3, 1) and np.isfinite(forecast).all()
    files = {a.precision for a in result.manifest.artifacts}
    assert "int8" in files or any(note.startswith("int8 not shipped") for note in result.notes)
    assert result.mode == "finetune"
    assert result.manifest.metrics["held_out_examples"] >= finetune_layers.MIN_HELD_OUT  # epochs chosen held out
    assert result.manifest.base is not None and result.manifest.base.mode == "finetune"


# --- bad inputs -----------------------------------------------------------------------------------------------------


def test_class_labels_for_a_forecaster_are_refused_naming_the_fix(lstm_base: Base, tmp_path: Path) -> None:
    path = tmp_path / "classes.jsonl"
    path.write_text("".join(json.dumps({"window": [1.0] * 20, "label": c}) + "\n" for c in "ababab"), "utf-8")
    examples = read_examples(path, numeric=False)
    with pytest.raises(InvalidInput, match="forecasts numbers") as caught:
        finetune_layers.finetune(
            lstm_base,
            examples,
            tmp_path / "out",
            private=False,
            seed=0,
            folds=2,
            name="x",
            version="1",
            epochs=1,
            layers=None,
            progress=None,
        )
    assert "next value" in (caught.value.hint or "")


def test_images_for_a_forecaster_are_refused(lstm_base: Base, odd_even_data: Path, tmp_path: Path) -> None:
    png = read_examples(odd_even_data, numeric=False)
    numeric = dataclasses.replace(png, labels=[float(i) for i in range(len(png))])
    with pytest.raises(InvalidInput, match="gives image examples, but .* takes series input"):
        finetune_layers.finetune(
            lstm_base,
            numeric,
            tmp_path / "out",
            private=False,
            seed=0,
            folds=5,
            name="x",
            version="1",
            epochs=1,
            layers=None,
            progress=None,
        )


def test_one_class_only_is_refused(digits_base: Base, digits_split: Any, tmp_path: Path) -> None:
    data = write_png_csv(tmp_path / "d", digits_split.x_train[:6], ["odd"] * 6)
    with pytest.raises(InvalidInput, match="one class only"):
        run(digits_base, data, tmp_path / "out")


def test_more_layers_than_the_model_has_are_refused(digits_base: Base, odd_even_data: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="DigitsCNN has 4"):
        run(digits_base, odd_even_data, tmp_path / "out", layers=9)


def test_a_model_without_a_finetunable_recipe_is_refused(tmp_path: Path, series_data: Path) -> None:
    from tests.sdk.adapt.test_series_head import write_forecaster

    base = open_base(write_forecaster(tmp_path / "mean"))
    try:
        with pytest.raises(InvalidInput, match="not a model this release can finetune"):
            run(base, series_data, tmp_path / "out")
    finally:
        base.model.close()


def test_a_failure_after_training_leaves_out_as_it_was(
    digits_base: Base, odd_even_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The written folder is checked last (load and answer); a fault there (caused here: it cannot happen on a
    healthy install) must leave the previous ``out`` whole and no staging folder beside it."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous", encoding="utf-8")

    def broken(folder: Path, *args: Any) -> None:
        assert (folder / "model.onnx").is_file()  # the artifact was written in staging
        raise ParityFailure("the finetuned artifact answers NaN or infinity")

    monkeypatch.setattr(finetune_layers, "_answers", broken)
    with pytest.raises(ParityFailure):
        run(digits_base, odd_even_data, out, epochs=1)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- other ways in --------------------------------------------------------------------------------------------------


def write_five_class_base(folder: Path) -> Path:
    """A digits CNN exported outside its recipe, as benchmarks/_adapt_data.py does: 5 classes, a 'features' output,
    its weights under a wrapper's prefix, and no recipe named in the manifest."""
    import torch

    from models.digits_cnn.model import DigitsCNN
    from sdk.artifacts.manifest import ArtifactFile, Manifest, Source, TensorSpec
    from sdk.compile.torch_export import export_torch

    torch.manual_seed(0)
    cnn = DigitsCNN()
    cnn.head[4] = torch.nn.Linear(64, 5)

    class WithFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cnn = cnn

        def forward(self, image: Any) -> Any:
            hidden = self.cnn.head[:3](self.cnn.features(image))
            return self.cnn.head[4](hidden), hidden

    axes = {"image": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}}
    image = np.zeros((1, 1, 8, 8), np.float32)
    data = export_torch(WithFeatures(), {"image": image}, output_names=("logits", "features"), dynamic_axes=axes)
    assert isinstance(data, bytes)  # a small model: one file
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(data)
    spec = (("logits", 5), ("features", 64))
    write_manifest(
        folder,
        Manifest(
            name="digits-five",
            version="1",
            source=Source(framework="pytorch"),
            inputs=(
                TensorSpec(name="image", dtype="float32", shape=(-1, 1, 8, 8), dim_names=("batch",) + (None,) * 3),
            ),
            outputs=tuple(
                TensorSpec(name=n, dtype="float32", shape=(-1, w), dim_names=("batch", None)) for n, w in spec
            ),
            artifacts=(
                ArtifactFile(
                    kind="onnx", file="model.onnx", sha256=sha256_bytes(data), bytes=len(data), precision="fp32"
                ),
            ),
        ),
    )
    return folder


def test_a_base_exported_without_its_recipe_is_rebuilt_from_its_weights_and_finetuned(
    tmp_path: Path, digits_split: Any
) -> None:
    """No recipe named, 5 output classes, weights under a prefix, tensor examples (NPZ): the CNN is still recognised,
    its output layer resized to the artifact's, checked, and finetuned to 3 new classes with 'features' kept."""
    base = open_base(write_five_class_base(tmp_path / "five"))
    keep = np.isin(digits_split.y_train, (5, 6, 7))
    data = tmp_path / "digits.npz"
    np.savez(data, x=digits_split.x_train[keep][:30], y=digits_split.y_train[keep][:30])
    try:
        result = run(base, data, tmp_path / "out", epochs=2)
    finally:
        base.model.close()
    with sdk.load(result.path) as model:
        out = model({"image": digits_split.x_test[:4]})
    assert out["logits"].shape == (4, 3) and out["features"].shape == (4, 64)
    assert result.manifest.labels == ("5", "6", "7")
