"""benchmarks/cold_start.py: its rows run for real (fresh processes: raw ONNX Runtime, `sdk`, the Lambda handler's
init) and its figures are computed as its docstring says. No time is asserted: only what ran and how it is reported."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("cold_start", REPO / "benchmarks" / "cold_start.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


cold_start = _module()


def test_report_gives_the_median_of_per_round_ratios_to_raw_onnxruntime(capsys: pytest.CaptureFixture[str]) -> None:
    raw = cold_start.Row("raw ORT", "digits", "", [], {}, starts=[0.1, 0.2, 0.1], cpu=[0.2, 0.2, 0.2])
    raw.phases = [(0.1, 0.0, 0.0)] * 3
    sdk = cold_start.Row("sdk", "digits", "", [], {}, starts=[0.3, 0.2, 0.12], cpu=[0.3, 0.2, 0.4])
    sdk.phases = [(0.0, 0.1, 0.0)] * 3
    sdk.ran.add("model.onnx (onnxruntime)")
    bare = cold_start.Row("sdk server", "digits", "", [], {}, starts=[0.1, 0.1, 0.1], phases=[(0.0, 0.1, 0.0)] * 3)
    cold_start.report([raw, sdk, bare], 3)
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("| digits | sdk |"))
    # wall: 3.0, 1.0, 1.2 -> 1.20x; CPU: 1.5, 1.0, 2.0 -> 1.50x
    assert row == "| digits | sdk | 200 | 120-300 | 0 / 100 / 0 | 1.20x | 300 | 1.50x | model.onnx (onnxruntime) |"
    # a row without CPU figures still prints, its CPU cells empty
    assert next(line for line in lines if line.startswith("| digits | sdk server |")).endswith("| - | - |  |")


def test_import_time_counts_the_statements_own_imports_only() -> None:
    assert cold_start.import_time(sys.executable, "sys", {}) == 0  # built in, imported at start-up
    assert cold_start.import_time(sys.executable, "json", {}) > 0


@pytest.mark.slow
def test_digits_rows_run_in_fresh_processes_against_raw_onnxruntime(capsys: pytest.CaptureFixture[str]) -> None:
    cold_start.main(["--models", "digits", "--repeats", "1"])
    out = capsys.readouterr().out
    assert out.startswith("CPU: ") and "cores (" in out
    rows = {line.split(" | ")[1]: line for line in out.splitlines() if line.startswith("| digits | ")}
    ric = ("raw ORT handler (Lambda RIC)", "lambda handler (Lambda RIC)")
    assert set(rows) == {"raw ORT", "sdk", "sdk server", "lambda init", *ric}
    assert rows["raw ORT"].endswith("| 1.00x | model.onnx |")
    for label in ("sdk", "sdk server", "lambda init"):
        assert rows[label].endswith("| model.onnx (onnxruntime) |"), rows[label]
    # under AWS's runtime interface client, each answered (a failure ends the run), against the raw handler's
    assert rows[ric[0]].endswith(
        f"| 1.00x (vs {ric[0]}) | {rows[ric[0]].split(' | ')[6]} | 1.00x | raw_handler.handler |"
    )
    assert rows[ric[1]].endswith("| functions.aws_lambda.handler.handler |") and f"(vs {ric[0]})" in rows[ric[1]]
    imports = next(line for line in out.splitlines() if line.startswith("| this environment | this checkout |"))
    assert len(imports.split(" | ")) == 5 and all(float(cell) >= 0 for cell in imports.strip("| ").split(" | ")[2:])


def test_the_baseline_flag_adds_rows_that_run_the_older_package(tmp_path: Path) -> None:
    import argparse

    args = argparse.Namespace(
        models="digits", baseline_sdk=tmp_path / "old", editable=False, ric=True, lambda_memory=2048
    )
    (tmp_path / "scratch").mkdir()
    rows = cold_start.build_rows(args, tmp_path / "scratch", None)
    labels = [r.label for r in rows]
    ric = [
        "raw ORT handler (Lambda RIC)",
        "lambda handler (Lambda RIC)",
        "lambda handler (Lambda RIC) (baseline)",
    ]
    assert labels == [
        "raw ORT",
        "sdk",
        "sdk server",
        "lambda init",
        "sdk (baseline)",
        "lambda init (baseline)",
        *(ric if cold_start._lambda_runtime.installed() else []),  # the dev extra's, on Linux
    ]
    baseline = rows[4]
    site = cold_start._lambda_runtime.site_packages()
    assert baseline.env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path / "old"), site]  # no checkout in between
    assert rows[-1].env["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path / "old")
    assert rows[1].env["PYTHONPATH"].split(os.pathsep) == [str(REPO), site]
    # a bare interpreter, no editable install's finder at start-up: its site-packages has no .pth file
    assert {r.python for r in rows} == {str(tmp_path / "scratch" / "bare-venv" / "bin" / "python")}
    bare_site = next((tmp_path / "scratch" / "bare-venv" / "lib").glob("python3*/site-packages"))
    assert not list(bare_site.glob("*.pth"))
    assert baseline.env["AIAAS_BENCH_CWD"] != str(REPO)  # `python -c` puts its cwd first on sys.path
    assert baseline.env["AIAAS_USAGE"] == rows[1].env["AIAAS_USAGE"] == "oneshot"  # the same process as the sdk row
    assert rows[3].env["AWS_LAMBDA_FUNCTION_NAME"] and "read-only-home" in rows[3].env["XDG_CACHE_HOME"]
