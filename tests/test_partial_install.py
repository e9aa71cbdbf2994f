"""On a partial install a test that needs an absent package skips, naming it and its install; anything else that
fails still fails, and ``AIAAS_TESTS_STRICT=1`` (CI) makes the absent package a failure again."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sdk.errors import MissingDependency
from tests.partial_install import STRICT_ENV, absent, printed, reason

REPO = Path(__file__).resolve().parent.parent
ABSENT = "aiaas_no_such_package"


def raised_from(cause: BaseException) -> RuntimeError:
    try:
        raise RuntimeError("wrapped") from cause
    except RuntimeError as error:
        return error


def raised_while_handling(first: BaseException) -> RuntimeError:
    try:
        try:
            raise first
        except ModuleNotFoundError:
            raise RuntimeError("another fault")  # noqa: B904 (the implicit context is the point)
    except RuntimeError as error:
        return error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ModuleNotFoundError(f"No module named '{ABSENT}'", name=ABSENT), ABSENT),
        (ModuleNotFoundError("...", name=f"{ABSENT}.sub"), ABSENT),
        (MissingDependency(ABSENT, "edge", purpose="a test"), ABSENT),
        (raised_from(ModuleNotFoundError("...", name=ABSENT)), ABSENT),
        (ModuleNotFoundError("No module named 'numpy'", name="numpy"), None),  # installed: a real failure
        (MissingDependency("numpy", "edge", purpose="a test"), None),
        (ModuleNotFoundError("...", name="sdk.no_such_module"), None),  # our own: a bug, never a skip
        (ModuleNotFoundError("...", name="tests.no_such_helper"), None),
        (ImportError("cannot import name 'x'"), None),
        (raised_while_handling(ModuleNotFoundError("...", name=ABSENT)), None),  # only its context: not the cause
        (ValueError("unrelated"), None),
    ],
)
def test_absent_names_only_a_third_party_package_that_is_not_installed(
    error: BaseException, expected: str | None
) -> None:
    assert absent(error) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"error: MissingDependency: sdk serve needs the '{ABSENT}' package, which is not installed", ABSENT),
        (f"Unable to import module 'functions.aws_lambda.handler': No module named '{ABSENT}.sub'", ABSENT),
        ("error: MissingDependency: x needs the 'numpy' package, which is not installed", None),
        ("No module named 'sdk.gone'", None),
        (f"assert 1 == 0 (the output mentions {ABSENT} but says nothing missing)", None),
        (f"warning: x needs the '{ABSENT}_b' package, which is not installed\nNo module named '{ABSENT}'", ABSENT),
    ],
)
def test_printed_reads_a_missing_package_from_a_child_process_output(text: str, expected: str | None) -> None:
    assert printed(text) == expected


def test_the_reason_names_the_extra_that_brings_a_known_package() -> None:
    assert 'pip install "aiaas-sdk[compile]"' in reason("onnx")
    assert "pip install torch==2.13.0" in reason("torch")
    assert (
        reason(ABSENT)
        == f"needs '{ABSENT}', which is not installed (`bash scripts/setup.sh test` installs everything the suite uses)"
    )


SUITE = {
    "conftest.py": "from tests.conftest import (pytest_make_collect_report, pytest_pycollect_makemodule,"
    " pytest_runtest_makereport)\n",
    "test_module_import.py": f"import {ABSENT}\n\ndef test_never_collected():\n    pass\n",
    "test_fixture_import.py": f"""
        import pytest

        @pytest.fixture
        def needs_it():
            import {ABSENT}

        def test_uses_it(needs_it):
            pass

        def test_needs_nothing():
            pass
        """,
    "test_own_module.py": "import sdk.no_such_module\n",
    "test_real_failure.py": "def test_fails():\n    assert 1 == 2\n",
    "test_cached_fixture.py": f"""
        import subprocess, sys
        import pytest

        @pytest.fixture(scope="module")
        def built():
            done = subprocess.run([sys.executable, "-c", "import {ABSENT}"], capture_output=True, text=True)
            print(done.stderr)  # the cause, in the first test's captured output only
            raise RuntimeError("the build failed")

        def test_first(built):
            pass

        def test_second(built):
            pass
        """,
    "test_child_process.py": f"""
        import subprocess, sys

        def run(code):
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr

        def test_a_child_lacks_the_package():
            run("import {ABSENT}")

        def test_a_child_fails_otherwise():
            run("raise SystemExit('no')")
        """,
    "test_installed_missing.py": """
        def test_raises_for_an_installed_package():
            raise ModuleNotFoundError("No module named 'numpy'", name="numpy")
        """,
}


def run_suite(tmp_path: Path, *, strict: bool) -> dict[str, list[str]]:
    for name, text in SUITE.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    env = {k: v for k, v in os.environ.items() if k != STRICT_ENV}
    env["PYTHONPATH"] = str(REPO)
    if strict:
        env[STRICT_ENV] = "1"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "--continue-on-collection-errors",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outcomes: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR", "SKIPPED"):
            outcomes.setdefault(word, []).append(rest)
    return outcomes


def test_a_partial_install_skips_what_needs_the_absent_package_and_fails_the_rest(tmp_path: Path) -> None:
    outcomes = run_suite(tmp_path, strict=False)
    skipped = outcomes.get("SKIPPED", [])
    assert len(skipped) == 5, outcomes
    assert any("test_module_import.py:1: needs 'aiaas_no_such_package'" in line for line in skipped), skipped
    assert any("test_fixture_import.py" in line and f"needs '{ABSENT}'" in line for line in skipped), skipped
    assert any("test_child_process.py" in line and f"needs '{ABSENT}'" in line for line in skipped), skipped
    assert sum("test_cached_fixture.py" in line and f"needs '{ABSENT}'" in line for line in skipped) == 2, skipped
    assert all("bash scripts/setup.sh test" in line for line in skipped)
    assert [line.split(" ")[0] for line in outcomes["PASSED"]] == ["test_fixture_import.py::test_needs_nothing"]
    assert sorted(line.split(" ")[0] for line in outcomes["FAILED"]) == [
        "test_child_process.py::test_a_child_fails_otherwise",
        "test_installed_missing.py::test_raises_for_an_installed_package",
        "test_real_failure.py::test_fails",
    ]
    assert [line.split(" ")[0] for line in outcomes["ERROR"]] == ["test_own_module.py"]


def test_strict_mode_fails_what_a_partial_install_would_skip(tmp_path: Path) -> None:
    outcomes = run_suite(tmp_path, strict=True)
    assert "SKIPPED" not in outcomes, outcomes
    assert "test_child_process.py::test_a_child_lacks_the_package" in [x.split(" ")[0] for x in outcomes["FAILED"]]
    assert sorted(line.split(" ")[0] for line in outcomes["ERROR"]) == [
        "test_cached_fixture.py::test_first",
        "test_cached_fixture.py::test_second",
        "test_fixture_import.py::test_uses_it",
        "test_module_import.py",
        "test_own_module.py",
    ]
