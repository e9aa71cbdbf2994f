"""Bad input to `sdk adapt`: each a clear error naming the file or row and the fix, and nothing written in --out (a
folder already there is left exactly as it was, and no staging folder stays behind)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sdk.adaptation import adapt
from sdk.cli import app
from sdk.errors import AiaasError, IntegrityError, InvalidInput
from tests.sdk.adapt.conftest import odd_or_even, pick, write_png_csv

runner = CliRunner()


def tensors_csv(folder: Path, x: np.ndarray, labels) -> Path:
    rows = [",".join([*(f"x{i}" for i in range(x.shape[1])), "label"])]
    rows += [",".join([*(repr(float(v)) for v in row), str(label)]) for row, label in zip(x, labels)]
    (folder / "data.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder / "data.csv"


@pytest.fixture(scope="module")
def few(digits_split) -> tuple[np.ndarray, list[str]]:
    chosen = pick(digits_split.y_train, range(10), 2)
    return digits_split.x_train[chosen].reshape(len(chosen), -1), odd_or_even(digits_split.y_train[chosen])


def one_class(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    np.savez(folder / "d.npz", x=x, y=np.array(["odd"] * len(x)))
    return folder / "d.npz", {}


def fewer_than_folds(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    np.savez(folder / "d.npz", x=x[:4], y=np.array(["odd", "even", "odd", "even"]))
    return folder / "d.npz", {"folds": 5}


def text_for_an_image_model(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    lines = [f'{{"text": "a digit that looks {label}", "label": "{label}"}}' for label in labels]
    (folder / "d.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "d.jsonl", {}


def a_text_file_as_an_image(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    data = write_png_csv(folder, x, labels)
    (folder / "notes.txt").write_text("not an image\n")
    lines = data.read_text().splitlines()
    lines[3] = "notes.txt," + lines[3].split(",")[1]
    data.write_text("\n".join(lines) + "\n")
    return data, {}


def wrong_width(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    return tensors_csv(folder, x[:, :63], labels), {}


def nan_value(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    x = x.copy()
    x[4, 5] = np.nan
    return tensors_csv(folder, x, labels), {}


def nan_in_npz(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    x = x.copy()
    x[7, 0] = np.nan
    np.savez(folder / "d.npz", x=x, y=np.array(labels))
    return folder / "d.npz", {}


def empty_row(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    data = tensors_csv(folder, x, labels)
    lines = data.read_text().splitlines()
    lines.insert(5, "," * x.shape[1])
    data.write_text("\n".join(lines) + "\n")
    return data, {}


def empty_label(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    return tensors_csv(folder, x, [*labels[:6], "", *labels[7:]]), {}


def empty_json_object(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    lines = [f'{{"x": {row.tolist()}, "label": "{label}"}}' for row, label in zip(x, labels)]
    lines.insert(2, "{}")
    (folder / "d.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "d.jsonl", {}


def latin1(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    data = tensors_csv(folder, x, [f"{label}é" for label in labels])
    data.write_bytes(data.read_text(encoding="utf-8").encode("latin-1"))
    return data, {}


def tampered_base(folder: Path, x: np.ndarray, labels: list[str]) -> tuple[Path, dict]:
    from sdk.artifacts.store import BUILTIN_ROOT

    base = folder / "base"
    shutil.copytree(BUILTIN_ROOT / "digits-cnn" / "1", base)
    data = bytearray((base / "model.onnx").read_bytes())
    data[1000] ^= 0xFF
    (base / "model.onnx").write_bytes(bytes(data))
    np.savez(folder / "d.npz", x=x, y=np.array(labels))
    return folder / "d.npz", {"base": base}


Case = Callable[[Path, np.ndarray, list[str]], tuple[Path, dict]]
CASES: list[tuple[Case, type[AiaasError], str]] = [
    (one_class, InvalidInput, r"d.npz holds one class only \('odd'\): a classifier needs two or more"),
    (fewer_than_folds, InvalidInput, "d.npz holds 4 example.s., fewer than the 5 cross-validation folds"),
    (text_for_an_image_model, InvalidInput, "d.jsonl gives text examples, but digits-cnn@1 takes image input"),
    (a_text_file_as_an_image, InvalidInput, "data.csv line 4: .*not .*(PNG|JPEG|image)"),
    (wrong_width, InvalidInput, r"holds 63 values, but digits-cnn@1's input 'image' takes \[1, 8, 8\] = 64"),
    (nan_value, InvalidInput, "data.csv line 6: x5 is 'nan'"),
    (nan_in_npz, InvalidInput, "d.npz: x row 7 holds NaN or infinity"),
    (empty_row, InvalidInput, "data.csv line 6 is an empty row"),
    (empty_label, InvalidInput, "data.csv line 8: the label is empty"),
    (empty_json_object, InvalidInput, "d.jsonl line 3 is an empty object"),
    (latin1, InvalidInput, "data.csv is not UTF-8 text: byte 0xe9 at line 2"),
    (tampered_base, IntegrityError, "the base digits-cnn@1 fails its integrity check: model.onnx failed its sha256"),
]
IDS = [case.__name__.replace("_", "-") for case, _, _ in CASES]


def existing_out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("a previous artifact")
    return out


@pytest.mark.parametrize(("case", "error", "message"), CASES, ids=IDS)
def test_bad_input_is_named_and_leaves_out_untouched(
    few, tmp_path: Path, case: Case, error: type[AiaasError], message: str
) -> None:
    data, options = case(tmp_path, *few)
    base = options.pop("base", "digits-cnn")
    out = existing_out(tmp_path)
    with pytest.raises(error, match=message) as raised:
        adapt(base, data, out, **options)
    assert raised.value.hint, "every refusal says how to fix it"
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(("case", "message"), [(one_class, "one class only"), (latin1, "not UTF-8")])
def test_the_cli_prints_the_error_and_the_fix_in_two_lines(few, tmp_path: Path, case: Case, message: str) -> None:
    data, _ = case(tmp_path, *few)
    out = existing_out(tmp_path)
    result = runner.invoke(app, ["adapt", "digits-cnn", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 1
    assert message in result.output and "fix:" in result.output
    assert "Traceback" not in result.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"folds": 1}, "folds is 1: cross-validation needs at least 2"), ({"mode": "lora"}, "mode 'lora' is not")],
)
def test_bad_options_are_refused_before_any_work(few, tmp_path: Path, options: dict, message: str) -> None:
    np.savez(tmp_path / "d.npz", x=few[0], y=np.array(few[1]))
    with pytest.raises(InvalidInput, match=message):
        adapt("digits-cnn", tmp_path / "d.npz", tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_a_head_graph_that_disagrees_with_the_fitted_head_fails_the_gate_and_writes_nothing(
    few, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault no input can cause: the graph written is not the head fitted (one bias shifted), as a writer bug."""
    import dataclasses

    from sdk.adaptation import writer
    from sdk.errors import ParityFailure

    real = writer.head_graph
    monkeypatch.setattr(
        writer, "head_graph", lambda head, base: real(dataclasses.replace(head, bias=head.bias + np.eye(2)[0]), base)
    )
    np.savez(tmp_path / "d.npz", x=few[0], y=np.array(few[1]))
    out = existing_out(tmp_path)
    with pytest.raises(ParityFailure, match="failed its parity gate against the in-memory pipeline"):
        adapt("digits-cnn", tmp_path / "d.npz", out, folds=2)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
