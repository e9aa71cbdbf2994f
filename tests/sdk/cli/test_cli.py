from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sdk import __version__
from sdk.cli import app
from tests.partial_install import need

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_version_is_eager() -> None:
    result = invoke("--version", "models", "show", "nothing")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"aiaas-sdk {__version__}"


def test_help_teaches_with_examples() -> None:
    result = invoke("predict", "--help")
    assert result.exit_code == 0
    assert "sdk predict digits-cnn --input" in result.stdout
    assert "sha256" in result.stdout


def test_models_list_shows_the_builtin_model() -> None:
    result = invoke("models", "list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [(r["name"], r["version"], r["store"]) for r in rows] == [("digits-cnn", "1", "built-in models")]


def test_models_show_verifies_and_prints_the_signature() -> None:
    result = invoke("models", "show", "digits-cnn")
    assert result.exit_code == 0
    assert "every file matches its sha256" in result.stdout
    assert "[-1, 1, 8, 8]" in result.stdout and "pass" in result.stdout


@pytest.mark.parametrize("suffix", [".npy", ".json"])
def test_predict_prints_the_class_and_what_ran(repo: Path, suffix: str) -> None:
    sample = repo / "models" / "digits_cnn" / "samples" / f"digit_7{suffix}"
    result = invoke("predict", "digits-cnn", "--input", str(sample))
    assert result.exit_code == 0, result.output
    assert "item 0: 7" in result.stdout
    assert "onnxruntime" in result.stdout and "CPUExecutionProvider" in result.stdout and "verified" in result.stdout


def test_predict_json_output_and_npz_input(tmp_path: Path, digit_7: np.ndarray) -> None:
    path = tmp_path / "in.npz"
    np.savez(path, image=np.concatenate([digit_7, digit_7]))
    result = invoke("predict", "digits-cnn", "-i", str(path), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert np.argmax(body["outputs"]["probabilities"], axis=-1).tolist() == [7, 7]
    assert body["runtime"]["providers"] == ["CPUExecutionProvider"] and body["runtime"]["verified"] is True


def test_predict_oip_request_body_as_input(tmp_path: Path, digit_7: np.ndarray) -> None:
    path = tmp_path / "req.json"
    body = {"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": digit_7.ravel().tolist()}]}
    path.write_text(json.dumps(body))
    result = invoke("predict", "digits-cnn", "-i", str(path))
    assert result.exit_code == 0, result.output
    assert "item 0: 7" in result.stdout


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_tampered_artifact_fails_with_one_readable_line(artifact_copy: Path, repo: Path) -> None:
    model = artifact_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[100] ^= 0x01
    model.write_bytes(bytes(data))
    sample = repo / "models" / "digits_cnn" / "samples" / "digit_7.npy"
    result = invoke("predict", str(artifact_copy), "--input", str(sample))
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert line.startswith("error: IntegrityError: model.onnx failed its sha256 check")


def test_wrong_shape_names_the_input(tmp_path: Path) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, np.zeros((8, 8), np.float32))
    result = invoke("predict", "digits-cnn", "-i", str(path))
    assert result.exit_code == 1
    assert "input 'image': expected rank 4" in _one_error_line(result)


def test_unknown_model_lists_what_exists(digit_7: np.ndarray, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", digit_7)
    result = invoke("predict", "resnet", "-i", str(tmp_path / "x.npy"))
    assert result.exit_code == 1
    assert "unknown model 'resnet'" in _one_error_line(result)
    assert "fix: models here: digits-cnn" in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.npy", None, "does not exist"),
        ("bad.json", "{oops", "cannot read"),
        ("bad.txt", "1,2", "unsupported input file type"),
    ],
)
def test_unreadable_input_files_are_named(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = invoke("predict", "digits-cnn", "-i", str(path))
    assert result.exit_code == 1
    assert message in _one_error_line(result)


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    result = invoke("--verbose", "predict", "resnet", "-i", str(tmp_path / "none.npy"))
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


def test_doctor_reports_extras_providers_and_tools() -> None:
    need("onnxruntime")  # what it reports of the installed runtime
    result = invoke("doctor", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["extras"]["edge"]["installed"] is True
    assert report["onnxruntime"]["auto_plan"] == ["CPUExecutionProvider"]
    # Each GPU as `nvidia-smi -L` names it: none here, one line per GPU on a GPU machine (where this file runs too).
    listed = (
        subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True) if shutil.which("nvidia-smi") else None
    )
    assert report["gpus"] == ([line for line in listed.stdout.splitlines() if line.strip()] if listed else [])
    assert "digits-cnn" in report["store"]["models"]
    assert report["extras"]["tf"]["install"] == 'pip install "aiaas-sdk[tf]"'


def test_doctor_text_shows_install_commands_unmangled() -> None:
    need("onnxruntime")  # the GPU advice is for an installed CPU onnxruntime
    result = invoke("doctor")
    assert result.exit_code == 0
    assert 'pip uninstall -y onnxruntime && pip install "aiaas-sdk[gpu]"' in result.stdout
