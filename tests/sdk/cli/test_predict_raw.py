"""`sdk predict --text/--image`: raw inputs through the model's own processors, on this device; answers, not tensors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdk.cli import app
from tests.sdk.runtime.text_artifact import write_text_artifact

pytest.importorskip("PIL", reason='image input needs pip install "aiaas-sdk[images]"')
runner = CliRunner()
SAMPLES = Path(__file__).resolve().parents[3] / "models" / "digits_cnn" / "samples"
ENV = {"COLUMNS": "200", "TERM": "dumb"}


def test_a_digit_png_prints_its_label_and_score() -> None:
    result = runner.invoke(app, ["predict", "digits-cnn", "--image", str(SAMPLES / "digit_7.png")], env=ENV)
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()[:2]
    assert first.startswith("7 (0.9") or first.startswith("7 (1.00)")
    assert "raw input processed on this device" in second and "verified" in second


def test_several_images_and_json() -> None:
    images = [str(SAMPLES / f"digit_{d}.png") for d in (0, 3, 9)]
    args = ["predict", "digits-cnn", "--json", "--top", "2"] + [x for p in images for x in ("--image", p)]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [row[0] for row in body["outputs"]["label"]] == ["0", "3", "9"]
    assert len(body["outputs"]["score"][0]) == 2 and body["route"] == "local" and body["runtime"]["verified"]


def test_text_prints_the_embedding_and_reports_truncation(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    folder = write_text_artifact(tmp_path / "tiny-text", normalize="l2")
    args = ["predict", str(folder), "--text", "the cat", "--text", "the cat sat on the mat a cat"]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    assert "truncated: text 1: 10 tokens, truncated to 6" in result.stdout
    assert "embedding float32 [2, 2]" in result.stdout and "tokens per text: 4, 10" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image", "README.md"], "InvalidInput: image 0 (README.md) is not a PNG or JPEG image"),
        (["--image", "no-such.png"], "--image no-such.png does not exist"),
        (["--text", "a sentence"], "item 0 is str; a list of images holds PNG or JPEG bytes"),
        (["--text", "a", "--image", str(SAMPLES / "digit_7.png")], "pass --text or --image, not both"),
        (["-i", str(SAMPLES / "digit_7.npy"), "--text", "a"], "either --input (tensors) or --text/--image"),
        ([], "nothing to predict on"),
    ],
)
def test_bad_raw_input_is_one_readable_line(repo: Path, monkeypatch: pytest.MonkeyPatch, args, message) -> None:
    monkeypatch.chdir(repo)
    result = runner.invoke(app, ["predict", "digits-cnn", *args], env=ENV)
    assert result.exit_code == 1
    assert message in result.stderr.replace("\n", " ") and "Traceback" not in result.stderr
