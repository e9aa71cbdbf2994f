"""`sdk models show` of an adapted model names its base and what of the base it still runs."""

from __future__ import annotations

from typer.testing import CliRunner

from sdk.adaptation import AdaptResult
from sdk.cli import app

runner = CliRunner()


def test_models_show_names_the_base_by_ref_and_manifest_sha256(odd_even: AdaptResult) -> None:
    base = odd_even.manifest.base
    assert base is not None
    args = ["models", "show", odd_even.manifest.ref, "--store", str(odd_even.path)]
    result = runner.invoke(app, args, env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"adapted from: digits-cnn@1 (manifest sha256 {base.manifest_sha256[:12]}" in text
    assert f"head mode: head.onnx reads the base's {base.feature!r} output; reuses the base's model.onnx" in text


def test_models_show_of_a_model_that_was_not_adapted_has_no_base_line() -> None:
    result = runner.invoke(app, ["models", "show", "digits-cnn"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    assert "adapted from" not in result.output
