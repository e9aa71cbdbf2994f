"""Which artifact runs by default (#20): the fastest that passed its quality gate, not fp32 only; ``precision=`` and
``AIAAS_PRECISION`` pin one; a gate that failed keeps an artifact out unless pinned; `sdk models show` says which
runs and why. Real parts: the shipped CNN, and a real int8 of it (ONNX Runtime's dynamic quantizer: ConvInteger,
MatMulInteger), gated on the held-out digits. `sdk compile` does not build this one (dynamic int8 convolutions are
slower than fp32, FACTS.md), which is also why a server's measurement may keep fp32 here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sdk import RuntimeConfig, load
from sdk.artifacts import LocalStore, Source, read_manifest
from sdk.compile import ArtifactWriter, check_parity
from sdk.compile.torch_export import run_onnx
from sdk.runtime import choice


def _dynamic_int8(model: bytes, scratch: Path) -> bytes:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "fp32.onnx").write_bytes(model)
    quantize_dynamic(scratch / "fp32.onnx", scratch / "int8.onnx", weight_type=QuantType.QUInt8)
    return (scratch / "int8.onnx").read_bytes()


def _write(folder: Path, digits_artifact: Path, x: np.ndarray, *, int8_tolerance: float) -> Path:
    manifest = read_manifest(digits_artifact)
    fp32 = (digits_artifact / "model.onnx").read_bytes()
    int8 = _dynamic_int8(fp32, folder.parent)
    reference = run_onnx(fp32, {"image": x})
    writer = ArtifactWriter(
        folder,
        name="digits-int8",
        version="1",
        source=Source(framework="onnx"),
        inputs=manifest.inputs,
        outputs=manifest.outputs,
        task=manifest.task,
        labels=manifest.labels,
    )
    writer.add_model(
        fp32, file="model.onnx", parity=check_parity(reference, reference, tolerance=0, reference_name="x")
    )
    gate = check_parity(reference, run_onnx(int8, {"image": x}), tolerance=int8_tolerance, reference_name="fp32")
    degraded = None if gate.passed else "kept to show that a failed gate is never chosen by default"
    writer.add_model(int8, file="model.int8.onnx", precision="int8", parity=gate, degraded=degraded)
    writer.write()
    return folder


@pytest.fixture(scope="module")
def gated_int8(digits_artifact: Path, digits_split, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fp32 + an int8 that passed its gate (logits within 0.5 of fp32 on 360 held-out digits)."""
    return _write(tmp_path_factory.mktemp("int8") / "ok", digits_artifact, digits_split.x_test, int8_tolerance=0.5)


@pytest.fixture(scope="module")
def failed_int8(digits_artifact: Path, digits_split, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same int8, shipped with a waiver after failing a tolerance it cannot meet."""
    return _write(tmp_path_factory.mktemp("int8") / "bad", digits_artifact, digits_split.x_test, int8_tolerance=1e-9)


def test_by_default_the_int8_that_passed_its_gate_runs_not_fp32(gated_int8: Path, digits_split) -> None:
    model = load(gated_int8, config=RuntimeConfig(usage="oneshot"))
    assert (model.info.precision, model.info.artifact) == ("int8", "model.int8.onnx")
    assert any("int8 ranks first of the precisions that passed their gate" in n for n in model.info.notes)
    accuracy = float((model({"image": digits_split.x_test})["logits"].argmax(-1) == digits_split.y_test).mean())
    assert accuracy >= 0.97


def test_precision_argument_and_env_pin_an_artifact(gated_int8: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    oneshot = RuntimeConfig(usage="oneshot")
    assert load(gated_int8, config=oneshot, precision="fp32").info.precision == "fp32"
    monkeypatch.setenv("AIAAS_PRECISION", "fp32")
    assert load(gated_int8, config=RuntimeConfig.from_env(usage="oneshot")).info.precision == "fp32"
    monkeypatch.setenv("AIAAS_PRECISION", "auto")
    assert load(gated_int8, config=RuntimeConfig.from_env(usage="oneshot")).info.precision == "int8"
    monkeypatch.setenv("AIAAS_PRECISION", "fp16")  # a preference the model lacks: the automatic choice
    assert load(gated_int8, config=RuntimeConfig.from_env(usage="oneshot")).info.precision == "int8"


def test_an_int8_that_failed_its_gate_runs_only_when_pinned(failed_int8: Path) -> None:
    for usage in ("oneshot", "server"):
        assert load(failed_int8, config=RuntimeConfig(usage=usage)).info.precision == "fp32"
    pinned = load(failed_int8, config=RuntimeConfig(usage="oneshot"), precision="int8")
    assert pinned.info.artifact == "model.int8.onnx"
    assert any("failed its parity gate" in n and "kept to show" in n for n in pinned.info.notes)


def test_a_server_times_every_gated_precision_and_keeps_the_fastest(gated_int8: Path) -> None:
    model = load(gated_int8, config=RuntimeConfig(usage="server"))
    made = model.info.extra["backend_choice"]
    assert set(made["timings_ms"]) == {"model.onnx", "model.int8.onnx"}
    # The best-ranked (int8) stays unless fp32 beats it by the margin, as it may for this tiny CNN.
    assert model.info.artifact == choice.fastest({f: made["timings_ms"][f] for f in ("model.int8.onnx", "model.onnx")})


def test_models_show_says_which_artifact_runs_and_why(gated_int8: Path, tmp_path: Path) -> None:
    from sdk.cli import app

    store = tmp_path / "store"
    LocalStore(store).add(gated_int8)
    result = CliRunner().invoke(
        app, ["models", "show", "digits-int8", "--store", str(store)], env={"COLUMNS": "200", "AIAAS_USAGE": None}
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "runs here (precision: none pinned" in text and "usage now: server" in text
    assert "oneshot: model.int8.onnx (int8, onnxruntime): model.int8.onnx for a oneshot process" in text
    assert "server: model.int8.onnx (int8, onnxruntime): not measured on this device yet" in text
    pinned = CliRunner().invoke(
        app, ["models", "show", "digits-int8", "--store", str(store)], env={"COLUMNS": "200", "AIAAS_PRECISION": "fp32"}
    )
    assert "precision: fp32 pinned (AIAAS_PRECISION)" in pinned.stdout
    assert "every usage: model.onnx (fp32, onnxruntime): the only candidate" in pinned.stdout


def test_a_model_with_fp32_only_still_loads_fp32(artifact_copy: Path) -> None:
    for usage in ("oneshot", "function", "server"):
        model = load(artifact_copy, config=RuntimeConfig(usage=usage))
        assert (model.info.precision, model.info.artifact) == ("fp32", "model.onnx")
        assert "backend_choice" not in model.info.extra  # one candidate: nothing to choose
