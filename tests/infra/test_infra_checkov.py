"""checkov (policy-as-code) over infra/, in a virtual environment of its own.

checkov pins boto3 and installs bc-python-hcl2 over python-hcl2's module name, so it never shares the project's
environment. The venv is built once under <repo>/.venvs/checkov (gitignored) and reused.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

CHECKOV_VERSION = "3.3.30"


def _installed_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not (python.exists() and (venv / "bin" / "checkov").exists()):
        return None
    proc = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('checkov'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


@pytest.fixture(scope="session")
def checkov_bin(infra_dir: Path) -> Path:
    venv = infra_dir.parent / ".venvs" / "checkov"
    venv.parent.mkdir(exist_ok=True)
    # Two test runs at once must not build the same venv twice.
    with (venv.parent / "checkov.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version(venv) != CHECKOV_VERSION:
            steps = [
                [sys.executable, "-m", "venv", "--clear", str(venv)],
                [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"checkov=={CHECKOV_VERSION}"],
            ]
            for step in steps:
                proc = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
                if proc.returncode != 0:
                    pytest.fail(
                        f"could not build the checkov venv at {venv}: {' '.join(step)} exited {proc.returncode}\n"
                        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
                    )
            if _installed_version(venv) != CHECKOV_VERSION:
                pytest.fail(f"checkov {CHECKOV_VERSION} is not importable in {venv} after installing it")
    return venv / "bin" / "checkov"


def test_checkov_finds_no_failed_check_and_every_skip_has_a_reason(checkov_bin: Path, infra_dir: Path) -> None:
    proc = subprocess.run(
        [str(checkov_bin), "-d", "infra", "--compact", "--skip-download", "--framework", "terraform", "-o", "json"],
        cwd=infra_dir.parent,
        env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.stdout.strip(), f"checkov printed nothing (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    summary = report["summary"]
    results = report.get("results", {})
    print(f"checkov {summary['checkov_version']}: {summary}")
    for check in results.get("skipped_checks", []):
        print(f"  skipped {check['check_id']} on {check['resource']}: {check['check_result'].get('suppress_comment')}")

    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in results.get("failed_checks", [])
    ]
    assert summary["failed"] == 0 and not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0, "checkov ran no check: did it find the .tf files?"
    unexplained = [
        c["check_id"] for c in results.get("skipped_checks", []) if not c["check_result"].get("suppress_comment")
    ]
    assert not unexplained, f"skips without an inline reason: {unexplained}"
    assert proc.returncode == 0
