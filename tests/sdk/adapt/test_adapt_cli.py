"""`sdk adapt` on the command line: it writes the adapted artifact and says what it made (quality, parity, delta)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import sdk
from sdk.cli import app

runner = CliRunner()


def test_sdk_adapt_writes_the_artifact_and_reports_quality_parity_and_delta(
    odd_even_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "odd-even"
    args = ["adapt", "digits-cnn", "--data", str(odd_even_data), "--out", str(out), "--private", "--folds", "3"]
    result = runner.invoke(app, [*args, "--name", "digits-odd-even", "--seed", "2"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "digits-odd-even@1" in text and "cross-validated accuracy" in text and "over 2 classes" in text
    assert "parity: max |diff|" in text and "head.onnx" in text and "of the base's 154943 bytes" in text
    assert "privacy floor: private" in text
    model = sdk.load(out)
    assert model.manifest.privacy_floor == "private" and model.manifest.metrics["folds"] == 3.0
    assert model.manifest.metrics["seed"] == 2.0


def test_sdk_adapt_help_shows_examples_and_the_data_formats() -> None:
    result = runner.invoke(app, ["adapt", "--help"], env={"COLUMNS": "120", "TERM": "dumb"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "sdk adapt digits-cnn --data odd_even.npz --out out/digits-odd-even" in text
    assert "--private" in text and "--folds" in text and ".jsonl" in text
