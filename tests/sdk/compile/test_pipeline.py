"""The compile pipeline end to end on small sources: the gate stops a broken export, policy skips int8 convolutions,
and the CLI compiles a factory and a trained recipe folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sdk import load
from sdk.artifacts import read_manifest, verify_artifact
from sdk.cli import app
from sdk.compile import Progress, compile_source, from_recipe, load_recipe
from sdk.compile.recipe import find_recipe
from sdk.errors import ConfigError, ModelNotFound, ParityFailure

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
runner = CliRunner()


@pytest.fixture(scope="module")
def cnn_source(repo: Path):
    recipe = load_recipe("digits-cnn", root=repo)
    return from_recipe(recipe, recipe.train(seed=0, epochs=2, progress=False), seed=0)


def perturbed(model: bytes) -> bytes:
    """The same graph with one weight of its largest initializer changed by 0.5."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(model)
    biggest = max(graph.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    weights = numpy_helper.to_array(biggest).copy()
    weights.flat[0] += 0.5
    biggest.CopyFrom(numpy_helper.from_array(weights, biggest.name))
    return graph.SerializeToString()


def test_a_perturbed_weight_in_the_onnx_is_caught_and_nothing_is_written(cnn_source, tmp_path: Path) -> None:
    broken = dataclasses.replace(cnn_source, export=lambda: perturbed(cnn_source.export()))
    with pytest.raises(ParityFailure, match=r"model\.onnx \(fp32\): max \|diff\|") as caught:
        compile_source(broken, tmp_path / "out", precisions="fp32,fp16")
    assert "360 held-out samples" in caught.value.message
    assert not (tmp_path / "out").exists()


def test_allow_degraded_ships_the_broken_export_with_the_reason(cnn_source, tmp_path: Path) -> None:
    broken = dataclasses.replace(cnn_source, export=lambda: perturbed(cnn_source.export()))
    result = compile_source(broken, tmp_path / "out", allow_degraded="debugging the exporter")
    artifact = read_manifest(tmp_path / "out").artifact()
    assert artifact.parity.waiver == "debugging the exporter" and not artifact.parity.passed
    assert result.manifest is not None


def test_cnn_int8_is_skipped_by_policy_and_the_rest_compiles(cnn_source, tmp_path: Path) -> None:
    progress = Progress()
    result = compile_source(cnn_source, tmp_path / "cnn", precisions="fp32,fp16,int8", progress=progress)
    assert result.manifest is not None
    assert sorted(a.precision for a in result.manifest.artifacts) == ["fp16", "fp32"]
    assert any("int8 skipped by policy" in n and "convolutions" in n for n in progress.notes)
    verify_artifact(tmp_path / "cnn", result.manifest)
    fp16 = load(tmp_path / "cnn", precision="fp16")
    assert fp16(cnn_source.evaluation.inputs)["logits"].shape == (360, 10)


def test_with_calibration_data_int8_convolutions_ship_statically_quantized_for_openvino(
    cnn_source, digits_split, tmp_path: Path
) -> None:
    """Dynamic int8 convolutions are refused (slow in ONNX Runtime); static int8 with real calibration images is not,
    and the only int8 artifact is then OpenVINO's, which `sdk.load` picks for precision int8."""
    pytest.importorskip("nncf", reason='static int8 needs pip install "aiaas-sdk[openvino]"')
    calibrated = dataclasses.replace(
        cnn_source, calibration=[{"image": digits_split.x_train[i : i + 32]} for i in range(0, 320, 32)]
    )
    progress = Progress()
    result = compile_source(calibrated, tmp_path / "cnn", precisions="fp32,int8", progress=progress)
    assert result.manifest is not None
    int8 = result.manifest.artifact(precision="int8")
    assert (int8.file, int8.target["runtime"], int8.target["calibration_samples"]) == (
        "model.int8.openvino.onnx",
        "openvino",
        10,
    )
    assert int8.parity.passed and int8.parity.metric == "accuracy_drop" and int8.parity.value <= 0.005
    assert any("int8 skipped by policy" in n for n in progress.notes)  # the dynamic one
    model = load(tmp_path / "cnn", precision="int8")
    assert model.info.runtime == "openvino"
    accuracy = float((model(cnn_source.evaluation.inputs)["logits"].argmax(-1) == digits_split.y_test).mean())
    assert accuracy == pytest.approx(result.manifest.metrics["int8.openvino.accuracy"], abs=1e-9)


def test_a_static_int8_that_misses_its_gate_or_cannot_be_built_is_left_out_with_a_note(
    cnn_source, digits_split, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdk.compile import optimize
    from sdk.compile.recipe import QualityGate

    pytest.importorskip("nncf")
    calibration = [{"image": digits_split.x_train[:32]}]
    strict = dataclasses.replace(
        cnn_source, calibration=calibration, quality=QualityGate(metric="accuracy", max_drop=-1.0)
    )
    progress = Progress()
    result = compile_source(strict, tmp_path / "a", precisions="fp32,int8", progress=progress)
    assert result.manifest is not None and [a.file for a in result.manifest.artifacts] == ["model.onnx"]
    assert any("model.int8.openvino.onnx missed the quality gate and is not shipped" in n for n in progress.notes)

    monkeypatch.setattr(optimize, "static_int8_unavailable", lambda: 'nncf not installed (pip install "x")')
    progress = Progress()
    compile_source(
        dataclasses.replace(cnn_source, calibration=calibration),
        tmp_path / "b",
        precisions="fp32,int8",
        progress=progress,
    )
    assert "static int8 for OpenVINO not built: nncf not installed" in " ".join(progress.notes)


def test_recipes_are_found_by_name_or_path_and_unknown_names_list_the_known(repo: Path) -> None:
    assert find_recipe("sunspots-lstm", root=repo).name == "sunspots_lstm"
    assert find_recipe(str(repo / "models" / "minilm_l6"), root=repo).name == "minilm_l6"
    with pytest.raises(ModelNotFound, match="recipes there: .*digits-cnn"):
        find_recipe("resnet", root=repo)


def test_cli_compiles_a_torch_factory_and_says_tensorrt_is_absent_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "mlp"
    result = runner.invoke(
        app,
        ["compile", f"{HERE / 'tiny_factory.py'}:make", "--out", str(out), "--precision", "fp32,int8", "--tensorrt"],
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "--tensorrt" in line]
    assert len(lines) == 1 and "TensorRT is not installed" in lines[0]
    manifest = read_manifest(out)
    assert {a.precision for a in manifest.artifacts} == {"fp32", "int8"} and manifest.name == "tiny-factory"
    assert manifest.artifact(precision="int8").parity.metric == "mean_cosine"


def test_cli_factory_without_inputs_explains_what_is_missing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compile", f"{HERE / 'tiny_factory.py'}:make_module_only", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "needs held-out real inputs" in result.output and "--inputs FILE.npz" in result.output


def test_cli_train_then_compile_the_trained_folder(repo: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    trained = tmp_path / "trained"
    result = runner.invoke(app, ["train", "sunspots-lstm", "--epochs", "3", "--out", str(trained)])
    assert result.exit_code == 0, result.output
    assert (trained / "trained.json").is_file() and "test_rmse" in result.output
    out = tmp_path / "artifact"
    result = runner.invoke(app, ["compile", str(trained), "--out", str(out), "--precision", "int8"])
    assert result.exit_code == 0, result.output
    assert "parity gate: fp32 ONNX vs the source" in result.output
    manifest = read_manifest(out)
    assert manifest.source.recipe == "models/sunspots_lstm" and manifest.metrics["ar9_test_rmse"] > 19


def test_cli_rejects_an_unknown_precision(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compile", "digits-cnn", "--out", str(tmp_path), "--precision", "int4"])
    assert result.exit_code == 1 and "unknown precision(s) int4" in result.output
    with pytest.raises(ConfigError):
        from sdk.compile.pipeline import parse_precisions

        parse_precisions("int4")


def test_cli_private_sets_the_privacy_floor(tmp_path: Path) -> None:
    out = tmp_path / "mlp"
    result = runner.invoke(app, ["compile", f"{HERE / 'tiny_factory.py'}:make", "--out", str(out), "--private"])
    assert result.exit_code == 0, result.output
    assert read_manifest(out).privacy_floor == "private"


def test_cli_calibration_file_feeds_static_int8_and_a_mismatched_one_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("nncf")
    good, bad = tmp_path / "calib.npz", tmp_path / "bad.npz"
    np.savez(good, features=np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32))
    np.savez(bad, features=np.zeros((4, 6), np.float64))
    factory = f"{HERE / 'tiny_factory.py'}:make"
    args = ["compile", factory, "--out", str(tmp_path / "mlp"), "--precision", "fp32,int8"]
    result = runner.invoke(app, [*args, "--calibration", str(good)])
    assert result.exit_code == 0, result.output
    assert "static Q/DQ (NNCF, 2 calibration inputs)" in result.output  # 40 rows, batches of 32
    refused = runner.invoke(app, [*args, "--calibration", str(bad)])
    assert refused.exit_code != 0
    assert "'features' is float64 rank 2, the model takes float32 rank 2" in refused.output
