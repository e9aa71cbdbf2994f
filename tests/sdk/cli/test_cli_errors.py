"""Errors a newcomer meets: each is two lines, what went wrong and the fix, and the fix works when followed."""

from __future__ import annotations

import inspect
import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdk import errors
from sdk.cli import app
from sdk.cli._base import fix_for

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[3] / "models" / "digits_cnn" / "samples" / "digit_7.npy"


def invoke(*args: str, columns: int = 100):
    return runner.invoke(app, list(args), env={"COLUMNS": str(columns), "TERM": "dumb"})


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_two_line_error(result, kind: str) -> str:
    """The error line names the class, the next line is the fix; nothing else (no '--verbose' footer)."""
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"error: {kind}: "), lines
    assert lines[1].startswith("fix: ") and len(lines[1]) > len("fix: ") + 10, lines
    return lines[1][len("fix: ") :]


def test_a_capitalised_model_name_suggests_the_name_that_works() -> None:
    fix = assert_two_line_error(invoke("predict", "Digits-CNN", "--input", str(SAMPLE)), "ModelNotFound")
    suggested = re.search(r"lowercase: (\S+)", fix)
    assert suggested is not None, fix
    followed = invoke("predict", suggested.group(1), "--input", str(SAMPLE))
    assert followed.exit_code == 0, followed.output


def test_a_misspelt_model_name_suggests_the_closest_one() -> None:
    result = invoke("predict", "digits-cn", "--input", str(SAMPLE))
    fix = assert_two_line_error(result, "ModelNotFound")
    assert "did you mean 'digits-cnn'" in error_lines(result)[0]
    assert "digits-cnn" in fix


@pytest.mark.parametrize(
    ("content", "suffix", "fix_words"),
    [("{bad", ".json", "use JSON"), (None, ".npy", "path of a .npy")],
    ids=["bad-json", "missing-file"],
)
def test_input_file_errors_say_how_to_fix_them(
    tmp_path: Path, content: str | None, suffix: str, fix_words: str
) -> None:
    path = tmp_path / f"input{suffix}"
    if content is not None:
        path.write_text(content)
    fix = assert_two_line_error(invoke("predict", "digits-cnn", "--input", str(path)), "MalformedRequest")
    assert fix_words in fix


def test_an_unreachable_endpoint_is_one_error_with_the_fix() -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = invoke(
        "predict", "digits-cnn", "--input", str(SAMPLE), "--endpoint", f"http://127.0.0.1:{port}",
        "--privacy", "public", "--mode", "cloud_only",
    )  # fmt: skip
    assert "--mode local_only" in assert_two_line_error(result, "CloudUnavailable")


def test_serve_names_what_the_store_holds_for_an_unknown_model() -> None:
    result = invoke("serve", "--model", "digits-cn", "--port", "0")
    fix = assert_two_line_error(result, "ModelNotFound")
    assert "did you mean 'digits-cnn'" in error_lines(result)[0]
    assert "the store holds: digits-cnn" in fix


def test_serve_refuses_a_store_folder_that_does_not_exist(tmp_path: Path) -> None:
    result = invoke("serve", "--store", str(tmp_path / "typo"), "--port", "0")
    assert "existing model store" in assert_two_line_error(result, "ConfigError")
    assert "no such folder" in error_lines(result)[0]


def test_serve_on_a_port_in_use_says_which_and_how_to_fix_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("serve", "--port", str(port))
    fix = assert_two_line_error(result, "ConfigError")
    assert f"port {port} on 127.0.0.1 is already in use" in error_lines(result)[0]
    assert "--port" in fix


def test_every_error_class_has_a_fix_to_print() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.AiaasError)]
    assert len(classes) > 15
    for cls in classes:
        exc = cls.__new__(cls)
        exc.hint = None
        assert fix_for(exc), cls.__name__
    assert fix_for(errors.ConfigError("x", hint="the error's own fix")) == "the error's own fix"


def test_verbose_adds_the_traceback() -> None:
    result = invoke("--verbose", "predict", "digits-cn", "--input", str(SAMPLE))
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "error: ModelNotFound" in result.stderr


@pytest.mark.parametrize("command", [["models", "list"], ["models", "show", "digits-cnn"]], ids=["list", "show"])
def test_model_tables_fit_an_80_column_terminal(command: list[str]) -> None:
    result = invoke(*command, columns=80)
    assert result.exit_code == 0, result.output
    # Tables fit (sentences such as a description or a path are left for the terminal to wrap, never cut).
    table_rows = [line for line in result.stdout.splitlines() if "digits-cnn  " in line or "model.onnx  " in line]
    assert table_rows and max(len(line) for line in table_rows) <= 80
    text = result.stdout
    assert "digits-cnn" in text and "classification" in text
    # Nothing but a sha256 prefix is cut short.
    assert all(re.fullmatch(r"[0-9a-f]{12}", word[:-1]) for word in re.findall(r"\S+…", text)), text
